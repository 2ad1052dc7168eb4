"""GAN objectives: each a small class computing the critic's and the generator's loss.

A loss calls the critic itself, so objectives that need more than the two score vectors
(relativistic pairs, c-transforms, sample distances) fit the same interface. Both methods
return quantities to *minimise*. Importing this module does not import torch, so plugin
modules can subclass :class:`Loss` at their top level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from torch import Tensor, nn


@dataclass
class CriticLoss:
    """The critic's loss for one step, with the scores it was computed from.

    The trainer logs ``real_scores.mean() - fake_scores.mean()`` as the Wasserstein estimate.
    """

    loss: Tensor  # scalar
    real_scores: Tensor  # (B, 1)
    fake_scores: Tensor  # (B, 1)


class Loss:
    """Base class of GAN objectives."""

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        """Loss of the critic on a real batch and a (detached) generated batch."""
        raise NotImplementedError

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        """Loss of the generator on a generated batch; ``real`` is there for relativistic losses."""
        raise NotImplementedError


def _difference_critic_loss(critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
    """``mean f(G(z)) - mean f(x)``: the critic loss of WGAN and of the energy view."""
    real_scores, fake_scores = critic(real), critic(fake)
    return CriticLoss(fake_scores.mean() - real_scores.mean(), real_scores, fake_scores)


def _scores_without_grad(critic: nn.Module, x: Tensor) -> Tensor:
    """Critic scores of the real batch in a generator loss: constant in the generator."""
    import torch

    with torch.no_grad():
        return critic(x)


def _bce(logits: Tensor, target: float) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against a constant target, from logits:
    ``softplus(l) - target·l``, i.e. ``-target·log σ(l) - (1-target)·log(1-σ(l))``, stable."""
    import torch
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class WassersteinLoss(Loss):
    """The WGAN objective (Arjovsky, Chintala & Bottou 2017, eq. 3 and Algorithm 1).

    The critic maximises E[f(x)] - E[f(G(z))], so it minimises
    ``L_D = mean f(G(z)) - mean f(x)``; the generator minimises ``L_G = -mean f(G(z))``.
    No sigmoid and no log: f is a raw score, kept Lipschitz by a constraint (weight clipping
    in the paper). At the optimum, -L_D estimates K·W1(P_r, P_g) for an unknown K.
    """

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        return _difference_critic_loss(critic, real, fake)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return -critic(fake).mean()



class _LogisticCritic(Loss):
    """Shared critic of the original GAN: D = σ(l) classifies real (label ``real_label``)
    against generated (label 0); ``L_D = BCE(l_real, real_label) + BCE(l_fake, 0)``."""

    def __init__(self, real_label: float = 1.0) -> None:
        if not 0.0 < real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {real_label}")
        self.real_label = real_label

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        real_scores, fake_scores = critic(real), critic(fake)
        loss = _bce(real_scores, self.real_label) + _bce(fake_scores, 0.0)
        return CriticLoss(loss, real_scores, fake_scores)


class MinimaxLoss(_LogisticCritic):
    """The original, saturating GAN (Goodfellow et al. 2014, eq. 1 and Algorithm 1).

    The critic outputs logits l and D = σ(l). It maximises E log D(x) + E log(1 - D(G(z))),
    so it minimises ``L_D = -mean log σ(l_real) - mean log(1 - σ(l_fake))`` (binary
    cross-entropy from logits, numerically stable). The generator minimises
    ``L_G = mean log(1 - σ(l_fake)) = -mean softplus(l_fake)``, which saturates (vanishing
    gradient) when D confidently rejects the fakes. For a fixed G the best critic is
    D*(x) = p_d(x) / (p_d(x) + p_g(x)) (Prop. 1), where -L_D = -log 4 + 2·JSD(p_d‖p_g) (Thm. 1).

    ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016, §3.4): the real
    targets become e.g. 0.9 while the fake targets stay 0, so D*(x) = real_label·p_d/(p_d+p_g).
    The seeds' code (PyTorch-GAN) halves the critic loss, (real + fake) / 2; we keep the
    paper's sum (the factor only rescales the critic's learning rate).
    """

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        import torch.nn.functional as F

        return -F.softplus(critic(fake)).mean()


class NonSaturatingLoss(_LogisticCritic):
    """The non-saturating GAN, the "-log D trick" (Goodfellow et al. 2014, §3).

    Same critic as :class:`MinimaxLoss` (with the same optional one-sided label smoothing);
    the generator maximises E log D(G(z)) instead, i.e. minimises
    ``L_G = -mean log σ(l_fake) = mean softplus(-l_fake)``: same fixed point, strong gradients
    early in training. Label smoothing only touches the critic's real targets (Salimans et
    al. 2016, §3.4), so the generator's target stays 1.
    """

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        import torch.nn.functional as F

        return F.softplus(-critic(fake)).mean()


