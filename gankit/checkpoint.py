"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and plain Python values (no pickled classes), so loading one
cannot run code. It is written to a temporary file in the same directory, flushed to disk and
renamed over the old one: a crash mid-write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import GankitError

FORMAT = 1
FILENAME = "checkpoint.pt"
REQUIRED_KEYS = ("format", "config", "spec", "step", "generator", "critic", "opt_generator", "opt_critic", "rng")


def checkpoint_path(path: str | Path) -> Path:
    """A run directory means its ``checkpoint.pt``; a file path is taken as is."""
    path = Path(path)
    return path / FILENAME if path.is_dir() else path


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # not every file system lets a directory be opened for fsync
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); every failure is one clear line."""
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
