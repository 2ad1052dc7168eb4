"""gankit: a plugin-based GAN training toolkit on PyTorch.

Importing this package is cheap (no torch): ``gankit.hookimpl`` and ``gankit.Option`` are what
plugin modules need at import time; ``train``, ``resume``, ``sample``, ``evaluate`` and ``Trainer`` load
torch on first use.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .errors import GankitError  # noqa: E402
from .options import Option  # noqa: E402
from .plugins import hookimpl  # noqa: E402

_LAZY = {"train": "api", "resume": "api", "sample": "api", "evaluate": "api", "Trainer": "trainer"}

__all__ = ["GankitError", "Option", "Trainer", "__version__", "evaluate", "hookimpl", "resume", "sample", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")
