"""Lazy, cached builds of the compiled backends through ``torch.utils.cpp_extension.load``.

The first use compiles ``csrc/`` with ninja (about 30 s on 2 cores) into
``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``); later uses load the cached
library. A failed build is remembered for the process, and its cause is reported.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import gankit_csrc as csrc

#: (module name, sources, cuda?) of each backend. ``setup.py`` builds the same modules ahead of
#: time as ``gankit.optim.<name>`` when asked (GANKIT_BUILD_EXT=1); those are used first.
EXTENSIONS = {
    "cpp": ("_clipped_rmsprop_cpu", csrc.CPP_SOURCES, False),
    "cuda": ("_clipped_rmsprop_cuda", csrc.CUDA_SOURCES, True),
}
_loaded: dict[str, ModuleType | Exception] = {}


def load_cpp() -> ModuleType:
    """The C++ CPU backend, built on first use; raises RuntimeError naming the cause."""
    return _load("cpp")


def load_cuda() -> ModuleType:
    """The CUDA backend, built on first use; raises RuntimeError naming the cause."""
    return _load("cuda")


def _load(backend: str) -> ModuleType:
    if backend not in _loaded:
        name, sources, cuda = EXTENSIONS[backend]
        try:
            _loaded[backend] = importlib.import_module(f"gankit.optim.{name}")  # built ahead of time
        except ImportError:
            _loaded[backend] = _build("gankit" + name, [csrc.DIRECTORY / s for s in sources], cuda)
    result = _loaded[backend]
    if isinstance(result, Exception):
        raise RuntimeError(f"the {backend} backend could not be built: {result}") from result
    return result


def _built_before(name: str) -> bool:
    """Whether a compiled library is already cached (then loading is quick and silent)."""
    try:
        from torch.utils.cpp_extension import _get_build_directory  # private, but long-lived

        return any(Path(_get_build_directory(name, False)).glob(f"{name}*.so"))
    except Exception:  # noqa: BLE001 - if we cannot tell, say that we compile
        return False


def _build(name: str, sources: list[Path], cuda: bool = False) -> ModuleType | Exception:
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        return FileNotFoundError(f"sources not found: {', '.join(missing)}")
    if cuda:
        import torch

        if not torch.cuda.is_available():
            return RuntimeError(f"CUDA is not available (torch {torch.__version__})")
    try:
        from torch.utils.cpp_extension import load

        if not _built_before(name):
            print(f"gankit: compiling {name} (once, about 30 s; cached in TORCH_EXTENSIONS_DIR) ...", file=sys.stderr, flush=True)
        if cuda:
            return load(name=name, sources=[str(s) for s in sources], extra_cflags=["-O3"],
                        extra_cuda_cflags=csrc.CUDA_FLAGS, extra_include_paths=[str(csrc.DIRECTORY)])
        return load(name=name, sources=[str(s) for s in sources], extra_cflags=csrc.CFLAGS, extra_ldflags=csrc.LDFLAGS)
    except Exception as exc:  # noqa: BLE001 - compilers fail in many ways; report the cause
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        return RuntimeError(f"{type(exc).__name__}: {lines[-1] if lines else ''}")

