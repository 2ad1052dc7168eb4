"""Setuptools shim. All metadata lives in pyproject.toml.

A plain ``pip install .`` never imports torch here (torch may not be installed yet): the
compiled backends are then built lazily on first use. To build them ahead of time, into
``gankit/optim/``, install with torch already present and no build isolation:

    GANKIT_BUILD_EXT=1 pip install --no-build-isolation .

The CUDA backend is included when torch sees a GPU or TORCH_CUDA_ARCH_LIST is set.
"""
import os
import sys

from setuptools import setup


def compiled_extensions() -> dict:
    if os.environ.get("GANKIT_BUILD_EXT") != "1":
        return {}
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import csrc  # the sources and flags, shared with the lazy build

    def paths(names):
        return [os.path.join("csrc", name) for name in names]

    modules = [CppExtension("gankit.optim._clipped_rmsprop_cpu", paths(csrc.CPP_SOURCES),
                            extra_compile_args=csrc.CFLAGS, extra_link_args=csrc.LDFLAGS)]
    if torch.cuda.is_available() or os.environ.get("TORCH_CUDA_ARCH_LIST"):
        modules.append(CUDAExtension("gankit.optim._clipped_rmsprop_cuda", paths(csrc.CUDA_SOURCES),
                                     include_dirs=[str(csrc.DIRECTORY)],
                                     extra_compile_args={"cxx": ["-O3"], "nvcc": csrc.CUDA_FLAGS}))
    return {"ext_modules": modules, "cmdclass": {"build_ext": BuildExtension}}


setup(**compiled_extensions())