class LeastSquaresLoss(Loss):
    """LSGAN (Mao et al. 2017, eq. 2): least squares on raw scores, no sigmoid.

    The critic minimises ``½ mean (D(x) - b)² + ½ mean (D(G(z)) - a)²``, the generator
    ``½ mean (D(G(z)) - c)²``; for a fixed G, D*(x) = (b·p_d + a·p_g) / (p_d + p_g).
    Two codings from the paper: a = -1, b = 1, c = 0 (the default: b - c = 1 and b - a = 2,
    so at D* the generator minimises the Pearson χ² divergence between p_d + p_g and 2·p_g,
    eq. 8) and a = 0, b = c = 1 (eq. 9, the 0-1 coding of the paper's experiments).
    """

    def __init__(self, a: float = -1.0, b: float = 1.0, c: float = 0.0) -> None:
        self.a, self.b, self.c = a, b, c

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        real_scores, fake_scores = critic(real), critic(fake)
        loss = 0.5 * (real_scores - self.b).square().mean() + 0.5 * (fake_scores - self.a).square().mean()
        return CriticLoss(loss, real_scores, fake_scores)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return 0.5 * (critic(fake) - self.c).square().mean()


class HingeLoss(Loss):
    """The hinge loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, eq. 16, SN-GAN).

    The critic minimises ``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))`` (it maximises
    E min(0, -1 + D(x)) + E min(0, -1 - D(G(z))); seed 002's table writes "max" over the
    relu form, a slip), the generator minimises ``-mean D(G(z))``.
    """

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        real_scores, fake_scores = critic(real), critic(fake)
        loss = (1.0 - real_scores).relu().mean() + (1.0 + fake_scores).relu().mean()
        return CriticLoss(loss, real_scores, fake_scores)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return -critic(fake).mean()


class RelativisticLoss(Loss):
    """RSGAN, the relativistic standard GAN (Jolicoeur-Martineau 2018, "The relativistic
    discriminator: a key element missing from standard GAN", §4.1 and Algorithm 1).

    With raw scores C and sample i of the real batch paired with sample i of the fake batch,
    the critic minimises ``-mean log σ(C(x_r) - C(x_f)) = mean softplus(-(C(x_r) - C(x_f)))``
    and the generator ``mean softplus(-(C(x_f) - C(x_r)))``: the probability that the real
    sample is more realistic than the fake one. Both batches must have the same size.
    """

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        import torch.nn.functional as F

        real_scores, fake_scores = critic(real), critic(fake)
        return CriticLoss(F.softplus(fake_scores - real_scores).mean(), real_scores, fake_scores)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        import torch.nn.functional as F

        return F.softplus(_scores_without_grad(critic, real) - critic(fake)).mean()


class RelativisticAverageLoss(Loss):
    """RaSGAN, the relativistic average standard GAN (Jolicoeur-Martineau 2018, §4.3 and
    Algorithm 2).

    With D̃(x_r) = σ(C(x_r) - mean C(x_f)) and D̃(x_f) = σ(C(x_f) - mean C(x_r)) (batch means),
    the critic minimises ``-mean log D̃(x_r) - mean log(1 - D̃(x_f))``
    ``= mean softplus(mean C(x_f) - C(x_r)) + mean softplus(C(x_f) - mean C(x_r))`` and the
    generator the same with real and fake swapped. The generator's gradient flows through
    both terms (the fake batch mean sits in the real term); the real scores are constants.
    """

    @staticmethod
    def _loss(first: Tensor, second: Tensor) -> Tensor:
        """-mean log σ(first - mean second) - mean log(1 - σ(second - mean first))."""
        import torch.nn.functional as F

        return F.softplus(second.mean() - first).mean() + F.softplus(second - first.mean()).mean()

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        real_scores, fake_scores = critic(real), critic(fake)
        return CriticLoss(self._loss(real_scores, fake_scores), real_scores, fake_scores)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return self._loss(critic(fake), _scores_without_grad(critic, real))


F_DIVERGENCES = ("kl", "reverse_kl", "js", "pearson", "squared_hellinger")


