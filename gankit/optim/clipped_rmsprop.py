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
* ``cuda``: ``csrc/clipped_rmsprop_cuda.cu``, the update and the clamp of every parameter of
  one device and dtype (float32, float16, bfloat16; contiguous) in one kernel launch, with
  tables of pointers cached in device memory. fp32 follows PyTorch's foreach kernels op by op
  (bitwise equal by construction). After the first step it neither allocates nor
  synchronises, so the step can be captured in a CUDA graph: give ``lr`` as a float32 CUDA
  tensor to change it between replays. (The ``step`` counters in the state are host tensors,
  as in ``torch.optim.RMSprop``; a graph replay does not advance them. The update does not
  use them.)
* ``torch``: RMSprop's own update, then one foreach clamp over all parameters; runs
  everywhere and equals the reference bitwise.

``auto`` takes ``cpp`` for CPU parameters, ``cuda`` for CUDA parameters it supports and
``torch`` otherwise, and warns once when a build fails and it falls back.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

import torch

from .extension import load_cpp, load_cuda

#: The backends, fastest first.
BACKENDS = ("cuda", "cpp", "torch")
CUDA_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
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
        self._fused: list[tuple[Any, list[torch.Tensor]]] | None = None  # cuda backend: (FusedStep, params)
        self._fused_key: tuple | None = None
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        self.clip_value = clip_value
        self.backend = _choose_backend(backend, [p for group in self.param_groups for p in group["params"]])

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
        if self.backend == "cuda":
            self._step_cuda()
            return loss
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

    def _step_cuda(self) -> None:
        """One launch per (device, dtype): the C++ FusedStep reads the grads, we only create
        state for parameters it reports as new and refresh hyperparameters when they change."""
        if self._fused is None:
            self._fused = _build_fused(self.param_groups)
            self._fused_key = None
        key = (self.clip_value, *(_group_key(group) for group in self.param_groups))
        for fused, params in self._fused:
            stream = torch.cuda.current_stream(params[0].device).cuda_stream
            if key != self._fused_key:
                _set_groups(fused, self.param_groups, self.clip_value, stream)
            missing = fused.step(stream)
            if missing:
                group_of = {id(p): group for group in self.param_groups for p in group["params"]}
                for i in missing:
                    p = params[i]
                    state = self.state[p]
                    if not state:
                        self._init_state(state, p, group_of[id(p)])
                    fused.set_state(i, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"), state["step"])
                fused.step(stream)
        self._fused_key = key

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._fused = None  # the state tensors are new: the cuda backend re-reads them

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        self._fused = None

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


def _choose_backend(requested: str, params: list[torch.Tensor]) -> str:
    if requested not in ("auto", *BACKENDS):
        raise ValueError(f"unknown backend {requested!r}; choose auto or one of {', '.join(BACKENDS)}")
    if requested == "torch":
        return "torch"
    on_cpu = all(p.device.type == "cpu" for p in params)
    unsupported = _cuda_unsupported(params)
    if requested == "cpp" and not on_cpu:
        raise ValueError("backend 'cpp' runs on CPU parameters only")
    if requested == "cuda" and unsupported:
        raise ValueError(f"backend 'cuda' is not available: {unsupported}")
    backend = requested if requested != "auto" else "cpp" if on_cpu else "cuda" if not unsupported else "torch"
    if backend == "torch":
        return "torch"
    try:
        load_cpp() if backend == "cpp" else load_cuda()
    except RuntimeError as exc:
        if requested != "auto":
            raise ValueError(f"backend {backend!r} is not available: {exc}") from exc
        if backend not in _warned:
            _warned.add(backend)
            warnings.warn(f"ClippedRMSprop falls back to the torch backend: {exc}", RuntimeWarning, stacklevel=3)
        return "torch"
    return backend


def _cuda_unsupported(params: list[torch.Tensor]) -> str:
    """Why the cuda backend cannot take these parameters ('' when it can)."""
    if not torch.cuda.is_available():
        return "CUDA is not available"
    for p in params:
        if p.device.type != "cuda":
            return f"a parameter is on {p.device}"
        if p.dtype not in CUDA_DTYPES:
            return f"a parameter is {p.dtype} (float32, float16 and bfloat16 are supported)"
        if not p.is_contiguous():
            return "a parameter is not contiguous"
    return ""


def _build_fused(param_groups: list[dict[str, Any]]) -> list[tuple[Any, list[torch.Tensor]]]:
    """One FusedStep per (device, dtype) over all groups, in parameter order."""
    buckets: dict[tuple, tuple[list[torch.Tensor], list[int]]] = {}
    for g, group in enumerate(param_groups):
        for p in group["params"]:
            params, group_of = buckets.setdefault((p.device, p.dtype), ([], []))
            params.append(p)
            group_of.append(g)
    extension = load_cuda()
    return [(extension.FusedStep(params, group_of, len(param_groups)), params) for params, group_of in buckets.values()]


def _group_key(group: dict[str, Any]) -> tuple:
    lr = group["lr"]
    lr = ("tensor", lr.data_ptr()) if isinstance(lr, torch.Tensor) else lr
    return (lr, group["alpha"], group["eps"], group["weight_decay"], group["momentum"], group["centered"], group["maximize"])


def _set_groups(fused: Any, groups: list[dict[str, Any]], clip_value: float | None, stream: int) -> None:
    tensor_lr = [g["lr"] if isinstance(g["lr"], torch.Tensor) else None for g in groups]
    fused.set_groups(
        [0.0 if t is not None else float(g["lr"]) for g, t in zip(groups, tensor_lr)], tensor_lr,
        [g["alpha"] for g in groups], [g["eps"] for g in groups], [g["weight_decay"] for g in groups],
        [g["momentum"] for g in groups], [g["centered"] for g in groups], [g["maximize"] for g in groups],
        -1.0 if clip_value is None else float(clip_value), stream,
    )
