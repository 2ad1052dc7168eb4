"""Shows training progress: a rich progress bar on a terminal, plain lines otherwise.

The bar shows step, losses, the Wasserstein estimate and the time left; it advances every
step but its numbers change only when metrics are logged (no device read-back per step).
"""
import sys
import weakref

from gankit import Option, hookimpl

_bars = weakref.WeakKeyDictionary()  # trainer -> (Progress, task id)


@hookimpl
def gankit_options():
    return [
        Option("progress", str, "auto", "progress display (auto: a bar on a terminal, else lines)", choices=("auto", "bar", "lines", "off"))
    ]


def _mode(trainer):
    if not trainer.is_main:  # under torchrun, rank 0 shows the progress of all
        return "off"
    mode = trainer.options["progress"]
    if mode == "auto":
        return "bar" if sys.stderr.isatty() else "lines"
    return mode


@hookimpl
def gankit_train_start(trainer):
    if _mode(trainer) != "bar":
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = progress.add_task("train", total=trainer.options["steps"], completed=trainer.step, stats="")
    progress.start()
    _bars[trainer] = (progress, task)


@hookimpl
def gankit_step_end(trainer, step):
    if trainer in _bars:
        progress, task = _bars[trainer]
        progress.update(task, completed=step)


@hookimpl
def gankit_log(trainer, step, metrics):
    stats = (
        f"loss_c {metrics['loss_critic']:+.4f}  loss_g {metrics['loss_generator']:+.4f}  "
        f"W {metrics['wasserstein_estimate']:+.4f}"
    )
    if trainer in _bars:
        progress, task = _bars[trainer]
        progress.update(task, stats=stats)
    elif _mode(trainer) == "lines":
        steps = trainer.options["steps"]
        rate = step / metrics["time"] if metrics["time"] > 0 else 0.0
        eta = (steps - step) / rate if rate > 0 else 0.0
        print(f"step {step}/{steps}  {stats}  {rate:.1f} it/s  eta {eta:.0f}s", file=sys.stderr, flush=True)


@hookimpl
def gankit_train_end(trainer):
    if trainer in _bars:
        progress, _ = _bars.pop(trainer)
        progress.stop()
