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
from typing import Any, Callable, Iterator

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


def replace_atomically(path: Path, fill: Callable[[Path], None], what: str = "file") -> Path:
    """Write ``path`` all at once: ``fill(tmp)`` writes a temp file beside it, which is flushed
    to disk and renamed over ``path`` (then the folder is synced), so a kill leaves the old
    file or the new one, never half of one. Any OS error (disk full, read-only folder, ...)
    removes the temp file and becomes one :class:`GankitError` naming ``what``; whatever
    ``path`` held before is untouched."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        fill(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise GankitError(f"could not write {what} {path}: {reason}; the previous {what} there is unchanged") from None
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (:func:`replace_atomically`)."""
    import torch

    def fill(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(state, f)

    return replace_atomically(Path(path), fill, "checkpoint")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (:func:`replace_atomically`)."""
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def link_file(source: Path, target: Path, what: str = "checkpoint") -> Path:
    """Make ``target`` hold the same file as ``source``, atomically: a hard link (no extra
    space) where the file system has them, else a copy."""

    def fill(tmp: Path) -> None:
        tmp.unlink()  # os.link wants a free name
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

    return replace_atomically(target, fill, what)


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
