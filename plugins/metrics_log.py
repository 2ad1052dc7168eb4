"""Appends each logged step to ``metrics.jsonl`` in the run directory, one JSON object a line.

On resume, lines after the checkpoint's step are dropped first, and so is a last line that a
kill cut short, so the file reads as one uninterrupted run. A write error (disk full) stops
the run with one line naming the file; the lines already written stay.
"""
import json

from gankit import GankitError, hookimpl

FILENAME = "metrics.jsonl"


@hookimpl
def gankit_train_start(trainer):
    if trainer.run_dir is None:
        return
    path = trainer.run_dir / FILENAME
    if path.exists():
        from gankit.checkpoint import write_text_atomic

        lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # a last line without its newline was cut short
        kept = [line for line in lines if _step(line) <= trainer.step]
        write_text_atomic(path, "".join(line + "\n" for line in kept))


@hookimpl
def gankit_log(trainer, metrics):
    if trainer.run_dir is None:
        return
    path = trainer.run_dir / FILENAME
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(metrics) + "\n")
    except OSError as exc:
        raise GankitError(f"could not append to {path}: {exc.strerror or type(exc).__name__}; training stopped") from None


def _step(line):
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return -1  # a line we cannot read is kept: -1 is never after the checkpoint
