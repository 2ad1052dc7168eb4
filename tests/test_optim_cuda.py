"""The cuda backend of ClippedRMSprop: a compile check and a CPU emulation of the kernel that
run anywhere nvcc is, and the kernel-vs-reference suite, which runs where CUDA is available
and skips cleanly elsewhere.

The emulation compiles the same .cu with GANKIT_HOST_EMULATION and runs every block and
thread of a launch on the CPU (threads share no memory, so order cannot matter): it checks
the chunk tables, the vector/scalar split, alignment, flags and the arithmetic, but not the
GPU's rounding (compared with the CPU reference within the cpp backend's tolerances).

Tolerances: fp32 is bitwise equal to torch.optim.RMSprop (foreach, as PyTorch picks on CUDA)
+ clamp_; the kernel does PyTorch's foreach operations in their order, with fused
multiply-adds exactly where PyTorch's kernels have them. fp16/bf16: float arithmetic inside
with the state stored in the half type, compared with the fp32 reference within the cpp
backend's half tolerance (1e-2 + 2%); PyTorch's own half update is no yardstick (it rounds
every intermediate, and fp16's eps = 1e-8 underflows to 0).
"""
import ctypes
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gankit_csrc as csrc
from gankit.optim import ClippedRMSprop
from test_optim import CPP_TOLERANCE, OPTION_GRID, assert_bitwise, assert_within, make_params, run_both

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")


@needs_nvcc
def test_cuda_sources_compile(tmp_path):
    """nvcc compiles the kernel without torch; the binding compiles against torch's headers."""
    kernel = subprocess.run(
        ["nvcc", "-c", *csrc.CUDA_FLAGS, "-std=c++17", "-gencode", "arch=compute_90,code=sm_90",
         str(csrc.DIRECTORY / "clipped_rmsprop_cuda.cu"), "-o", str(tmp_path / "kernel.o")],
        capture_output=True, text=True,
    )
    assert kernel.returncode == 0, kernel.stderr
    from torch.utils.cpp_extension import include_paths

    includes = [f"-I{p}" for p in (*include_paths(), sysconfig.get_paths()["include"], str(csrc.DIRECTORY))]
    binding = subprocess.run(
        [os.environ.get("CXX", "g++"), "-c", "-std=c++20", "-O0", "-fPIC", "-w", *includes,
         "-DTORCH_EXTENSION_NAME=gankit_check", str(csrc.DIRECTORY / "clipped_rmsprop_cuda.cpp"),
         "-o", str(tmp_path / "binding.o")],
        capture_output=True, text=True,
    )
    assert binding.returncode == 0, binding.stderr[-3000:]


SHAPES = [(0,), (1,), (7,), (3, 5), (33, 17), (2, 3, 4, 5), (3 * 4096 + 5,)]  # empty, 1, odd, chunk boundaries


# --- the kernel emulated on the CPU --------------------------------------------------------


class CTensor(ctypes.Structure):
    _fields_ = [("param", ctypes.c_void_p), ("grad", ctypes.c_void_p), ("square_avg", ctypes.c_void_p),
                ("grad_avg", ctypes.c_void_p), ("momentum_buffer", ctypes.c_void_p), ("numel", ctypes.c_int64),
                ("group", ctypes.c_int32), ("reserved", ctypes.c_int32)]


class CGroup(ctypes.Structure):
    _fields_ = [("lr", ctypes.POINTER(ctypes.c_float)), ("alpha", ctypes.c_float), ("one_minus_alpha", ctypes.c_float),
                ("eps", ctypes.c_float), ("weight_decay", ctypes.c_float), ("momentum", ctypes.c_float),
                ("clip_value", ctypes.c_float), ("flags", ctypes.c_int32)]


class CChunk(ctypes.Structure):
    _fields_ = [("tensor", ctypes.c_int32), ("reserved", ctypes.c_int32), ("begin", ctypes.c_int64)]


CHUNK_SIZE = 4096  # as in clipped_rmsprop_cuda.cpp
DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


