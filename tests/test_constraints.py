"""Lipschitz constraints against hand-computed values (REFERENCES.md §2, §3).

A linear critic f(x) = w·x + b has ∇f = w everywhere, so every gradient-based quantity has a
closed form in ‖w‖; f(x) = ½‖x‖² has ∇f = x, which tells per-sample norms from batch-wide ones.
"""
import copy
import math
import pickle
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gankit.constraints import (
    Constraint,
    DivergencePenalty,
    GankitWarning,
    GradientNormalization,
    GradientNormalizationPiecewise,
    GradientPenalty,
    R1Penalty,
    SpectralNorm,
    WeightClip,
)

GRADIENT_CONSTRAINTS = [GradientPenalty, R1Penalty, DivergencePenalty, GradientNormalization, GradientNormalizationPiecewise]


def linear_critic(w, b=0.3):
    critic = nn.Linear(len(w), 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([w]))
        critic.bias.fill_(b)
    return critic


def image_linear_critic(shape, seed=0):
    """f(x) = w·flatten(x) + b on images of ``shape`` (C, H, W), with its weight vector."""
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 1))
    return critic, critic[1].weight.detach().flatten()


def half_square(x):
    """f(x) = ½‖x‖² per sample, (B, 1); ∇f(x) = x."""
    return 0.5 * x.flatten(1).square().sum(dim=1, keepdim=True)


