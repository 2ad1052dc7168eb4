"""The cuda backend of ClippedRMSprop: a compile check that runs anywhere nvcc is, and the
kernel-vs-reference suite, which runs where CUDA is available and skips cleanly elsewhere.

Tolerances: fp32 is bitwise equal to torch.optim.RMSprop (foreach, as PyTorch picks on CUDA)
+ clamp_; the kernel does PyTorch's foreach operations in their order, with fused
multiply-adds exactly where PyTorch's kernels have them. fp16/bf16 round every intermediate
to the parameter dtype as the reference does, so they are expected to be bitwise equal too;
the suite asserts them within one half-precision step (atol 1e-3, rtol 1e-2) until a GPU run
has shown more.
"""
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
from test_optim import OPTION_GRID, assert_bitwise, assert_within, run_both

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
HALF_TOLERANCE = (1e-3, 1e-2)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
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
            assert_within(ours, ref, HALF_TOLERANCE)


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
