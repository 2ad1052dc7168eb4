"""Evaluates the generator every K steps during training and logs the values to ``metrics.jsonl``.

With ``eval_every`` K > 0 (a multiple of ``log_every``), at every step that is a multiple of
K this plugin draws ``eval_samples`` samples (the run's fixed noise seed, as ``gankit eval
--seed`` with the run's seed), computes the ``eval_metrics`` (comma-separated; empty: every
metric that applies to the data) against held-out real data, and adds each value and its
real-vs-real baseline to that step's metrics, plus ``eval_time`` (seconds the evaluation took).
It does so from a ``tryfirst`` ``gankit_log`` implementation, so ``metrics_log`` writes them in
that step's line. Off (K = 0, the default) it costs one comparison per log step. Training is
unchanged by it: sampling uses its own noise generator, and the metrics run on a fork of the
global RNG (CPU and the run's GPU), so a metric that draws random numbers, a plugin's
included, leaves the run's random stream as it was.

Bad names and a K that is not a multiple of ``log_every`` are refused when the run is built.

Example::

    gankit train --plugin wgan_clip --data ring8 --eval-every 1000 --eval-metrics modes,w1
"""
import time

from gankit import GankitError, Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("eval_every", int, 0, "compute evaluation metrics every this many steps, into metrics.jsonl "
               "(a multiple of log_every; 0: off)", ge=0),
        Option("eval_metrics", str, "", "comma-separated metrics to evaluate (empty: all that apply to the data)"),
        Option("eval_samples", int, 2500, "generated samples per evaluation (fewer where held-out data is smaller)", ge=10),
    ]


def _chosen(trainer):
    from gankit.metrics import choose, collect, parse_names

    try:
        return choose(collect(trainer.session), parse_names(trainer.options["eval_metrics"]), trainer.dataset, {})
    except GankitError as exc:
        raise GankitError(f"option eval_metrics: {exc}") from None


@hookimpl
def gankit_setup(trainer):
    every, log_every = trainer.options["eval_every"], trainer.options["log_every"]
    if every % log_every:
        raise GankitError(f"option eval_every: {every} is not a multiple of log_every ({log_every}); evaluations go in log lines")
    if every or trainer.options["eval_metrics"]:
        _chosen(trainer)


@hookimpl(tryfirst=True)
def gankit_log(trainer, step, metrics):
    every = trainer.options["eval_every"]
    if not every or step % every or not trainer.is_main:  # under torchrun, rank 0 evaluates
        return
    import torch

    from gankit.metrics import evaluate_samples, flat

    start = time.perf_counter()
    with torch.random.fork_rng(devices=[trainer.device] if trainer.device.type == "cuda" else []):
        _, results = evaluate_samples(
            _chosen(trainer), lambda k: trainer.sample(k).numpy(), trainer.dataset,
            trainer.options["eval_samples"], trainer.options["seed"], {},
        )
    values = flat(results)
    clash = sorted(set(values) & set(metrics))
    if clash:
        raise GankitError(f"evaluation: metric key '{clash[0]}' would overwrite a training metric of the same name")
    metrics.update(values)
    metrics["eval_time"] = round(time.perf_counter() - start, 3)
