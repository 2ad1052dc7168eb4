"""ClippedRMSprop against the reference: torch.optim.RMSprop(same args).step() + clamp_ on
every parameter.

Tolerances, and why:
- torch backend: bitwise (it runs RMSprop's own update, then the clamp).
- cpp backend, fp64: within 1e-14 (observed 2.2e-16); fp32: within 1e-6 after 6 steps at
  lr 1e-2 (observed 1.5e-7, about 20 ulp at these magnitudes). PyTorch's vectorised CPU
  kernels round some products differently from our loop (we never contract to FMA).
- cpp backend, fp16/bf16: fp32 arithmetic inside, with state stored in the half type, so
  compared with the fp32 reference within 1e-2 + 2% (observed up to 1.1e-2 at |p| = 0.7 with
  momentum, about 22 fp16 ulp). PyTorch's own half update rounds every
  intermediate, and in fp16 eps=1e-8 underflows to 0, so it is no yardstick.
The cuda backend's suite is in test_optim_cuda.py (it runs where CUDA is available)."""
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gankit
from conftest import QUICK
from gankit.constraints import WeightClip
from gankit.optim import BACKENDS, ClippedRMSprop, clamp_parameters

OPTION_GRID = [
    dict(weight_decay=wd, momentum=m, centered=c)
    for wd, m, c in itertools.product((0.0, 0.1), (0.0, 0.9), (False, True))
]


def make_params(shapes, dtype, seed, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(0.05 * torch.randn(s, generator=g, dtype=torch.float64).to(device, dtype)) for s in shapes]


#: (atol, rtol) of the cpp backend against the reference, by parameter dtype.
CPP_TOLERANCE = {torch.float64: (1e-14, 0), torch.float32: (1e-6, 0), torch.bfloat16: (1e-2, 2e-2), torch.float16: (1e-2, 2e-2)}


def run_both(shapes, options, clip, dtype=torch.float32, steps=6, none_every=3, seed=0, groups=1, backend="torch", device="cpu"):
    """Step our optimizer and the reference side by side; yield both parameter lists per step.

    For the cpp and cuda backends with fp16/bf16 parameters the reference runs in fp32 on the same values.
    """
    ref_dtype = torch.float32 if backend in ("cpp", "cuda") and dtype in (torch.float16, torch.bfloat16) else dtype
    ours = make_params(shapes, dtype, seed, device)
    ref = [torch.nn.Parameter(p.detach().to(ref_dtype).clone()) for p in ours]

    def grouped(params):
        return [{"params": params[i::groups], "lr": 1e-2 * (i + 1)} for i in range(groups)]

    opt = ClippedRMSprop(grouped(ours), lr=1e-2, clip_value=clip, backend=backend, **options)
    assert opt.backend == backend
    reference = torch.optim.RMSprop(grouped(ref), lr=1e-2, **options)
    g = torch.Generator().manual_seed(seed + 1)
    for step in range(steps):
        for i, (a, b) in enumerate(zip(ours, ref)):
            if none_every and (i + step) % none_every == 0:
                a.grad = b.grad = None  # grads that are None on some steps
            else:
                grad = torch.randn(a.shape, generator=g, dtype=torch.float64).to(device, dtype)
                a.grad, b.grad = grad.clone(), grad.to(ref_dtype)
        opt.step()
        reference.step()
        if clip is not None:
            with torch.no_grad():
                for p in ref:  # the seed code's loop: every parameter, grad or not
                    p.clamp_(-clip, clip)
        yield ours, ref, opt, reference


