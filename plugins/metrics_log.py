"""Appends each logged step to ``metrics.jsonl`` in the run directory, one JSON object a line.

On resume, lines after the checkpoint's step are dropped first, so the file reads as one
uninterrupted run.
"""
import json

from gankit import hookimpl

FILENAME = "metrics.jsonl"


@hookimpl
def gankit_train_start(trainer):
    if trainer.run_dir is None:
        return
    path = trainer.run_dir / FILENAME
    if path.exists():
        kept = [line for line in path.read_text(encoding="utf-8").splitlines() if _step(line) <= trainer.step]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


@hookimpl
def gankit_log(trainer, metrics):
    if trainer.run_dir is None:
        return
    with open(trainer.run_dir / FILENAME, "a", encoding="utf-8") as f:
        f.write(json.dumps(metrics) + "\n")


def _step(line):
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return -1  # a line we cannot read is kept: -1 is never after the checkpoint