@pytest.fixture(scope="module")
def emulated_kernel(tmp_path_factory):
    library = tmp_path_factory.mktemp("emulation") / "kernel_emulation.so"
    built = subprocess.run(
        ["nvcc", *csrc.CUDA_FLAGS, "-DGANKIT_HOST_EMULATION", "-shared", "-Xcompiler", "-fPIC",
         "-gencode", "arch=compute_90,code=sm_90", str(csrc.DIRECTORY / "clipped_rmsprop_cuda.cu"), "-o", str(library)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr
    return ctypes.CDLL(str(library))


def emulated_step(kernel, params, states, groups, clip):
    """One launch of the kernel on the CPU; tables built as the binding builds them."""
    lrs = (ctypes.c_float * len(groups))(*[g["lr"] for g in groups])
    c_groups = (CGroup * len(groups))()
    for i, g in enumerate(groups):
        flags = (1 if g["centered"] else 0) | (4 if clip is not None else 0) | (8 if g["momentum"] > 0 else 0) | (
            16 if g["weight_decay"] != 0 else 0)
        lr = ctypes.cast(ctypes.addressof(lrs) + 4 * i, ctypes.POINTER(ctypes.c_float))
        c_groups[i] = CGroup(lr, g["alpha"], 1.0 - g["alpha"], g["eps"], g["weight_decay"], g["momentum"],
                             -1.0 if clip is None else clip, flags)
    c_tensors = (CTensor * len(params))()
    chunks = []
    for i, (p, group) in enumerate(params):
        state = states[i]
        if p.grad is not None and not state:
            state["square_avg"] = torch.zeros_like(p)
            if groups[group]["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(p)
            if groups[group]["centered"]:
                state["grad_avg"] = torch.zeros_like(p)
        ptr = lambda name: state[name].data_ptr() if name in state else None  # noqa: E731
        c_tensors[i] = CTensor(p.data_ptr(), p.grad.data_ptr() if p.grad is not None else None, ptr("square_avg"),
                               ptr("grad_avg"), ptr("momentum_buffer"), p.numel(), group, 0)
        chunks += [CChunk(i, 0, begin) for begin in range(0, p.numel(), CHUNK_SIZE)]
    c_chunks = (CChunk * max(len(chunks), 1))(*chunks)
    assert kernel.gankit_rmsprop_clip_emulate(DTYPE_CODES[params[0][0].dtype], c_tensors, c_groups, c_chunks,
                                              ctypes.c_int64(len(chunks)), ctypes.c_int64(CHUNK_SIZE)) == 0


@needs_nvcc
@pytest.mark.parametrize("options", OPTION_GRID, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("clip", [None, 0.01])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_kernel_emulated_on_the_cpu_matches_the_reference(emulated_kernel, options, clip, dtype):
    shapes = [*SHAPES, (4, 4)]
    ours = make_params(shapes, dtype, seed=3)
    backing = torch.zeros(17, dtype=dtype)
    ours[-1] = torch.nn.Parameter(backing[1:].view(4, 4))  # misaligned: the scalar path
    with torch.no_grad():
        ours[-1].copy_(0.05 * torch.randn(4, 4, dtype=torch.float64).to(dtype))
    ref = [torch.nn.Parameter(p.detach().float().clone()) for p in ours]
    groups = [{"lr": 1e-2 * (g + 1), "alpha": 0.99, "eps": 1e-8, **options} for g in range(2)]
    reference = torch.optim.RMSprop([{"params": ref[g::2], "lr": groups[g]["lr"]} for g in range(2)], **options)
    params, states = [(p, i % 2) for i, p in enumerate(ours)], [{} for _ in ours]
    rng = torch.Generator().manual_seed(4)
    for step in range(6):
        for i, (a, b) in enumerate(zip(ours, ref)):
            if (i + step) % 3 == 0:
                a.grad = b.grad = None
            else:
                grad = torch.randn(a.shape, generator=rng, dtype=torch.float64)
                a.grad, b.grad = grad.to(dtype), grad.to(dtype).float()
        emulated_step(emulated_kernel, params, states, groups, clip)
        reference.step()
        if clip is not None:
            with torch.no_grad():
                for p in ref:
                    p.clamp_(-clip, clip)
        assert_within(ours, ref, CPP_TOLERANCE[dtype])


@needs_cuda
@pytest.mark.parametrize("options", OPTION_GRID, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("clip", [None, 0.01])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_cuda_matches_the_reference(options, clip, dtype):
    for ours, ref, opt, _ in run_both(SHAPES, options, clip, dtype=dtype, groups=2, backend="cuda", device="cuda"):
        assert opt.backend == "cuda"
        if dtype == torch.float32:
            assert_bitwise(ours, ref)
        else:
            assert_within(ours, ref, CPP_TOLERANCE[dtype])


@needs_cuda
@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(0, 70), min_size=1, max_size=3).map(tuple), min_size=1, max_size=12),
    option=st.sampled_from(OPTION_GRID),
    clip=st.sampled_from([None, 0.01, 0.5]),
    groups=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_cuda_random_shapes_and_groups_are_bitwise(shapes, option, clip, groups, seed):
    for ours, ref, *_ in run_both(shapes, option, clip, groups=groups, seed=seed, steps=4, backend="cuda", device="cuda"):
        assert_bitwise(ours, ref)


@needs_cuda
@pytest.mark.parametrize("count", [1, 110, 2000])
def test_cuda_any_number_of_tensors_in_one_launch(count):
    for ours, ref, opt, _ in run_both([(257,)] * count, {}, 0.01, steps=3, backend="cuda", device="cuda"):
        assert_bitwise(ours, ref)
    assert len(opt._fused) == 1  # one FusedStep, so one launch


@needs_cuda
def test_cuda_misaligned_parameters_take_the_scalar_path():
    base = torch.randn(4 * 4096 + 3, device="cuda")
    ours = [torch.nn.Parameter(base[1:])]  # contiguous, 4 bytes past a 16-byte boundary
    ref = [torch.nn.Parameter(base[1:].clone())]
    opt = ClippedRMSprop(ours, lr=1e-2, clip_value=0.01, backend="cuda")
    reference = torch.optim.RMSprop(ref, lr=1e-2)
    for _ in range(3):
        ours[0].grad = torch.randn_like(base[1:])
        ref[0].grad = ours[0].grad.clone()
        opt.step()
        reference.step()
        with torch.no_grad():
            ref[0].clamp_(-0.01, 0.01)
    assert_bitwise(ours, ref)


@needs_cuda
def test_cuda_state_dicts_load_both_ways():
    *_, (ours, ref, opt, reference) = run_both([(4, 3), (3,)], dict(momentum=0.9, centered=True), 0.01, none_every=0,
                                              backend="cuda", device="cuda")
    swapped = ClippedRMSprop(ref, lr=1e-2, momentum=0.9, centered=True, clip_value=0.01, backend="cuda")
    swapped.load_state_dict(reference.state_dict())
    back = torch.optim.RMSprop(ours, lr=1e-2, momentum=0.9, centered=True)
    back.load_state_dict(opt.state_dict())
    for p, q in zip(ref, ours):
        p.grad = q.grad = torch.full_like(p, 0.5)
    swapped.step()
    back.step()
    with torch.no_grad():
        for q in ours:
            q.clamp_(-0.01, 0.01)
    assert_bitwise(ref, ours)


@needs_cuda
def test_cuda_steady_state_is_one_launch_without_sync_or_allocation():
    params = [torch.nn.Parameter(torch.randn(s, device="cuda")) for s in [(512, 784), (512,), (256, 512), (1,)]]
    opt = ClippedRMSprop(params, lr=5e-5, clip_value=0.01, backend="cuda")
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()  # builds the tables
    torch.cuda.synchronize()
    allocated = torch.cuda.memory_stats()["allocation.all.allocated"]
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                opt.step()
            torch.cuda.synchronize()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    assert len(kernels) == 5 and all("rmsprop_clip_kernel" in e.name for e in kernels)
    assert torch.cuda.memory_stats()["allocation.all.allocated"] == allocated


@needs_cuda
def test_cuda_step_can_be_captured_in_a_graph_and_follows_a_tensor_lr():
    shapes = [(300,), (17, 5)]
    ours = [torch.nn.Parameter(0.05 * torch.randn(s, device="cuda")) for s in shapes]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    lr = torch.tensor(1e-2, device="cuda")
    opt = ClippedRMSprop([{"params": ours, "lr": lr}], momentum=0.9, clip_value=0.05, backend="cuda")
    reference = torch.optim.RMSprop(ref, lr=1e-2, momentum=0.9)
    grads = [torch.randn_like(p) for p in ours]
    for p, q, g in zip(ours, ref, grads):
        p.grad, q.grad = g, g.clone()

    def reference_step(lr_value):
        reference.param_groups[0]["lr"] = lr_value
        reference.step()
        with torch.no_grad():
            for q in ref:
                q.clamp_(-0.05, 0.05)

    for _ in range(3):  # eager steps first: the tables are built and uploaded outside the capture
        opt.step()
        reference_step(1e-2)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        opt.step()  # recorded, not run
    torch.cuda.synchronize()
    for lr_value in (1e-2, 3e-3, 3e-3):
        lr.fill_(lr_value)
        graph.replay()
        reference_step(lr_value)
    torch.cuda.synchronize()
    assert_bitwise(ours, ref)


@needs_cuda
def test_cuda_auto_backend_and_wgan_clip_on_the_gpu():
    assert ClippedRMSprop([torch.nn.Parameter(torch.zeros(3, device="cuda"))]).backend == "cuda"
    assert ClippedRMSprop([torch.nn.Parameter(torch.zeros(3, device="cuda", dtype=torch.float64))]).backend == "torch"
    with pytest.raises(ValueError, match="backend 'cuda' is not available: a parameter is torch.float64"):
        ClippedRMSprop([torch.nn.Parameter(torch.zeros(3, device="cuda", dtype=torch.float64))], backend="cuda")
    import gankit
    from conftest import QUICK

    trainer = gankit.train(["wgan_clip"], {**QUICK, "device": "cuda"})
    assert trainer.opt_critic.backend == "cuda"
    assert all(p.abs().max() <= 0.01 for p in trainer.critic.parameters())


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
