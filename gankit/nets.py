"""Shared shells for architecture plugins: conditioning, the critic's head, residual blocks.

Every architecture plugin builds a *body* and wraps it here, so conditioning works the same
way for all of them:

* :class:`Generator` feeds the label into G by concatenating its one-hot code to z
  (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", §4.1).
* :class:`Critic` maps the body's features h (B, F) to a raw score ``head(h)`` (no sigmoid:
  losses add the link function they need). A conditional critic either *projects* the label
  onto the features, ``score = head(h) + <embed(y), h>`` (Miyato & Koyama 2018, "cGANs with
  Projection Discriminator", eq. 3), or takes it at the input (*concat*, Mirza & Osindero
  2014): images get K constant one-hot channels, flat inputs the one-hot vector.

The trainer hands losses a *critic view*: :class:`Labelled` binds a conditional critic to
the batch's labels, :class:`Autocast` runs the forward under bf16 autocast.

Plugins import this module inside their hook bodies (it imports torch).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import DataSpec
from .errors import GankitError

CONDITIONINGS = ("projection", "concat")


def describe_data(spec: DataSpec, options: Mapping[str, Any]) -> str:
    """``"data digits has images of shape (1, 8, 8)"``, for one-line error messages."""
    what = f"data {options['data']}" if options.get("data") else "the data"
    kind = "images" if spec.kind == "image" else "points"
    return f"{what} has {kind} of shape {spec.shape}"


def conditional_classes(spec: DataSpec, options: Mapping[str, Any]) -> int | None:
    """The number of classes to condition on, or None for an unconditional GAN."""
    if not options.get("conditional", False):
        return None
    if spec.n_classes is None:
        name = options.get("data")
        what = f"data {name}" if name else f"the data (shape {spec.shape})"
        raise GankitError(f"option conditional: {what} has no labels; a conditional GAN needs labelled data")
    return spec.n_classes


def critic_in_shape(spec: DataSpec, n_classes: int | None, conditioning: str) -> tuple[int, ...]:
    """The shape of one sample as the critic's body sees it.

    Concat conditioning widens the input: (C, H, W) -> (C + K, H, W) for images,
    (D,) -> (D + K,) for points. Otherwise it is the data shape.
    """
    if n_classes is None or conditioning != "concat":
        return spec.shape
    return (spec.shape[0] + n_classes, *spec.shape[1:])


def square_image_stages(spec: DataSpec, options: Mapping[str, Any], architecture: str) -> int:
    """k for square images of side 4·2^k (k >= 1), the number of 2× resampling stages."""
    side = spec.shape[-1]
    ratio = side // 4
    ok = (
        spec.kind == "image" and len(spec.shape) == 3 and spec.shape[1] == side
        and side % 4 == 0 and ratio >= 2 and ratio & (ratio - 1) == 0
    )
    if not ok:
        raise GankitError(
            f"{architecture} needs square images of side 4·2^k (8, 16, 32, 64...); {describe_data(spec, options)}"
        )
    return int(math.log2(ratio))


def _check_labels(module: str, n_classes: int | None, y: Tensor | None) -> None:
    if n_classes is not None and y is None:
        raise ValueError(f"this {module} is conditional on {n_classes} classes: pass labels y")
    if n_classes is None and y is not None:
        raise ValueError(f"this {module} is unconditional: call it without labels")


class Generator(nn.Module):
    """z (B, latent_dim) [and labels y (B,)] -> samples (B, *data shape).

    Conditional: ``body(cat([z, one_hot(y)], 1))``, so ``body`` takes latent_dim + n_classes
    inputs (Mirza & Osindero 2014).
    """

    def __init__(self, body: nn.Module, latent_dim: int, n_classes: int | None = None) -> None:
        super().__init__()
        self.body = body
        self.latent_dim = latent_dim
        self.n_classes = n_classes

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        _check_labels("generator", self.n_classes, y)
        if y is not None:
            z = torch.cat([z, F.one_hot(y.long(), self.n_classes).to(z.dtype)], 1)  # (B, latent + K)
        return self.body(z)


class Critic(nn.Module):
    """Samples (B, *shape) [and labels y (B,)] -> raw scores (B, 1), no sigmoid.

    ``body`` maps the (possibly widened, see :func:`critic_in_shape`) input to features
    (B, feature_dim); ``head`` is a linear layer on them. With ``conditioning="projection"``
    the score gains ``sum_k embed(y)_k h_k`` (Miyato & Koyama 2018, eq. 3); the embedding is
    Glorot-uniform initialised as in their reference code (``SNEmbedID(initialW=GlorotUniform)``).
    """

    def __init__(
        self, body: nn.Module, feature_dim: int, n_classes: int | None = None, conditioning: str = "projection"
    ) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {', '.join(CONDITIONINGS)}, got {conditioning!r}")
        self.body = body
        self.feature_dim = feature_dim
        self.n_classes = n_classes
        self.conditioning = conditioning if n_classes is not None else None
        self.head = nn.Linear(feature_dim, 1)
        self.embed = nn.Embedding(n_classes, feature_dim) if self.conditioning == "projection" else None
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight)

    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The body's features h, shape (B, feature_dim)."""
        _check_labels("critic", self.n_classes, y)
        if self.conditioning == "concat":
            code = F.one_hot(y.long(), self.n_classes).to(x.dtype)  # (B, K)
            code = code.view(*code.shape, *[1] * (x.dim() - 2))  # (B, K, 1, 1) for images
            x = torch.cat([x, code.expand(-1, -1, *x.shape[2:])], 1)  # (B, C + K, H, W) or (B, D + K)
        return self.body(x)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.features(x, y)
        score = self.head(h)  # (B, 1)
        if self.embed is not None:
            score = score + (self.embed(y.long()) * h).sum(1, keepdim=True)
        return score


class Residual(nn.Module):
    """``shortcut(x) + scale · branch(x)``: a residual block with a scaled branch.

    Seed 002 §5.2: "x + α f(x) with α < 1 is more stable, as GAN models are usually
    initialised small"; Gulrajani et al. 2017's reference residual blocks use α = 0.3
    (``inputs + 0.3*output`` in igul222/improved_wgan_training ``gan_language.py``).
    """

    def __init__(self, branch: nn.Module, shortcut: nn.Module, scale: float) -> None:
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.scale * self.branch(x)


class GlobalSumPool(nn.Module):
    """(B, C, H, W) -> (B, C): sum over positions (Miyato & Koyama 2018's ResNet critics)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sum(dim=(2, 3))


class Labelled:
    """A conditional critic with one batch's labels bound: what losses and penalties call as
    ``critic(x)`` (and ``critic.features(x)``). Real, fake and interpolated batches share the
    labels, since the fakes are generated from the real batch's labels."""

    def __init__(self, critic: nn.Module, y: Tensor) -> None:
        self.critic, self.y = critic, y

    def __call__(self, x: Tensor) -> Tensor:
        return self.critic(x, self.y)

    def features(self, x: Tensor) -> Tensor:
        return self.critic.features(x, self.y)


class Autocast:
    """A critic (or :class:`Labelled` critic) whose forward passes run under ``torch.autocast``
    at ``dtype`` and whose outputs come back in float32, so every loss and penalty is computed
    in float32 (mixed precision: Micikevicius et al. 2018; bf16 needs no loss scaling)."""

    def __init__(self, critic: Any, device_type: str, dtype: torch.dtype) -> None:
        self.critic, self.device_type, self.dtype = critic, device_type, dtype

    def __call__(self, x: Tensor) -> Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.critic(x).float()

    def features(self, x: Tensor) -> Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.critic.features(x).float()
