"""Data-parallel training on PyTorch's own engine: DistributedDataParallel, launched by torchrun.

``torchrun --nproc_per_node N -m gankit train ...`` starts N processes; each reads RANK,
WORLD_SIZE and LOCAL_RANK from its environment and joins one process group (NCCL on CUDA,
gloo on the CPU). The run then behaves as one process with N times the batch:

* ``batch_size`` is per process, so the global batch is N × batch_size. Every process draws
  the same global permutation of the data and the same global noise batch from identically
  seeded generators and takes its own slice (rank r: items r·B ... (r+1)·B - 1), so the N
  processes together see exactly what one process with batch N·B would.
* DDP averages the gradients over processes during backward, which makes them the gradients
  of the global batch's mean loss; the optimizers (the fused ClippedRMSprop too) step after
  that all-reduce, on identical replicas.
* BatchNorm layers normalise over the global batch: ``torch.nn.SyncBatchNorm`` on CUDA,
  :class:`GlobalBatchNorm` on the CPU (PyTorch's SyncBatchNorm runs only on accelerators).
* Logged values are averaged over processes; only rank 0 writes files and shows progress;
  a stop signal on any rank stops every rank after the same step.

With one process nothing here is used.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .errors import GankitError


def world_from_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) without torchrun."""
    try:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    except ValueError as exc:
        raise GankitError(f"torchrun environment: {exc}") from None


def join(device: str) -> tuple[int, int, torch.device | None]:
    """Join the process group when launched by torchrun with several processes; returns
    (rank, world size, this process's CUDA device or None)."""
    rank, world, local_rank = world_from_env()
    if world == 1:
        return 0, 1, None
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    local = None
    if cuda:
        if local_rank >= torch.cuda.device_count():
            raise GankitError(f"LOCAL_RANK {local_rank}: this node has {torch.cuda.device_count()} CUDA devices")
        torch.cuda.set_device(local_rank)
        local = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", device_id=local)
    return rank, world, local


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with global-batch BatchNorm, inside DistributedDataParallel."""
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    else:
        _globalise_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def _globalise_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            child.__class__ = GlobalBatchNorm  # same parameters, buffers and state-dict keys
        else:
            _globalise_batchnorm(child)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of all processes, for the CPU (gloo).

    Batch statistics are means over every process's (equal-sized) batch, through the
    differentiable ``torch.distributed.nn.all_reduce``: mean μ = E[x], biased variance
    σ² = E[(x - μ)²] for normalising and the unbiased one for the running estimate, as
    ``nn.BatchNorm`` computes them on one batch (Ioffe & Szegedy 2015). In eval mode, or
    outside a process group, it is plain BatchNorm.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        world = dist.get_world_size()
        dims = [0, *range(2, x.dim())]  # every dimension but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.numel() // x.shape[1] * world
        mean = _SumOverRanks.apply(x.mean(dim=dims)) / world  # (C,)
        var = _SumOverRanks.apply((x - mean.view(shape)).square().mean(dim=dims)) / world  # (C,), biased
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * count / max(count - 1, 1), momentum)
        out = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


class _SumOverRanks(torch.autograd.Function):
    """y = Σ_r x_r on every process. Each process's loss depends on every x_r, so the gradient
    of x_r is the sum of all processes' upstream gradients: an all-reduce again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def per_sample_random(draw: Callable[..., Tensor], like: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
    """``draw(shape)`` (``torch.rand`` or ``torch.randn``; ``shape`` defaults to ``like``'s)
    for this process's part of the global batch: N processes draw the N-fold batch from the
    global RNG and each keeps its rows, so they use the RNG as one process would (and the
    processes' samples get different numbers)."""
    shape = tuple(like.shape) if shape is None else shape
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    b = shape[0]
    values = draw((b * world, *shape[1:]), device=like.device, dtype=like.dtype)
    return values[rank * b : (rank + 1) * b] if world > 1 else values


def mean_over_ranks(values: Tensor) -> Tensor:
    """The mean of ``values`` over all processes (a no-op with one)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= dist.get_world_size()
    return values


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every process if ``flag`` is true on any."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def check_replicas(modules: dict[str, nn.Module], device: torch.device) -> None:
    """Raise if the processes' models differ (a fingerprint of every parameter and buffer,
    compared with rank 0's): DDP keeps replicas identical, and this proves it each checkpoint."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    tensors = [t for m in modules.values() for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
    fingerprint = torch.stack([t.detach().double().sum() for t in tensors] + [t.detach().double().square().sum() for t in tensors])
    reference = fingerprint.clone()
    dist.broadcast(reference, src=0)
    if not torch.equal(fingerprint, reference):
        raise GankitError(f"process {dist.get_rank()}'s models differ from process 0's; the replicas diverged")


def leave() -> None:
    """Leave the process group once every process is done (a process that tears gloo down
    while another still writes its last checkpoint can abort)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def unwrap(module: Any) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
