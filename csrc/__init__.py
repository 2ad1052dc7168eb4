"""The C++/CUDA sources of gankit's fused optimizer step, installed as package data
(``gankit_csrc``) so that a wheel install can compile them too, and the flags they are built
with, shared by the lazy build (``gankit/optim/extension.py``) and the ahead-of-time build in
``setup.py``. No torch import here."""
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
CPP_SOURCES = ("clipped_rmsprop_cpu.cpp",)
CUDA_SOURCES = ("clipped_rmsprop_cuda.cpp", "clipped_rmsprop_cuda.cu")
#: -fopenmp: ATen's parallel_for is inline OpenMP, serial without it. -fno-math-errno lets
#: sqrt vectorise. No -ffast-math and no FMA contraction, to stay close to PyTorch's rounding.
CFLAGS = ["-O3", "-fopenmp", "-fno-math-errno", "-ffp-contract=off"]
LDFLAGS = ["-fopenmp"]
#: nvcc: --fmad=false, so only the kernel's explicit fmaf calls fuse, exactly where PyTorch's
#: foreach kernels fuse, and fp32 results equal them bitwise.
CUDA_FLAGS = ["-O3", "--fmad=false"]
