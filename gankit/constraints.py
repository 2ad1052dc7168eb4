"""Lipschitz constraints on the critic.

A constraint acts at up to three moments of the critic step (see ``docs/architecture.md``):

* ``wrap``: once, when the critic is built (spectral normalisation; gradient normalisation;
  the initial clamp);
* ``penalty``: a term added to the critic loss before its single backward pass (GP, R1, div);
* ``after_step``: on the parameters after each optimizer step (weight clipping), unless the
  critic's optimizer absorbs it (``absorb_constraint``), so it never runs twice.

The built-in ones: :class:`WeightClip` (WGAN), :class:`GradientPenalty` (WGAN-GP, WGAN-LP),
:class:`R1Penalty`, :class:`DivergencePenalty` (WGAN-div), :class:`SpectralNorm` (SN-GAN),
:class:`GradientNormalization` (GN-GAN) and :class:`GradientNormalizationPiecewise` (GraN-GAN).

Gradients with respect to the input are taken per sample: the critic's scores are summed and
differentiated once, which gives each sample its own gradient as long as no layer mixes the
samples of a batch. BatchNorm does, so the gradient-based constraints warn about it in ``wrap``.

Importing this module does not import torch (plugins subclass :class:`Constraint` freely); the
module wrapping a gradient-normalised critic, ``GradientNormalizedCritic``, is built on first use.
"""
from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, Any

from .errors import GankitWarning

if TYPE_CHECKING:
    from torch import Tensor, nn

BATCHNORM_WARNING = (
    "the critic contains BatchNorm, which makes per-sample gradient penalties invalid "
    "(Gulrajani et al. 2017 §4); use layer norm or none"
)


class Constraint:
    """Base class: every moment is a no-op until a subclass overrides it."""

    def wrap(self, critic: nn.Module) -> nn.Module:
        return critic

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor | None:
        return None

    def after_step(self, critic: nn.Module) -> None:
        return None


class WeightClip(Constraint):
    """Clamp every critic parameter, weights and biases, to [-c, c] (WGAN, Arjovsky et al.
    2017, Algorithm 1 line 8: after each critic update).

    The authors' code clamps *before* each critic step; we follow the paper (after the step)
    and clamp once when the critic is built, so the critic is in the constraint set from the
    first step on. NaN stays NaN, as ``torch.clamp`` keeps it.
    """

    def __init__(self, clip_value: float) -> None:
        if not clip_value > 0:
            raise ValueError(f"clip_value must be > 0, got {clip_value}")
        self.clip_value = clip_value

    def wrap(self, critic: nn.Module) -> nn.Module:
        self.after_step(critic)
        return critic

    def after_step(self, critic: nn.Module) -> None:
        from .optim import clamp_parameters

        clamp_parameters(critic.parameters(), self.clip_value)


# --- input gradients ---------------------------------------------------------------------


def _warn_if_batchnorm(critic: nn.Module) -> None:
    """One :class:`GankitWarning` if any layer of ``critic`` is a BatchNorm (1d, 2d, 3d, sync)."""
    from torch.nn.modules.batchnorm import _BatchNorm

    if any(isinstance(module, _BatchNorm) for module in critic.modules()):
        warnings.warn(BATCHNORM_WARNING, GankitWarning, stacklevel=3)


def _scores_and_gradients(critic: Any, x: Tensor, *args: Any, create_graph: bool = True) -> tuple[Tensor, Tensor]:
    """The scores f(x) (B, 1) and the per-sample input gradients ∇ₓf(x), flattened to (B, D).

    ``x`` must require grad. With ``create_graph`` the gradients are differentiable again, so a
    loss built on them trains the critic (and, through ``x``, whatever produced ``x``).
    """
    import torch

    scores = critic(x, *args)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=create_graph)
    return scores, grad.flatten(1)


