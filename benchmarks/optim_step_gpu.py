"""GPU benchmark of the critic's optimizer step: RMSprop (lr 5e-5) + clamp to ±0.01.

Variants, all in one run on the same GPU (REFERENCES.md §5 measured the first three):
  seed      torch.optim.RMSprop + a Python loop of p.clamp_ (the PyTorch-GAN wgan.py step)
  foreach   torch.optim.RMSprop(foreach=True) + torch._foreach_clamp_min_/max_
  compile   torch.compile of (foreach RMSprop step + foreach clamp)   [--no-compile skips it]
  cuda      gankit ClippedRMSprop, backend="cuda" (one launch)
  graph     the cuda variant's step replayed from a captured CUDA graph
Critics (parameter shapes only, fp32; the first two and the seed/foreach steps shared with
optim_step_cpu.py): the PyTorch-GAN MLP (533k params, 6 tensors), DCGAN-64
(2.8M, 11), a conv ResNet (19M, 66), 2,000 tensors × 256, and a 67M-parameter critic.

Reported per cell: device µs per step (CUDA events around each step, median of --repeats
after --warmup), host µs (the call's wall time without synchronising, median), and for cuda
the achieved bandwidth: 20 bytes per parameter (read p, g, square_avg; write p, square_avg)
over the device time, beside a measured device-to-device copy.

    python benchmarks/optim_step_gpu.py [--no-compile] [--repeats 200]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from gankit.optim import ClippedRMSprop
from optim_step_cpu import CLIP, CRITICS as CPU_CRITICS, LR, reference_step

BYTES_PER_PARAM = 20
CRITICS = {
    **CPU_CRITICS,
    "conv ResNet": [s for _ in range(32) for s in ((256, 256, 3, 3), (256,))] + [(1, 256), (1,)],
    "2,000 tensors × 256": [(256,)] * 2000,
    "67M critic": [(4096, 1024)] * 16,
}
VARIANTS = ("seed", "foreach", "compile", "cuda", "graph")


def make_step(variant: str, params: list[torch.nn.Parameter]):
    if variant in ("seed", "foreach"):
        return reference_step(variant, params)
    if variant == "compile":
        return torch.compile(reference_step("foreach", params))
    opt = ClippedRMSprop(params, lr=LR, clip_value=CLIP, backend="cuda")
    if variant == "cuda":
        return opt.step
    for _ in range(3):
        opt.step()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        opt.step()
    return graph.replay


def time_step(step, warmup: int, repeats: int) -> tuple[float, float]:
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
    host = []
    for start, end in events:
        start.record()
        t0 = time.perf_counter()
        step()
        host.append(time.perf_counter() - t0)
        end.record()
    torch.cuda.synchronize()
    device = [start.elapsed_time(end) * 1e3 for start, end in events]
    return statistics.median(device), statistics.median(host) * 1e6


def copy_bandwidth() -> float:
    """Device-to-device copy bandwidth in TB/s (read + write), median of 20 copies of 1 GiB."""
    src = torch.empty(2**28, device="cuda")
    dst = torch.empty_like(src)
    us, _ = time_step(lambda: dst.copy_(src), 5, 20)
    return 2 * src.numel() * 4 / (us * 1e-6) / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant (slow to compile)")
    args = parser.parse_args()
    variants = [v for v in VARIANTS if not (args.no_compile and v == "compile")]
    copy = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"device-to-device copy {copy:.2f} TB/s")
    print(f"| critic (params, tensors) | {' | '.join(variants)} | cuda bandwidth |")
    print("|---" * (len(variants) + 2) + "|")
    for name, shapes in CRITICS.items():
        cells, cuda_us = [], None
        for variant in variants:
            torch.manual_seed(0)
            params = [torch.nn.Parameter(0.01 * torch.randn(s, device="cuda")) for s in shapes]
            for p in params:
                p.grad = torch.randn_like(p)
            device_us, host_us = time_step(make_step(variant, params), args.warmup, args.repeats)
            cells.append(f"{device_us:,.1f} µs (host {host_us:,.1f})")
            cuda_us = device_us if variant == "cuda" else cuda_us
            del params
            torch.cuda.empty_cache()
        n = sum(torch.Size(s).numel() for s in shapes)
        bandwidth = BYTES_PER_PARAM * n / (cuda_us * 1e-6) / 1e12
        print(f"| {name} ({n / 1e6:.2f}M, {len(shapes)}) | {' | '.join(cells)} | {bandwidth:.2f} TB/s "
              f"({bandwidth / copy:.0%} of copy) |")


if __name__ == "__main__":
    main()
