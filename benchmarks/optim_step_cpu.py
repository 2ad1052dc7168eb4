"""CPU benchmark of the critic's optimizer step: RMSprop (lr 5e-5) + clamp to ±0.01.

Variants, all in one run on the same machine:
  seed      torch.optim.RMSprop + a Python loop of p.clamp_ (the PyTorch-GAN wgan.py step)
  foreach   torch.optim.RMSprop(foreach=True) + torch._foreach_clamp_min_/max_
  torch     gankit ClippedRMSprop, backend="torch"
  cpp       gankit ClippedRMSprop, backend="cpp"
Critics (parameter shapes only): the PyTorch-GAN MLP (533k params, 6 tensors) and the DCGAN-64
discriminator (2.8M, 11 tensors). Median of --repeats timed steps after --warmup steps.

    python benchmarks/optim_step_cpu.py
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from gankit.optim import ClippedRMSprop

LR, CLIP = 5e-5, 0.01
CRITICS = {
    "PyTorch-GAN MLP": [(512, 784), (512,), (256, 512), (256,), (1, 256), (1,)],
    "DCGAN-64": [(64, 3, 4, 4), (128, 64, 4, 4), (128,), (128,), (256, 128, 4, 4), (256,), (256,),
                 (512, 256, 4, 4), (512,), (512,), (1, 512, 4, 4)],
}


def reference_step(variant: str, params: list[torch.nn.Parameter]):
    """The peers' step: ``seed`` (RMSprop + a Python clamp loop) or ``foreach``."""
    opt = torch.optim.RMSprop(params, lr=LR, foreach=variant != "seed")

    def step() -> None:
        opt.step()
        with torch.no_grad():
            if variant == "seed":
                for p in params:
                    p.clamp_(-CLIP, CLIP)
            else:
                torch._foreach_clamp_min_(params, -CLIP)
                torch._foreach_clamp_max_(params, CLIP)

    return step


def make_step(variant: str, params: list[torch.nn.Parameter]):
    if variant in ("seed", "foreach"):
        return reference_step(variant, params)
    return ClippedRMSprop(params, lr=LR, clip_value=CLIP, backend=variant).step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"| critic (params, tensors) | {' | '.join(('seed', 'foreach', 'torch', 'cpp'))} | cpp vs foreach |")
    print("|---|---|---|---|---|---|")
    for name, shapes in CRITICS.items():
        medians = {}
        for variant in ("seed", "foreach", "torch", "cpp"):
            torch.manual_seed(0)
            params = [torch.nn.Parameter(0.01 * torch.randn(s)) for s in shapes]
            for p in params:
                p.grad = torch.randn_like(p)
            step = make_step(variant, params)
            for _ in range(args.warmup):
                step()
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            medians[variant] = statistics.median(times) * 1e6
        n = sum(torch.Size(s).numel() for s in shapes)
        cells = " | ".join(f"{medians[v]:,.0f} µs" for v in ("seed", "foreach", "torch", "cpp"))
        print(f"| {name} ({n / 1e6:.2f}M, {len(shapes)}) | {cells} | {medians['foreach'] / medians['cpp']:.2f}× |")


if __name__ == "__main__":
    main()