def assert_bitwise(ours, ref):
    """Exactly equal, NaN where the reference has NaN (fp16's eps=1e-8 underflows to 0)."""
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def assert_within(ours, ref, tolerance):
    atol, rtol = tolerance
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.to(b.dtype), b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("options", OPTION_GRID, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("clip", [None, 0.01])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_every_option_combination_matches_the_reference(options, clip, dtype):
    shapes = [(0,), (1,), (7,), (3, 5), (33, 17), (2, 3, 4, 5)]
    for ours, ref, *_ in run_both(shapes, options, clip, dtype=dtype, groups=2):
        assert_bitwise(ours, ref)
    if clip is not None:
        assert all(p.abs().max() <= clip for p in ours if p.numel())


@pytest.mark.parametrize("options", OPTION_GRID, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("clip", [None, 0.01])
@pytest.mark.parametrize("dtype", list(CPP_TOLERANCE))
def test_cpp_backend_matches_the_reference_within_its_tolerance(options, clip, dtype):
    shapes = [(0,), (1,), (7,), (3, 5), (33, 17), (2, 3, 4, 5), (40_000,)]  # the last is split over threads
    for ours, ref, *_ in run_both(shapes, options, clip, dtype=dtype, groups=2, backend="cpp"):
        assert_within(ours, ref, CPP_TOLERANCE[dtype])
    if clip is not None:
        assert all(p.abs().max() <= clip for p in ours if p.numel())


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=3).map(tuple), min_size=1, max_size=12),
    option=st.sampled_from(OPTION_GRID),
    clip=st.sampled_from([None, 0.01, 0.5]),
    groups=st.integers(1, 3),
    seed=st.integers(0, 1000),
    backend=st.sampled_from(["torch", "cpp"]),
)
def test_random_shapes_and_groups_match_the_reference(shapes, option, clip, groups, seed, backend):
    for ours, ref, *_ in run_both(shapes, option, clip, groups=groups, seed=seed, steps=4, backend=backend):
        assert_within(ours, ref, (0, 0) if backend == "torch" else CPP_TOLERANCE[torch.float32])


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_two_thousand_tensors(backend):
    for ours, ref, *_ in run_both([(5,)] * 2000, {}, 0.01, steps=2, backend=backend):
        assert_within(ours, ref, (0, 0) if backend == "torch" else CPP_TOLERANCE[torch.float32])


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_state_dicts_load_both_ways(backend):
    shapes = [(4, 3), (3,)]
    *_, (ours, ref, opt, reference) = run_both(shapes, dict(momentum=0.9, centered=True), 0.01, none_every=0, backend=backend)
    assert opt.state_dict().keys() == reference.state_dict().keys()
    assert opt.state_dict()["param_groups"] == reference.state_dict()["param_groups"]
    swapped_ours = ClippedRMSprop(ref, lr=1e-2, momentum=0.9, centered=True, clip_value=0.01, backend=backend)
    swapped_ours.load_state_dict(reference.state_dict())
    swapped_ref = torch.optim.RMSprop(ours, lr=1e-2, momentum=0.9, centered=True)
    swapped_ref.load_state_dict(opt.state_dict())
    for a, b in zip(ours, ref):
        grad = torch.full_like(a, 0.3)
        a.grad, b.grad = grad.clone(), grad.clone()
    swapped_ours.step()
    swapped_ref.step()
    with torch.no_grad():
        for p in ours:
            p.clamp_(-0.01, 0.01)
    assert_within(ours, ref, (0, 0) if backend == "torch" else CPP_TOLERANCE[torch.float32])


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_nan_stays_nan_through_the_clamp(backend):
    p = torch.nn.Parameter(torch.tensor([float("nan"), 3.0, -3.0]))
    clamp_parameters([p], 1.0)
    assert math.isnan(p[0].item()) and p[1:].tolist() == [1.0, -1.0]
    q = torch.nn.Parameter(torch.tensor([float("nan"), 3.0, -3.0]))
    q.grad = torch.zeros(3)
    ClippedRMSprop([q], clip_value=1.0, backend=backend).step()
    assert math.isnan(q[0].item()) and q[1:].tolist() == [1.0, -1.0]


def test_clamp_only_entry_point_touches_every_parameter():
    params = make_params([(10,), (3, 3)], torch.float32, 0)
    with torch.no_grad():
        params[0].mul_(100)
    opt = ClippedRMSprop(params, clip_value=0.01)
    opt.clamp_()
    assert all(p.abs().max() <= 0.01 for p in params) and opt.state == {}


def test_absorbs_weight_clipping_once():
    opt = ClippedRMSprop([torch.nn.Parameter(torch.zeros(2))])
    assert opt.absorb_constraint(WeightClip(0.01)) and opt.clip_value == 0.01
    assert not opt.absorb_constraint(WeightClip(0.02))
    assert not opt.absorb_constraint(object())


def test_backend_choice():
    p = [torch.nn.Parameter(torch.zeros(1))]
    assert BACKENDS == ("cuda", "cpp", "torch")
    assert ClippedRMSprop(p).backend == "cpp"  # auto, CPU parameters
    assert ClippedRMSprop(p, backend="torch").backend == "torch"
    with pytest.raises(ValueError, match="backend 'cuda' is not available: (CUDA is not available|a parameter is on cpu)"):
        ClippedRMSprop(p, backend="cuda")
    with pytest.raises(ValueError, match="backend 'cpp' runs on CPU parameters only"):
        ClippedRMSprop([torch.nn.Parameter(torch.zeros(1, device="meta"))], backend="cpp")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        ClippedRMSprop(p, backend="gpu")
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        ClippedRMSprop(p, clip_value=0)


def test_a_failed_build_falls_back_with_one_warning(monkeypatch):
    from gankit.optim import clipped_rmsprop, extension

    monkeypatch.setitem(extension._loaded, "cpp", RuntimeError("no compiler"))
    monkeypatch.setattr(clipped_rmsprop, "_warned", set())
    p = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.warns(RuntimeWarning, match="falls back to the torch backend: the cpp backend could not be built: no compiler"):
        assert ClippedRMSprop(p).backend == "torch"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ClippedRMSprop(p).backend == "torch"  # warned once only
    with pytest.raises(ValueError, match="backend 'cpp' is not available: the cpp backend could not be built"):
        ClippedRMSprop(p, backend="cpp")


def test_wgan_clip_fuses_the_clamp_into_the_critic_step():
    trainer = gankit.train(["wgan_clip"], {**QUICK, "lr_critic": 0.05})
    assert isinstance(trainer.opt_critic, ClippedRMSprop) and trainer.opt_critic.clip_value == 0.01
    assert trainer.opt_critic.backend == "cpp"
    assert trainer.after_step == []  # the trainer does not clamp a second time
    assert all(p.abs().max() <= 0.01 for p in trainer.critic.parameters())
    assert trainer.opt_generator.clip_value is None