def _f_gan_table(divergence: str) -> tuple[Callable, Callable, Callable]:
    """(g_f, f*, f*∘g_f) of Nowozin et al. 2016, Table 2; f*∘g_f in a numerically stable form."""
    import torch
    import torch.nn.functional as F

    log2 = math.log(2.0)
    return {  # name: (output activation g_f(v), conjugate f*(t), f*(g_f(v)) simplified)
        "kl": (lambda v: v, lambda t: torch.exp(t - 1.0), lambda v: torch.exp(v - 1.0)),
        "reverse_kl": (lambda v: -torch.exp(-v), lambda t: -1.0 - torch.log(-t), lambda v: v - 1.0),
        "js": (lambda v: log2 - F.softplus(-v), lambda t: -torch.log(2.0 - torch.exp(t)), lambda v: F.softplus(v) - log2),
        "pearson": (lambda v: v, lambda t: 0.25 * t * t + t, lambda v: 0.25 * v * v + v),
        "squared_hellinger": (lambda v: 1.0 - torch.exp(-v), lambda t: t / (1.0 - t), lambda v: torch.expm1(v)),
    }[divergence]


class FDivergenceLoss(Loss):
    """f-GAN (Nowozin, Cseke & Tomioka 2016): variational divergence minimisation, eq. 6.

    The critic's raw output V passes through the output activation g_f, T = g_f(V), and the
    critic maximises ``F = mean g_f(V(x)) - mean f*(g_f(V(G(z))))``, a lower bound on
    D_f(P‖Q) = ∫ q f(p/q), tight at T*(x) = f'(p(x)/q(x)); it minimises -F. Table 2:

    ========================  ==================  =====================  ====================
    divergence                f(u)                g_f(v)                 f*(t)
    ========================  ==================  =====================  ====================
    ``kl``                    u log u             v                      exp(t - 1)
    ``reverse_kl``            -log u              -exp(-v)               -1 - log(-t)
    ``js``                    u log u - (u+1)     log 2 - log(1+e^-v)    -log(2 - exp(t))
                              ·log((u+1)/2)
    ``pearson``               (u - 1)²            v                      t²/4 + t
    ``squared_hellinger``     (√u - 1)²           1 - exp(-v)            t / (1 - t)
    ========================  ==================  =====================  ====================

    For ``js`` the optimum of F is D_f = KL(P‖M) + KL(Q‖M) = 2·JSD(P‖Q) with M = (P+Q)/2
    (at most log 4). f*(g_f(v)) is computed in closed form (e.g. softplus(v) - log 2 for js).
    The generator uses the paper's recommended update (§3.2, generalising Goodfellow's -log D
    trick; it keeps the saddle point's stationary points): it maximises E g_f(V(G(z))), so it
    minimises ``-mean g_f(V(G(z)))``, instead of the saddle objective -mean f*(g_f(V(G(z)))).
    """

    def __init__(self, divergence: str) -> None:
        if divergence not in F_DIVERGENCES:
            raise ValueError(f"divergence must be one of {', '.join(F_DIVERGENCES)}; got {divergence!r}")
        self.divergence = divergence

    def activation(self, v: Tensor) -> Tensor:
        """The output activation g_f(v) of Table 2, mapping raw scores into dom f*."""
        return _f_gan_table(self.divergence)[0](v)

    def conjugate(self, t: Tensor) -> Tensor:
        """The Fenchel conjugate f*(t) of Table 2."""
        return _f_gan_table(self.divergence)[1](t)

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        activation, _, conjugate_of_activation = _f_gan_table(self.divergence)
        real_scores, fake_scores = critic(real), critic(fake)
        loss = conjugate_of_activation(fake_scores).mean() - activation(real_scores).mean()
        return CriticLoss(loss, real_scores, fake_scores)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return -self.activation(critic(fake)).mean()


class GANQPLoss(Loss):
    """GAN-QP (Su 2018, "GAN-QP: A Novel GAN Framework without Gradient Vanishing and
    Lipschitz Constraint"), with the paper's simplified scalar critic T(x).

    With sample i of the real batch paired with sample i of the fake batch and
    Δ = T(x_r) - T(x_f), the critic minimises ``mean(-Δ + Δ² / (2λ·d(x_r, x_f)))`` (it
    maximises the quadratic-potential dual of the divergence) and the generator minimises
    ``mean Δ``. Pointwise the best Δ is λ·d(x_r, x_f): the quadratic term replaces a Lipschitz
    constraint. d is a per-sample distance over all non-batch dimensions, normalised by
    their number as in the author's code (bojone/gan-qp, ``10 * K.mean(K.abs(x_real - x_fake),
    axis=[1, 2, 3])``): ``norm="l1"`` is the mean absolute difference, ``"l2"`` the root mean
    square (the code's gan_qp_l2). The paper leaves λ a hyperparameter; λ = 10 is the code's.
    d is clamped at 1e-12 so identical pairs do not divide by zero.
    """

    def __init__(self, lam: float = 10.0, norm: str = "l1") -> None:
        if not lam > 0:
            raise ValueError(f"lam must be > 0, got {lam}")
        if norm not in ("l1", "l2"):
            raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
        self.lam, self.norm = lam, norm

    def distance(self, real: Tensor, fake: Tensor) -> Tensor:
        """d(x_r, x_f) per pair, (B, 1): mean |x_r - x_f| (l1) or its root mean square (l2)."""
        diff = (real - fake).flatten(1)
        d = diff.abs().mean(1, keepdim=True) if self.norm == "l1" else diff.square().mean(1, keepdim=True).sqrt()
        return d.clamp_min(1e-12)

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        real_scores, fake_scores = critic(real), critic(fake)
        delta = real_scores - fake_scores
        loss = (-delta + delta.square() / (2.0 * self.lam * self.distance(real, fake))).mean()
        return CriticLoss(loss, real_scores, fake_scores)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return (_scores_without_grad(critic, real) - critic(fake)).mean()


