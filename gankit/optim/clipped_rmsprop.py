"""RMSprop followed by clamping every parameter to [-c, c]: WGAN's critic step.

``ClippedRMSprop(...).step()`` equals ``torch.optim.RMSprop(same args).step()`` followed by
``p.clamp_(-c, c)`` for every parameter it holds, including those whose grad is None, just as
the reference loop over ``critic.parameters()`` does (Arjovsky et al. 2017, Algorithm 1,
lines 7-8). Its ``state_dict()`` has RMSprop's layout: a state dict saved by one loads into
the other. ``clip_value`` is a constructor argument, like the class itself, and not part of
the state.

Backends: ``torch`` (RMSprop's own update, then one foreach clamp over all parameters) is
available everywhere. The fused ``cuda`` kernel and the ``cpp`` CPU loop of issue 3 are not
built yet; ``auto`` picks the best available backend.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

#: Backends this build can run, best first.
BACKENDS = ("torch",)
_PLANNED = ("cuda", "cpp")


def clamp_parameters(params: Iterable[torch.Tensor], clip_value: float) -> None:
    """Clamp every tensor in ``params`` to [-clip_value, clip_value] in place, with two foreach
    launches (not one per tensor). NaN stays NaN, as with ``torch.clamp``."""
    tensors = [p for p in params if p.numel()]
    if not tensors:
        return
    with torch.no_grad():
        torch._foreach_clamp_min_(tensors, -clip_value)
        torch._foreach_clamp_max_(tensors, clip_value)


class ClippedRMSprop(torch.optim.RMSprop):
    """RMSprop (Hinton's lecture 6e; PyTorch's formulation) whose step ends with WGAN's clamp.

    Arguments are ``torch.optim.RMSprop``'s, plus ``clip_value`` (None: no clamp) and
    ``backend`` ("auto" or a name in :data:`BACKENDS`). ``self.backend`` says which one runs.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        clip_value: float | None = None,
        backend: str = "auto",
    ) -> None:
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"clip_value must be > 0 or None, got {clip_value}")
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        self.clip_value = clip_value
        self.backend = _choose_backend(backend)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        """One RMSprop update of the parameters that have grads, then clamp them all."""
        loss = super().step(closure)
        self.clamp_()
        return loss

    def clamp_(self) -> None:
        """Clamp every parameter to [-clip_value, clip_value] (no-op without a clip value).

        The clamp-only entry point: WGAN clamps the freshly initialised critic once before
        training, so the first step already starts inside the constraint set.
        """
        if self.clip_value is not None:
            clamp_parameters((p for group in self.param_groups for p in group["params"]), self.clip_value)

    def absorb_constraint(self, constraint: Any) -> bool:
        """Take over a :class:`~gankit.constraints.WeightClip`, so the trainer doesn't clamp twice."""
        from ..constraints import WeightClip

        if type(constraint) is WeightClip and self.clip_value in (None, constraint.clip_value):
            self.clip_value = constraint.clip_value
            return True
        return False


def _choose_backend(backend: str) -> str:
    if backend == "auto":
        return BACKENDS[0]
    if backend in BACKENDS:
        return backend
    if backend in _PLANNED:
        raise ValueError(f"backend {backend!r} is not available in this build; available: {', '.join(BACKENDS)}")
    raise ValueError(f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS + _PLANNED)}")