def conv_critic(channels):
    return nn.Sequential(
        nn.Conv2d(channels, 8, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(8, 16, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 1),
    )


def batch(*shape, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


# --- penalties on a linear critic: closed forms in ‖w‖ --------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_penalty_of_a_linear_critic_is_lambda_norm_minus_one_squared(seed):
    torch.manual_seed(seed)  # whatever ε is drawn, ∇f(x̂) = w
    critic = linear_critic([3.0, 4.0])  # ‖w‖ = 5
    real, fake = batch(16, 2, seed=seed), batch(16, 2, seed=seed + 10)
    assert GradientPenalty().penalty(critic, real, fake).item() == pytest.approx(10 * (5 - 1) ** 2, rel=1e-6)
    assert GradientPenalty(weight=0.1).penalty(critic, real, fake).item() == pytest.approx(1.6, rel=1e-6)


def test_one_sided_gradient_penalty_only_penalises_slopes_above_one():
    real, fake = batch(8, 2), batch(8, 2, seed=2)
    steep, gentle = linear_critic([3.0, 4.0]), linear_critic([0.36, 0.48])  # ‖w‖ = 5 and 0.6
    assert GradientPenalty(one_sided=True).penalty(steep, real, fake).item() == pytest.approx(160.0, rel=1e-6)
    assert GradientPenalty(one_sided=True).penalty(gentle, real, fake).item() == 0.0
    assert GradientPenalty().penalty(gentle, real, fake).item() == pytest.approx(10 * 0.4**2, rel=1e-5)


def test_divergence_penalty_of_a_linear_critic_is_k_norm_to_the_p():
    critic = linear_critic([1.0, 1.0])  # ‖w‖ = √2, ‖w‖⁶ = 8
    real, fake = batch(8, 2), batch(8, 2, seed=2)
    assert DivergencePenalty().penalty(critic, real, fake).item() == pytest.approx(2 * 8, rel=1e-6)
    assert DivergencePenalty(k=0.5, p=3).penalty(critic, real, fake).item() == pytest.approx(0.5 * 2**1.5, rel=1e-6)


def test_r1_penalty_of_a_linear_critic_is_half_gamma_norm_squared():
    critic = linear_critic([3.0, 4.0])
    real = batch(8, 2)
    assert R1Penalty().penalty(critic, real, None).item() == pytest.approx(10 / 2 * 25, rel=1e-6)
    assert R1Penalty(gamma=1.0).penalty(critic, real, None).item() == pytest.approx(12.5, rel=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_penalty_gradients_with_respect_to_the_weights_match_the_closed_form(channels):
    """d/dw of λ(‖w‖−1)², γ/2‖w‖² and k‖w‖^p, on images with any channel count."""
    shape = (channels, 5, 5)
    real, fake = batch(6, *shape), batch(6, *shape, seed=2)
    cases = [
        (GradientPenalty(), lambda w, n: 2 * 10 * (n - 1) * w / n),
        (GradientPenalty(one_sided=True), lambda w, n: 2 * 10 * max(n - 1, 0) * w / n),
        (R1Penalty(), lambda w, n: 10 * w),
        (DivergencePenalty(), lambda w, n: 2 * 6 * n**4 * w),
    ]
    for constraint, expected in cases:
        critic, w = image_linear_critic(shape)
        constraint.penalty(critic, real, fake).backward()
        grad = critic[1].weight.grad.flatten()
        assert torch.allclose(grad, expected(w, w.norm()), rtol=1e-4, atol=1e-7), type(constraint).__name__
        assert critic[1].bias.grad is None or critic[1].bias.grad.abs().item() == 0.0


# --- per sample, not per batch -----------------------------------------------------------


def test_gradient_penalty_norm_is_per_sample_over_all_non_batch_dims():
    """With real == fake, x̂ = x whatever ε is; ∇f(x) = x for f = ½‖x‖²."""
    x = batch(4, 3, 5, 5) * torch.tensor([0.05, 0.2, 0.4, 1.0]).view(4, 1, 1, 1)  # norms ≈ 0.4, 1.5, 3, 8
    ours = GradientPenalty().penalty(half_square, x, x).item()

    per_sample = 10 * ((x.flatten(1).norm(dim=1) - 1) ** 2).mean().item()
    whole_batch = 10 * (x.norm() - 1).item() ** 2  # the norm of the whole batch gradient
    channels_only = 10 * ((x.norm(dim=1) - 1) ** 2).mean().item()  # norm over dim=1 only: (B, H, W)
    assert ours == pytest.approx(per_sample, rel=1e-5)
    assert abs(ours - whole_batch) > 0.1 * ours
    assert abs(ours - channels_only) > 0.1 * ours


def test_epsilon_is_one_uniform_draw_per_sample_from_the_global_rng():
    real, fake = batch(5, 3, 4, 4), batch(5, 3, 4, 4, seed=2)
    torch.manual_seed(7)
    ours = GradientPenalty().penalty(half_square, real, fake).item()
    torch.manual_seed(7)
    eps = torch.rand(5, 1, 1, 1)
    x_hat = eps * real + (1 - eps) * fake  # ∇f(x̂) = x̂
    assert eps.flatten().unique().numel() == 5
    assert ours == pytest.approx(10 * ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)


def test_real_and_fake_must_match_to_be_interpolated():
    critic = linear_critic([1.0, 0.0])
    for constraint in (GradientPenalty(), DivergencePenalty()):
        with pytest.raises(ValueError, match=r"same shape.*\(4, 2\) and \(3, 2\)"):
            constraint.penalty(critic, torch.zeros(4, 2), torch.zeros(3, 2))


@pytest.mark.parametrize("constraint", [GradientPenalty(), GradientPenalty(one_sided=True), R1Penalty(), DivergencePenalty(p=2)])
@pytest.mark.parametrize("channels", [1, 3])
def test_penalties_train_every_weight_of_a_conv_critic(constraint, channels):
    torch.manual_seed(0)
    critic = conv_critic(channels)
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(4)  # slopes above 1, so the one-sided penalty is active too
    real, fake = torch.rand(8, channels, 8, 8) * 2 - 1, torch.rand(8, channels, 8, 8) * 2 - 1
    penalty = constraint.penalty(critic, real, fake)
    assert penalty.dim() == 0 and torch.isfinite(penalty) and penalty.item() > 0
    penalty.backward()
    for name, p in critic.named_parameters():
        if name.endswith("weight"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_penalties_leave_the_fake_batch_and_its_generator_alone():
    generator = nn.Linear(3, 2)
    fake = generator(torch.randn(8, 3))
    GradientPenalty().penalty(linear_critic([3.0, 4.0]), torch.randn(8, 2), fake).backward()
    assert generator.weight.grad is None


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: GradientPenalty(weight=0.0), "weight must be > 0"),
        (lambda: R1Penalty(gamma=-1.0), "gamma must be > 0"),
        (lambda: DivergencePenalty(k=0.0), "k must be > 0"),
        (lambda: DivergencePenalty(p=1.0), "p must be > 1"),
        (lambda: GradientNormalizationPiecewise(eps=0.0), "eps must be > 0"),
        (lambda: SpectralNorm(0), "n_power_iterations must be an integer >= 1"),
    ],
)
def test_invalid_hyperparameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- spectral normalisation --------------------------------------------------------------


def largest_singular_value(layer):
    weight = layer.weight.detach()  # the effective (normalised) weight
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        weight = weight.transpose(0, 1)  # output channels are dim 1
    return torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2).item()


