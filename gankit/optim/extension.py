"""Lazy, cached builds of the compiled backends through ``torch.utils.cpp_extension.load``.

The first use compiles ``csrc/`` with ninja (about 30 s on 2 cores) into
``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``); later uses load the cached
library. A failed build is remembered for the process, and its cause is reported.
"""
from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

CSRC = Path(__file__).resolve().parents[2] / "csrc"
#: -fopenmp: ATen's parallel_for is inline OpenMP, serial without it. -fno-math-errno lets
#: sqrt vectorise. No -ffast-math and no FMA contraction, to stay close to PyTorch's rounding.
CFLAGS = ["-O3", "-fopenmp", "-fno-math-errno", "-ffp-contract=off"]
_loaded: dict[str, ModuleType | Exception] = {}


def load_cpp() -> ModuleType:
    """The C++ CPU backend, built on first use; raises RuntimeError naming the cause."""
    if "cpp" not in _loaded:
        _loaded["cpp"] = _build("gankit_clipped_rmsprop_cpu", [CSRC / "clipped_rmsprop_cpu.cpp"])
    result = _loaded["cpp"]
    if isinstance(result, Exception):
        raise RuntimeError(f"the C++ backend could not be built: {result}") from result
    return result


def _built_before(name: str) -> bool:
    """Whether a compiled library is already cached (then loading is quick and silent)."""
    try:
        from torch.utils.cpp_extension import _get_build_directory  # private, but long-lived

        return any(Path(_get_build_directory(name, False)).glob(f"{name}*.so"))
    except Exception:  # noqa: BLE001 - if we cannot tell, say that we compile
        return False


def _build(name: str, sources: list[Path]) -> ModuleType | Exception:
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        return FileNotFoundError(f"sources not found: {', '.join(missing)}")
    try:
        from torch.utils.cpp_extension import load

        if not _built_before(name):
            print(f"gankit: compiling {name} (once, about 30 s; cached in TORCH_EXTENSIONS_DIR) ...", file=sys.stderr, flush=True)
        return load(name=name, sources=[str(s) for s in sources], extra_cflags=CFLAGS, extra_ldflags=["-fopenmp"])
    except Exception as exc:  # noqa: BLE001 - compilers fail in many ways; report the cause
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        return RuntimeError(f"{type(exc).__name__}: {lines[-1] if lines else ''}")
