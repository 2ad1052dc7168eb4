"""ClippedRMSprop against the reference: torch.optim.RMSprop(same args).step() + clamp_ on
every parameter. On the CPU the torch backend runs RMSprop's own update, so equality is
bitwise; the CUDA and C++ backends (issue 3) are not built yet."""
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


def make_params(shapes, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(0.05 * torch.randn(s, generator=g, dtype=torch.float64).to(dtype)) for s in shapes]


def run_both(shapes, options, clip, dtype=torch.float32, steps=6, none_every=3, seed=0, groups=1):
    """Step our optimizer and the reference side by side; yield both parameter lists per step."""
    ours, ref = make_params(shapes, dtype, seed), make_params(shapes, dtype, seed)

    def grouped(params):
        return [{"params": params[i::groups], "lr": 1e-2 * (i + 1)} for i in range(groups)]

    opt = ClippedRMSprop(grouped(ours), lr=1e-2, clip_value=clip, **options)
    reference = torch.optim.RMSprop(grouped(ref), lr=1e-2, **options)
    g = torch.Generator().manual_seed(seed + 1)
    for step in range(steps):
        for i, (a, b) in enumerate(zip(ours, ref)):
            if none_every and (i + step) % none_every == 0:
                a.grad = b.grad = None  # grads that are None on some steps
            else:
                grad = torch.randn(a.shape, generator=g, dtype=torch.float64).to(dtype)
                a.grad, b.grad = grad.clone(), grad.clone()
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


@pytest.mark.parametrize("options", OPTION_GRID, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("clip", [None, 0.01])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_every_option_combination_matches_the_reference(options, clip, dtype):
    shapes = [(0,), (1,), (7,), (3, 5), (33, 17), (2, 3, 4, 5)]
    for ours, ref, *_ in run_both(shapes, options, clip, dtype=dtype, groups=2):
        assert_bitwise(ours, ref)
    if clip is not None:
        assert all(p.abs().max() <= clip for p in ours if p.numel())


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=3).map(tuple), min_size=1, max_size=12),
    option=st.sampled_from(OPTION_GRID),
    clip=st.sampled_from([None, 0.01, 0.5]),
    groups=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_random_shapes_and_groups_match_the_reference(shapes, option, clip, groups, seed):
    for ours, ref, *_ in run_both(shapes, option, clip, groups=groups, seed=seed, steps=4):
        assert_bitwise(ours, ref)


def test_two_thousand_tensors():
    for ours, ref, *_ in run_both([(5,)] * 2000, {}, 0.01, steps=2):
        assert_bitwise(ours, ref)


def test_state_dicts_load_both_ways():
    shapes = [(4, 3), (3,)]
    *_, (ours, ref, opt, reference) = run_both(shapes, dict(momentum=0.9, centered=True), 0.01, none_every=0)
    assert opt.state_dict().keys() == reference.state_dict().keys()
    assert opt.state_dict()["param_groups"] == reference.state_dict()["param_groups"]
    swapped_ours = ClippedRMSprop(ref, lr=1e-2, momentum=0.9, centered=True, clip_value=0.01)
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
    assert_bitwise(ours, ref)


def test_nan_stays_nan_through_the_clamp():
    p = torch.nn.Parameter(torch.tensor([float("nan"), 3.0, -3.0]))
    clamp_parameters([p], 1.0)
    assert math.isnan(p[0].item()) and p[1:].tolist() == [1.0, -1.0]


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
    assert ClippedRMSprop(p).backend == BACKENDS[0] == "torch"
    with pytest.raises(ValueError, match="backend 'cuda' is not available in this build"):
        ClippedRMSprop(p, backend="cuda")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        ClippedRMSprop(p, backend="gpu")
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        ClippedRMSprop(p, clip_value=0)


def test_wgan_clip_fuses_the_clamp_into_the_critic_step():
    trainer = gankit.train(["wgan_clip"], {**QUICK, "lr_critic": 0.05})
    assert isinstance(trainer.opt_critic, ClippedRMSprop) and trainer.opt_critic.clip_value == 0.01
    assert trainer.after_step == []  # the trainer does not clamp a second time
    assert all(p.abs().max() <= 0.01 for p in trainer.critic.parameters())
    assert trainer.opt_generator.clip_value is None
