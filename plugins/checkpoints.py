"""Saves checkpoints: ``checkpoint.pt`` every K steps, at the end and when stopped by a signal;
the last N of them in ``checkpoints/step-0001000.pt``; the best in ``checkpoints/best.pt``.

Every file is written atomically (temp file, fsync, rename), so a kill at any moment leaves
the previous checkpoint valid; the history and ``best.pt`` are hard links to the same file
(no extra space) where the file system has them. With ``best_metric`` KEY, ``best.pt`` is the
state at the log step with the lowest (``best_mode`` min) or highest (max) value of KEY: a
training metric (``loss_critic``, ``loss_generator``, ``wasserstein_estimate``) or, with
``--eval-every``, an evaluation value such as ``w1``, ``fid`` or ``hq``. The best value so far
is kept in the checkpoint, so a resumed run goes on comparing with it. A write error (disk
full, read-only folder) stops the run with one line and leaves every existing file intact.

Example::

    gankit train --plugin wgan_gp --data ring8 --eval-every 1000 --eval-metrics w1 --best-metric w1
"""
import math

from gankit import GankitError, Option, hookimpl

STATE_KEY = "best_checkpoint"


@hookimpl
def gankit_options():
    return [
        Option("checkpoint_every", int, 1000, "save a checkpoint every this many steps (0: only at the end)", ge=0),
        Option("keep_checkpoints", int, 3, "keep this many of the newest checkpoints in checkpoints/", ge=1),
        Option("best_metric", str, "", "also keep checkpoints/best.pt, the state with the best value of this "
               "logged metric, e.g. w1 with --eval-every (empty: off)"),
        Option("best_mode", str, "min", "whether the best value of best_metric is the lowest or the highest",
               choices=("min", "max")),
    ]


class BestValue:
    """The best value of a logged metric so far, and its step (saved in checkpoints)."""

    def __init__(self, key, mode):
        self.key, self.mode = key, mode
        self.value = self.step = None
        self.improved = False

    def offer(self, step, metrics):
        """Take a log line; remember whether it beat the best so far."""
        value = metrics[self.key]
        if not math.isfinite(value):
            return
        if self.value is None or (value < self.value if self.mode == "min" else value > self.value):
            self.value, self.step, self.improved = value, step, True

    def state_dict(self):
        return {"value": self.value, "step": self.step}

    def load_state_dict(self, state):
        self.value, self.step = state["value"], state["step"]


@hookimpl
def gankit_setup(trainer):
    key = trainer.options["best_metric"]
    if not key:
        return
    if key not in trainer.LOGGED and not trainer.options["eval_every"]:
        raise GankitError(
            f"option best_metric: '{key}' is not a training metric ({', '.join(trainer.LOGGED)}); "
            "evaluation metrics need --eval-every K"
        )
    trainer.extra_state[STATE_KEY] = BestValue(key, trainer.options["best_mode"])


@hookimpl
def gankit_train_start(trainer):
    if trainer.run_dir is not None:
        from gankit.checkpoint import remove_stale_temporaries

        remove_stale_temporaries(trainer.run_dir)


@hookimpl
def gankit_log(trainer, step, metrics):
    best = trainer.extra_state.get(STATE_KEY)
    if best is None:
        return
    if best.key in metrics:
        best.offer(step, metrics)
    elif best.key not in trainer.LOGGED and "eval_time" in metrics:
        evaluated = sorted(k for k in metrics if k not in trainer.LOGGED and k not in ("step", "time", "eval_time"))
        raise GankitError(f"option best_metric: the evaluation logs no '{best.key}'; it logs {', '.join(evaluated)}")


@hookimpl
def gankit_step_end(trainer, step):
    every = trainer.options["checkpoint_every"]
    if every and step % every == 0:
        save(trainer)
    else:
        save_best(trainer, None)


@hookimpl
def gankit_train_end(trainer):
    every = trainer.options["checkpoint_every"]
    if not (every and trainer.step % every == 0):
        save(trainer)


def save(trainer):
    """``checkpoint.pt``, linked into the history (pruned to the newest N) and, if this step
    is the best so far, as ``best.pt``."""
    if trainer.run_dir is None:
        return
    from gankit.checkpoint import history_path, keep_last, link_file

    path = trainer.save_checkpoint()
    link_file(path, history_path(trainer.run_dir, trainer.step))
    keep_last(trainer.run_dir, trainer.options["keep_checkpoints"])
    save_best(trainer, path)


def save_best(trainer, saved):
    """Write ``best.pt`` if the last log line beat the best: a link to ``saved`` (this step's
    checkpoint) or, between checkpoints, a checkpoint of its own."""
    best = trainer.extra_state.get(STATE_KEY)
    if trainer.run_dir is None or best is None or not best.improved:
        return
    from gankit.checkpoint import BEST, HISTORY, link_file

    target = trainer.run_dir / HISTORY / BEST
    if saved is not None:
        link_file(saved, target)
    else:
        trainer.save_checkpoint(target)
    best.improved = False
