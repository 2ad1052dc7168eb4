"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and plain Python values (no pickled classes), so loading one
cannot run code. It is written to a temporary file in the same directory, flushed to disk and
renamed over the old one: a crash mid-write leaves the previous checkpoint intact, and a
write error (disk full, read-only folder) is one clear error that leaves it intact too.

A run directory holds the newest checkpoint as ``checkpoint.pt`` and, in ``checkpoints/``,
the last N as ``step-0001000.pt`` plus ``best.pt``: hard links to the same file where the
file system allows (no extra space), copies otherwise.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import GankitError

FORMAT = 1
FILENAME = "checkpoint.pt"
HISTORY = "checkpoints"
BEST = "best.pt"
REQUIRED_KEYS = ("format", "config", "spec", "step", "generator", "critic", "opt_generator", "opt_critic", "rng")
_TMP_PREFIX, _TMP_SUFFIX = ".", ".tmp"


def checkpoint_path(path: str | Path) -> Path:
    """A run directory means its ``checkpoint.pt``; a file path is taken as is."""
    path = Path(path)
    return path / FILENAME if path.is_dir() else path


def history_path(run_dir: Path, step: int) -> Path:
    return run_dir / HISTORY / f"step-{step:07d}.pt"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not every file system lets a folder be fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _write_error(path: Path, exc: OSError) -> GankitError:
    reason = exc.strerror or type(exc).__name__
    return GankitError(f"could not write checkpoint {path}: {reason}; the previous checkpoint there is unchanged")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + fsync + rename).

    Any OS error (disk full, read-only folder, ...) removes the temp file and becomes a
    :class:`GankitError`; whatever ``path`` held before is untouched.
    """
    import torch

    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: a kill mid-write leaves the old file."""
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}{_TMP_SUFFIX}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GankitError(f"could not write {path}: {exc.strerror or type(exc).__name__}") from None


def link_checkpoint(source: Path, target: Path) -> Path:
    """Make ``target`` hold the same checkpoint as ``source``, atomically: a hard link (no
    extra space) where the file system has them, else a copy; then renamed into place."""
    tmp = target.with_name(f"{_TMP_PREFIX}{target.name}.link{_TMP_SUFFIX}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(target, exc) from None
    _fsync_dir(target.parent)
    return target


def keep_last(run_dir: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``checkpoints/step-*.pt``; returns the deleted."""
    old = history(run_dir)[keep:]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def history(run_dir: Path) -> list[Path]:
    """The run's ``checkpoints/step-*.pt``, newest first."""
    folder = run_dir / HISTORY
    return sorted(folder.glob("step-*.pt"), reverse=True) if folder.is_dir() else []


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete temp files a killed write left behind (they never replaced a checkpoint)."""
    for folder in (run_dir, run_dir / HISTORY):
        if folder.is_dir():
            for tmp in folder.glob(f"{_TMP_PREFIX}*{_TMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)


def resumable(run_dir: Path) -> Iterator[Path]:
    """Where a resume may start: ``checkpoint.pt``, then the history newest first."""
    yield run_dir / FILENAME
    yield from history(run_dir)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); every failure is one clear line."""
    import torch

    path = checkpoint_path(path)
    if not path.is_file():
        raise GankitError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GankitError(f"checkpoint {path} was refused by the safe loader (weights_only): {first}") from None
    except Exception as exc:  # noqa: BLE001 - truncated or foreign files raise many types
        raise GankitError(f"checkpoint {path} is corrupted or not a gankit checkpoint: {type(exc).__name__}") from None
    if not isinstance(state, dict):
        raise GankitError(f"checkpoint {path} is not a gankit checkpoint")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise GankitError(f"checkpoint {path} is missing {', '.join(missing)}")
    if state["format"] != FORMAT:
        raise GankitError(f"checkpoint {path} has format {state['format']}; this gankit reads format {FORMAT}")
    return state