class CTransformLoss(Loss):
    """WGAN with the c-transform (Mallasto, Montúfar & Gerolin 2019, "How Well Do WGANs
    Estimate the Wasserstein Metric?"; seed 002's table).

    The critic f is paired with its c-transform over the real batch,
    f^c(y) = min_j (c(x_j, y) - f(x_j)) with c the Euclidean distance between flattened
    samples, and maximises ``mean f(x_r) + mean f^c(x_f)``, a W1 estimate that needs no
    Lipschitz constraint (f^c is 1-Lipschitz by construction); it minimises the negative.
    The generator minimises the same objective (min over G of the max over f in the seed's
    table; only the f^c term depends on G, the real term makes the value the W1 estimate).
    The CriticLoss's ``fake_scores`` are -f^c(x_f), the potential the estimate actually uses,
    so the logged ``mean real - mean fake`` is this W1 estimate rather than mean f(x_f).
    """

    @staticmethod
    def _objective(real_scores: Tensor, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """(mean f(x_r) + mean f^c(x_f), f^c(x_f) as (B_f, 1))."""
        import torch

        cost = torch.cdist(fake.flatten(1), real.flatten(1))  # (B_f, B_r): c(x_j, y_i)
        f_c = (cost - real_scores.reshape(1, -1)).min(dim=1, keepdim=True).values
        return real_scores.mean() + f_c.mean(), f_c

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        real_scores = critic(real)
        objective, f_c = self._objective(real_scores, real, fake)
        return CriticLoss(-objective, real_scores, -f_c)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return self._objective(_scores_without_grad(critic, real), real, fake)[0]


class EnergyLoss(Loss):
    """The energy view of GANs (seed 002 §1): the critic as a negative energy, D = -U.

    Seed 002 fits an energy U(x) (low on the data) with the positive/negative-phase split:
    U minimises E_data U(x) - E_G U(x) + λ E_data ‖∇U(x)‖², and the generator minimises
    -H(G(z)) + E_G U(x) (KL(P_G‖e^{-U}/Z) up to log Z). We write it with D = -U so that
    scores are high on real data, as for every other loss here: the critic minimises
    ``mean D(G(z)) - mean D(x)`` and the generator ``-mean D(G(z))``. The zero-centred
    gradient penalty λ E_data ‖∇D(x)‖² on real data is a constraint (a penalty) applied
    separately, not part of this class; the entropy bonus H(G(z)) needs an estimator the
    critic cannot provide and is left out (the seed notes that, with the penalty, this is
    the WGAN-GP-shaped objective; without it, the values equal :class:`WassersteinLoss`).
    """

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        return _difference_critic_loss(critic, real, fake)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return -critic(fake).mean()


class FeatureMatchingLoss(Loss):
    """Feature matching (Salimans et al. 2016, §3.1) on top of another objective.

    The critic trains with ``base``'s critic loss; the generator minimises
    ``‖mean f(x) - mean f(G(z))‖²₂`` where ``f = critic.features`` gives (B, F) intermediate
    features of the critic; the real feature mean is a constant (no gradient).
    """

    def __init__(self, base: Loss) -> None:
        self.base = base

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        return self.base.critic_loss(critic, real, fake)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        import torch

        features = getattr(critic, "features", None)
        if features is None:
            raise TypeError(f"FeatureMatchingLoss needs a critic with a features(x) method; {type(critic).__name__} has none")
        with torch.no_grad():
            real_mean = features(real).mean(0)
        return (real_mean - features(fake).mean(0)).square().sum()


__all__ = [
    "CriticLoss",
    "Loss",
    "WassersteinLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "LeastSquaresLoss",
    "HingeLoss",
    "RelativisticLoss",
    "RelativisticAverageLoss",
    "F_DIVERGENCES",
    "FDivergenceLoss",
    "GANQPLoss",
    "CTransformLoss",
    "EnergyLoss",
    "FeatureMatchingLoss",
]
