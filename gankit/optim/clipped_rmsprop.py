"""RMSprop followed by clamping every parameter to [-c, c]: WGAN's critic step.

``ClippedRMSprop(...).step()`` equals ``torch.optim.RMSprop(same args).step()`` followed by
``p.clamp_(-c, c)`` for every parameter it holds, including those whose grad is None, just as
the reference loop over ``critic.parameters()`` does (Arjovsky et al. 2017, Algorithm 1,
lines 7-8). Its ``state_dict()`` has RMSprop's layout: a state dict saved by one loads into
the other. ``clip_value`` is a constructor argument, like the class itself, and not part of
the state.

Backends:

* ``cpp``: ``csrc/clipped_rmsprop_cpu.cpp``, the update and the clamp in one pass over each
  tensor, parallel over elements, arithmetic in fp32 (fp64 for fp64 parameters). It is built
  on first use. Not bitwise equal to PyTorch's kernels, which round differently (see
  ``docs/performance.md``).
* ``torch``: RMSprop's own update, then one foreach clamp over all parameters; runs
  everywhere and equals the reference bitwise.
* ``cuda``: the fused kernel is not written yet (issue 3).

``auto`` takes ``cpp`` for CPU parameters and ``torch`` otherwise, and warns once when the
C++ build fails and it falls back.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

import torch

from .extension import load_cpp

#: Backends this build can run.
BACKENDS = ("cpp", "torch")
_PLANNED = ("cuda",)
_warned: set[str] = set()


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
        on_cpu = all(p.device.type == "cpu" for group in self.param_groups for p in group["params"])
        self.backend = _choose_backend(backend, on_cpu)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        """One RMSprop update of the parameters that have grads, then clamp them all."""
        if self.backend == "torch":
            loss = super().step(closure)
            self.clamp_()
            return loss
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        extension = load_cpp()
        clip = -1.0 if self.clip_value is None else float(self.clip_value)
        for group in self.param_groups:
            params, grads, square_avgs, grad_avgs, buffers, steps, untouched = [], [], [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    untouched.append(p)
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RMSprop does not support sparse gradients")
                state = self.state[p]
                if not state:
                    self._init_state(state, p, group)
                params.append(p)
                grads.append(p.grad)
                square_avgs.append(state["square_avg"])
                steps.append(state["step"])
                if group["centered"]:
                    grad_avgs.append(state["grad_avg"])
                if group["momentum"] > 0:
                    buffers.append(state["momentum_buffer"])
            if steps:
                torch._foreach_add_(steps, 1)
            extension.step(
                params, grads, square_avgs, grad_avgs, buffers, float(group["lr"]), group["alpha"], group["eps"],
                group["weight_decay"], group["momentum"], group["centered"], group["maximize"], clip,
            )
            if self.clip_value is not None:
                clamp_parameters(untouched, self.clip_value)
        return loss

    @staticmethod
    def _init_state(state: dict[str, Any], p: torch.Tensor, group: dict[str, Any]) -> None:
        """The same entries as ``torch.optim.RMSprop`` creates, so state dicts interchange."""
        scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        state["step"] = torch.zeros((), dtype=scalar)
        state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)

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


def _choose_backend(backend: str, on_cpu: bool) -> str:
    if backend in _PLANNED:
        raise ValueError(f"backend {backend!r} is not available in this build; available: {', '.join(BACKENDS)}")
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS + _PLANNED)}")
    if backend == "torch" or (backend == "auto" and not on_cpu):
        return "torch"
    if not on_cpu:
        raise ValueError("backend 'cpp' runs on CPU parameters only")
    try:
        load_cpp()
    except RuntimeError as exc:
        if backend == "cpp":
            raise ValueError(f"backend 'cpp' is not available: {exc}") from exc
        if "cpp" not in _warned:
            _warned.add("cpp")
            warnings.warn(f"ClippedRMSprop falls back to the torch backend: {exc}", RuntimeWarning, stacklevel=3)
        return "torch"
    return "cpp"
