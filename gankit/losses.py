"""GAN objectives: each a small class computing the critic's and the generator's loss.

A loss calls the critic itself, so objectives that need more than the two score vectors
(relativistic pairs, c-transforms, sample distances) fit the same interface. Both methods
return quantities to *minimise*. Importing this module does not import torch, so plugin
modules can subclass :class:`Loss` at their top level.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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


class WassersteinLoss(Loss):
    """The WGAN objective (Arjovsky, Chintala & Bottou 2017, eq. 3 and Algorithm 1).

    The critic maximises E[f(x)] - E[f(G(z))], so it minimises
    ``L_D = mean f(G(z)) - mean f(x)``; the generator minimises ``L_G = -mean f(G(z))``.
    No sigmoid and no log: f is a raw score, kept Lipschitz by a constraint (weight clipping
    in the paper). At the optimum, -L_D estimates K·W1(P_r, P_g) for an unknown K.
    """

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> CriticLoss:
        real_scores, fake_scores = critic(real), critic(fake)
        return CriticLoss(fake_scores.mean() - real_scores.mean(), real_scores, fake_scores)

    def generator_loss(self, critic: nn.Module, fake: Tensor, real: Tensor) -> Tensor:
        return -critic(fake).mean()


__all__ = ["CriticLoss", "Loss", "WassersteinLoss"]