@pytest.mark.parametrize(
    "make_critic, shape",
    [
        (lambda: nn.Sequential(nn.Linear(20, 64), nn.LeakyReLU(0.2), nn.Linear(64, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1)), (20,)),
        (lambda: conv_critic(3), (3, 8, 8)),
        (  # (B, 2, 3, 3) -> (B, 4, 5, 5) -> (B, 4, 25) -> (B, 2, 23) -> (B, 1)
            lambda: nn.Sequential(nn.ConvTranspose2d(2, 4, 3), nn.LeakyReLU(0.2), nn.Flatten(2), nn.Conv1d(4, 2, 3),
                                  nn.Flatten(), nn.Linear(46, 1)),
            (2, 3, 3),
        ),
    ],
    ids=["mlp", "conv", "transposed"],
)
def test_spectral_norm_makes_every_layer_1_lipschitz(make_critic, shape):
    torch.manual_seed(0)  # the weights, and so the power iteration's convergence, do not depend on test order
    critic = make_critic()
    layers = [m for m in critic.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(5)  # start far from 1
    wrapped = SpectralNorm().wrap(critic)
    assert wrapped is critic
    assert all(parametrize.is_parametrized(layer, "weight") for layer in layers)
    critic.train()
    for _ in range(20):
        critic(torch.randn(4, *shape))
    for layer in layers:
        assert largest_singular_value(layer) == pytest.approx(1.0, abs=1e-2)


def test_spectral_norm_leaves_embeddings_and_other_layers_alone():
    critic = nn.ModuleDict({"embed": nn.Embedding(10, 4), "norm": nn.LayerNorm(4), "head": nn.Linear(4, 1)})
    SpectralNorm(n_power_iterations=2).wrap(critic)
    assert not parametrize.is_parametrized(critic["embed"]) and not parametrize.is_parametrized(critic["norm"])
    assert critic["head"].parametrizations.weight[0].n_power_iterations == 2


# --- gradient normalisation --------------------------------------------------------------


def mlp_critic(seed=0, scale=3.0):
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Linear(6, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(scale)
    return critic


def test_gradient_normalization_is_bounded_by_one():
    """|f̂| = |f| / (‖∇f‖ + |f|) ≤ 1 (Wu et al. 2021), even where |f| is huge."""
    for seed in range(3):
        wrapped = GradientNormalization().wrap(mlp_critic(seed))
        x = torch.randn(256, 6) * 10
        out = wrapped(x)
        assert out.shape == (256, 1)
        assert out.abs().max().item() <= 1.0
        assert out.abs().max().item() > 0.5


def test_gradient_normalization_of_a_linear_critic_by_hand():
    critic = linear_critic([3.0, 4.0], b=-2.0)
    x = batch(10, 2)
    f = critic(x).detach()
    out = GradientNormalization().wrap(critic)(x)
    assert torch.allclose(out, f / (5 + f.abs()), atol=1e-6)
    # f̂ is 1-Lipschitz here: ∇f̂ = w·‖w‖/(‖w‖ + |f|)², of norm ‖w‖²/(‖w‖ + |f|)² ≤ 1
    x = x.requires_grad_(True)
    (grad,) = torch.autograd.grad(GradientNormalization().wrap(linear_critic([3.0, 4.0], b=-2.0))(x).sum(), x)
    assert torch.allclose(grad.norm(dim=1), 25 / (5 + f.abs().flatten()) ** 2, atol=1e-6)


@pytest.mark.parametrize("eps", [1e-4, 0.5, 30.0])
def test_piecewise_gradient_normalization_of_a_linear_critic_by_hand(eps):
    critic = linear_critic([3.0, 4.0], b=1.0)  # ‖∇f‖ = ‖w‖ = 5
    x = batch(10, 2)
    f = critic(x).detach()
    constraint = GradientNormalizationPiecewise(eps) if eps != 1e-4 else GradientNormalizationPiecewise()
    assert torch.allclose(constraint.wrap(critic)(x), f * 5 / (25 + eps), atol=1e-6)


@pytest.mark.parametrize("constraint", [GradientNormalization(), GradientNormalizationPiecewise()])
def test_normalized_critic_works_under_no_grad(constraint):
    wrapped = constraint.wrap(mlp_critic())
    x = torch.randn(16, 6)
    expected = wrapped(x).detach()
    with torch.no_grad():
        out = wrapped(x)
    assert not out.requires_grad
    assert torch.allclose(out, expected)
    assert all(p.grad is None for p in wrapped.parameters())


@pytest.mark.parametrize("constraint", [GradientNormalization(), GradientNormalizationPiecewise()])
def test_normalized_critic_trains_the_critic_and_the_generator(constraint):
    critic = mlp_critic()
    wrapped = constraint.wrap(critic)
    assert list(wrapped.parameters()) == list(critic.parameters())
    # the critic step: real data (no grad) through f̂, gradients reach every critic weight
    wrapped(torch.randn(16, 6)).mean().backward()
    assert all(p.grad.abs().sum() > 0 for name, p in critic.named_parameters() if name.endswith("weight"))
    # the generator step: a frozen critic, gradients flow to the input and on to the generator
    generator = nn.Linear(3, 6)
    wrapped.requires_grad_(False)
    fake = generator(torch.randn(16, 3))
    wrapped(fake).mean().backward()
    assert generator.weight.grad is not None and generator.weight.grad.abs().sum() > 0
    x = torch.randn(4, 6, requires_grad=True)
    wrapped(x).sum().backward()
    assert x.grad.abs().sum() > 0


class ConditionalCritic(nn.Module):
    """f(x, y) = head(features(x, y)): a label embedding added to the features."""

    def __init__(self):
        super().__init__()
        self.body, self.embed, self.head = nn.Linear(4, 8), nn.Embedding(3, 8), nn.Linear(8, 1)

    def features(self, x, labels):
        return torch.tanh(self.body(x)) + self.embed(labels)  # (B, 8)

    def forward(self, x, labels):
        return self.head(self.features(x, labels))


def test_normalized_critic_passes_labels_and_keeps_features():
    torch.manual_seed(0)
    critic = ConditionalCritic()
    wrapped = GradientNormalization().wrap(critic)
    x, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 1, 0])
    assert wrapped(x, labels).shape == (5, 1)
    assert torch.equal(wrapped.features(x, labels), critic.features(x, labels))
    assert wrapped.head is critic.head
    assert not hasattr(GradientNormalization().wrap(nn.Linear(2, 1)), "features")


