"""Lipschitz constraints on the critic.

A constraint acts at up to three moments of the critic step (see ``docs/architecture.md``):

* ``wrap``: once, when the critic is built (spectral normalisation; the initial clamp);
* ``penalty``: a term added to the critic loss before its single backward pass (GP, R1);
* ``after_step``: on the parameters after each optimizer step (weight clipping), unless the
  critic's optimizer absorbs it (``absorb_constraint``), so it never runs twice.

Importing this module does not import torch (plugins subclass :class:`Constraint` freely).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor, nn


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