def _interpolate(real: Tensor, fake: Tensor) -> Tensor:
    """x̂ = ε·x + (1 − ε)·x̃ with one ε ~ U[0, 1] per sample (shape (B, 1, ..., 1), broadcast
    over every other dim, so any channel count works), from torch's global RNG (the global
    batch's share under torchrun, see gankit.distributed); x̂ requires grad
    and is detached from whatever produced ``real`` and ``fake``."""
    import torch

    if real.shape != fake.shape:
        raise ValueError(
            "real and fake batches must have the same shape to be interpolated pairwise, "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    from .distributed import per_sample_random

    eps = per_sample_random(torch.rand, real, (real.shape[0],) + (1,) * (real.dim() - 1))  # (B, 1, ..., 1)
    return (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


class _GradientConstraint(Constraint):
    """A constraint built on per-sample input gradients: it warns about BatchNorm in ``wrap``."""

    def wrap(self, critic: nn.Module) -> nn.Module:
        _warn_if_batchnorm(critic)
        return critic


# --- penalties ---------------------------------------------------------------------------


class GradientPenalty(_GradientConstraint):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1 lines 4-7): λ·E(‖∇f(x̂)‖₂ − 1)².

    x̂ = ε·x + (1 − ε)·x̃ with ε ~ U[0, 1] drawn once per sample and x̃ the (detached) fake
    batch; the norm is per sample over all non-batch dims. The paper's λ is 10.

    ``one_sided``: λ·E max(0, ‖∇f(x̂)‖₂ − 1)², which penalises only slopes above 1 (WGAN-LP,
    Petzka, Fischer & Lukovnikov 2018, the Lipschitz penalty of §4).
    """

    def __init__(self, weight: float = 10.0, one_sided: bool = False) -> None:
        self.weight = _positive("weight", weight)
        self.one_sided = one_sided

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        excess = _scores_and_gradients(critic, _interpolate(real, fake))[1].norm(dim=1) - 1  # (B,)
        if self.one_sided:
            excess = excess.clamp(min=0)
        return self.weight * excess.square().mean()


class R1Penalty(_GradientConstraint):
    """Zero-centred gradient penalty on real data, R1 (Mescheder, Geiger & Nowozin 2018,
    eq. 9): γ/2 · E_real ‖∇ₓf(x)‖².

    Seed 002's "energy view" writes the same term as λ·E_real ‖∇D(x)‖², so λ = γ/2. The fake
    batch is not used.
    """

    def __init__(self, gamma: float = 10.0) -> None:
        self.gamma = _positive("gamma", gamma)

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        grad = _scores_and_gradients(critic, real.detach().requires_grad_(True))[1]
        return self.gamma / 2 * grad.square().sum(dim=1).mean()


class DivergencePenalty(_GradientConstraint):
    """WGAN-div (Wu, Huang, Thoma, Acharya & Van Gool 2018, the W_{k,p} objective and
    Algorithm 1): k·E‖∇f(x̂)‖^p, with k > 0, p > 1; their search picked k = 2, p = 6.

    x̂ is sampled as in Algorithm 1, between real and fake pairs like WGAN-GP (one ε ~ U[0, 1]
    per sample). The divergence allows any sampling distribution r(x) and the paper's
    comparison of samplings found WGAN-div insensitive to it; PyTorch-GAN's ``wgan_div.py``
    instead evaluates the gradients at the real and the fake points, k/2 on each, which is
    k·E_r with r the even mix of the two batches.
    """

    def __init__(self, k: float = 2.0, p: float = 6.0) -> None:
        self.k = _positive("k", k)
        if not p > 1:
            raise ValueError(f"p must be > 1, got {p}")
        self.p = p

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        grad = _scores_and_gradients(critic, _interpolate(real, fake))[1]
        return self.k * grad.square().sum(dim=1).pow(self.p / 2).mean()  # ‖∇‖^p, smooth at 0


# --- reparametrisations ------------------------------------------------------------------


class SpectralNorm(Constraint):
    """Spectral normalisation (Miyato, Kataoka, Koyama & Yoshida 2018, Algorithm 1): every
    Linear, Conv*d and ConvTranspose*d weight W is used as W / σ(W), σ estimated by power
    iteration with ``n_power_iterations`` steps per forward pass in training mode (the paper
    uses one, reusing u between updates).

    ``wrap`` applies ``torch.nn.utils.parametrizations.spectral_norm`` in place and returns
    the critic itself. As in the paper, a convolution kernel is normalised as the matrix
    (out, in·k·k) (transposed convolutions along their output dim), a bound on, not the exact
    norm of, the convolution operator. Embedding layers are left alone: a looked-up row is not
    a linear map of the critic's input.
    """

    def __init__(self, n_power_iterations: int = 1) -> None:
        if not (isinstance(n_power_iterations, int) and n_power_iterations >= 1):
            raise ValueError(f"n_power_iterations must be an integer >= 1, got {n_power_iterations}")
        self.n_power_iterations = n_power_iterations

    def wrap(self, critic: nn.Module) -> nn.Module:
        from torch import nn
        from torch.nn.utils.parametrizations import spectral_norm

        for module in list(critic.modules()):
            if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
                spectral_norm(module, n_power_iterations=self.n_power_iterations)
        return critic


class _InputGradientNormalization(_GradientConstraint):
    """Replaces the critic f by f̂ = normalize(f(x), ‖∇ₓf(x)‖) (see ``GradientNormalizedCritic``)."""

    def wrap(self, critic: nn.Module) -> nn.Module:
        _warn_if_batchnorm(critic)
        return _normalized_critic_class()(critic, self)

    def normalize(self, scores: Tensor, grad_norm: Tensor) -> Tensor:
        raise NotImplementedError


class GradientNormalization(_InputGradientNormalization):
    """GN-GAN (Wu, Shuai, Tam & Chiu 2021, "Gradient Normalization for Generative Adversarial
    Networks", §3): f̂(x) = f(x) / (‖∇ₓf(x)‖ + |f(x)|).

    |f̂| ≤ 1 everywhere, and for a piecewise-linear f (ReLU/LeakyReLU critics) f̂ is
    1-Lipschitz within each linear piece. The gradient is per sample over all non-batch dims
    and part of the graph, so both the critic step and the generator step train through f̂
    (second-order gradients, as in the paper). As in the paper and its code, there is no ε:
    f̂ is undefined only where f(x) = 0 and ∇ₓf(x) = 0 together.
    """

    def normalize(self, scores: Tensor, grad_norm: Tensor) -> Tensor:
        return scores / (grad_norm + scores.abs())


class GradientNormalizationPiecewise(_InputGradientNormalization):
    """GraN-GAN (Bhaskara, Aumentado-Armstrong, Jepson & Levinshtein 2022, "GraN-GAN:
    Piecewise Gradient Normalization for Generative Adversarial Networks", §3):
    f̂(x) = f(x)·‖∇ₓf(x)‖ / (‖∇ₓf(x)‖² + ε).

    This is f/‖∇f‖ (1-Lipschitz on each linear piece of a piecewise-linear f) kept finite
    where the gradient vanishes; ε > 0 trades exactness for stability there. The default
    1e-4 is our choice, small against typical ‖∇f‖²; the paper's Lipschitz scale K (a
    temperature on f̂ in the loss) is the loss's business and not applied here.
    """

    def __init__(self, eps: float = 1e-4) -> None:
        self.eps = _positive("eps", eps)

    def normalize(self, scores: Tensor, grad_norm: Tensor) -> Tensor:
        return scores * grad_norm / (grad_norm.square() + self.eps)


@functools.cache
def _normalized_critic_class() -> type:
    """``GradientNormalizedCritic``, defined on first use so that importing stays torch-free."""
    import torch
    from torch import nn

    class GradientNormalizedCritic(nn.Module):
        """f̂(x, *args) = rule.normalize(f(x, *args), ‖∇ₓf(x, *args)‖) of an inner critic f.

        Under ``torch.no_grad()`` the input gradient is still taken (grad is enabled locally)
        and the result is detached. Other attributes (``features``, ``head``, ...) are the
        inner critic's, so ``features`` gives f's unnormalised features.
        """

        def __init__(self, critic: nn.Module, rule: _InputGradientNormalization) -> None:
            super().__init__()
            self.critic, self.rule = critic, rule

        def forward(self, x: Tensor, *args: Any) -> Tensor:
            differentiable = torch.is_grad_enabled()
            with torch.enable_grad():
                if not x.requires_grad:
                    x = x.detach().requires_grad_(True)
                scores, grad = _scores_and_gradients(self.critic, x, *args, create_graph=differentiable)
                grad_norm = grad.norm(dim=1).reshape((-1,) + (1,) * (scores.dim() - 1))  # like scores
                normalized = self.rule.normalize(scores, grad_norm)
            return normalized if differentiable else normalized.detach()

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                critic = self.__dict__.get("_modules", {}).get("critic")
                if critic is None:
                    raise
                return getattr(critic, name)

        def extra_repr(self) -> str:
            return f"rule={type(self.rule).__name__}"

    GradientNormalizedCritic.__module__ = __name__
    GradientNormalizedCritic.__qualname__ = "GradientNormalizedCritic"  # picklable via __getattr__
    return GradientNormalizedCritic


def __getattr__(name: str) -> Any:
    if name == "GradientNormalizedCritic":
        return _normalized_critic_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BATCHNORM_WARNING",
    "Constraint",
    "DivergencePenalty",
    "GankitWarning",
    "GradientNormalization",
    "GradientNormalizationPiecewise",
    "GradientPenalty",
    "R1Penalty",
    "SpectralNorm",
    "WeightClip",
]