def test_normalized_critic_survives_copies_pickling_and_state_dicts():
    wrapped = GradientNormalizationPiecewise(eps=0.1).wrap(mlp_critic())
    x = torch.randn(8, 6)
    for twin in (copy.deepcopy(wrapped), pickle.loads(pickle.dumps(wrapped))):
        assert torch.allclose(twin(x), wrapped(x))
        assert twin.rule.eps == 0.1
    fresh = GradientNormalizationPiecewise(eps=0.1).wrap(mlp_critic(seed=5))
    fresh.load_state_dict(wrapped.state_dict())
    assert torch.allclose(fresh(x), wrapped(x))


# --- weight clipping: ‖W‖₂ ≤ ‖W‖_F ≤ c·√(mn) -----------------------------------------------


def pytorch_gan_critic():
    return nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))


@pytest.mark.parametrize("weights", ["uniform", "random signs", "all +c"])
def test_clipped_pytorch_gan_critic_stays_within_3_67_lipschitz(weights):
    """The product of c·√(mn) over the three layers is 3.670016 (REFERENCES.md §3: 3.67). With
    every parameter at +c and positive inputs every LeakyReLU passes its input, the critic is
    linear with ∇f = c³·512·256·1, and the bound is attained."""
    torch.manual_seed(0)
    critic, c = pytorch_gan_critic(), 0.01
    with torch.no_grad():
        for p in critic.parameters():
            {"uniform": lambda: p.uniform_(-c, c), "random signs": lambda: p.normal_().mul_(100), "all +c": lambda: p.fill_(1.0)}[weights]()
    WeightClip(c).wrap(critic)
    assert all(p.abs().max().item() <= c for p in critic.parameters())
    bound = math.prod(c * math.sqrt(lin.in_features * lin.out_features) for lin in critic if isinstance(lin, nn.Linear))
    assert bound == pytest.approx(3.67, abs=1e-3)
    x = (torch.rand(512, 784) if weights == "all +c" else torch.randn(512, 784)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    norms = grad.norm(dim=1)
    assert norms.max().item() <= bound * (1 + 1e-5)
    if weights == "all +c":
        assert norms.min().item() == pytest.approx(bound, rel=1e-5)


# --- the BatchNorm warning ---------------------------------------------------------------


@pytest.mark.parametrize("constraint_class", GRADIENT_CONSTRAINTS)
def test_gradient_constraints_warn_once_about_batchnorm(constraint_class):
    critic = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        constraint_class().wrap(critic)
    assert len(caught) == 1 and issubclass(caught[0].category, GankitWarning)
    assert issubclass(GankitWarning, UserWarning)
    assert "BatchNorm, which makes per-sample gradient penalties invalid (Gulrajani et al. 2017 §4)" in str(caught[0].message)


@pytest.mark.parametrize("constraint", [c() for c in GRADIENT_CONSTRAINTS] + [SpectralNorm(), WeightClip(0.01), Constraint()])
def test_no_batchnorm_warning_without_batchnorm_or_without_gradients(constraint):
    critics = [nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.LeakyReLU(0.2), nn.Linear(8, 1))]
    if not isinstance(constraint, tuple(GRADIENT_CONSTRAINTS)):
        critics.append(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)))
    for critic in critics:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            constraint.wrap(critic)


# --- importing stays cheap ---------------------------------------------------------------


def test_importing_constraints_does_not_import_torch():
    code = (
        "import sys, gankit.constraints as c\n"
        "[getattr(c, name) for name in c.__all__]\n"
        "class Mine(c.Constraint): pass\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
