"""Generator iterations per second: `gankit train --plugin wgan_clip` vs the seed loop.

The seed loop is PyTorch-GAN's `implementations/wgan/wgan.py` (REFERENCES.md §5): the MLP
generator (BatchNorm, eps 0.8) and critic on 28×28 images, RMSprop lr 5e-5, a Python loop
clamping each critic parameter after its step, the generator stepped every 5th batch, and
the losses printed (read back) at every generator step. Here its data sit on the device, as
in REFERENCES.md's measurement. gankit runs as a user runs it: the real command in a
subprocess, on the same synthetic 28×28 data, and its rate is read from the `time` column
of metrics.jsonl. Both rates are measured after a warm-up, over the same number of
generator iterations, in one run on one machine.

    python benchmarks/train_loop.py                    # CPU, batch 64 and 256
    python benchmarks/train_loop.py --device cuda --iterations 2000
    python benchmarks/train_loop.py --gankit-args="--precision bf16"
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

N_CRITIC, LR, CLIP, LATENT, IMAGE = 5, 5e-5, 0.01, 100, (1, 28, 28)


def seed_models(device: torch.device) -> tuple[nn.Module, nn.Module]:
    """PyTorch-GAN wgan.py's Generator and Discriminator, as the seed shows them."""

    def block(n_in: int, n_out: int, normalize: bool = True) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
        if normalize:
            layers.append(nn.BatchNorm1d(n_out, 0.8))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        return layers

    pixels = int(np.prod(IMAGE))
    generator = nn.Sequential(*block(LATENT, 128, normalize=False), *block(128, 256), *block(256, 512),
                              *block(512, 1024), nn.Linear(1024, pixels), nn.Tanh())
    critic = nn.Sequential(nn.Linear(pixels, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                           nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1))
    return generator.to(device), critic.to(device)


def seed_loop(data: torch.Tensor, batch: int, warmup: int, iterations: int) -> float:
    """Generator iterations per second of the seed's loop (data already on the device)."""
    device = data.device
    generator, critic = seed_models(device)
    opt_g = torch.optim.RMSprop(generator.parameters(), lr=LR)
    opt_d = torch.optim.RMSprop(critic.parameters(), lr=LR)
    per_epoch = len(data) // batch
    i, done, start = 0, 0, None
    while done < warmup + iterations:
        order = torch.randperm(len(data), device=device)
        for b in range(per_epoch):
            imgs = data[order[b * batch : (b + 1) * batch]].view(batch, -1)
            opt_d.zero_grad()
            z = torch.randn(batch, LATENT, device=device)
            fake = generator(z).detach()
            loss_d = -torch.mean(critic(imgs)) + torch.mean(critic(fake))
            loss_d.backward()
            opt_d.step()
            for p in critic.parameters():
                p.data.clamp_(-CLIP, CLIP)
            if i % N_CRITIC == 0:
                opt_g.zero_grad()
                loss_g = -torch.mean(critic(generator(z)))
                loss_g.backward()
                opt_g.step()
                _ = (loss_d.item(), loss_g.item())  # the seed prints both every generator step
                done += 1
                if done == warmup:
                    start = time.perf_counter()
                if done == warmup + iterations:
                    break
            i += 1
    return iterations / (time.perf_counter() - start)


def gankit_rate(data_file: Path, batch: int, warmup: int, iterations: int, device: str, extra: list[str]) -> float:
    """Generator iterations per second of the real `gankit train` command, from its log."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "gankit", "train", "--plugin", "wgan_clip", "--data", str(data_file),
               "--batch-size", str(batch), "--steps", str(warmup + iterations), "--log-every", str(warmup),
               "--device", device, "--progress", "off", "--out", f"{out}/run", *extra]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        lines = [json.loads(line) for line in Path(out, "run", "metrics.jsonl").read_text().splitlines()]
    times = {m["step"]: m["time"] for m in lines}
    return iterations / (times[warmup + iterations] - times[warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--warmup", type=int, default=50, help="generator iterations before timing")
    parser.add_argument("--iterations", type=int, default=300, help="generator iterations timed")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each; medians are reported")
    parser.add_argument("--gankit-args", default="", help="extra flags for gankit train")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    data = rng.uniform(-1, 1, size=(8192, *IMAGE)).astype(np.float32)
    device = torch.device(args.device)
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or 'cpu'}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.iterations} generator iterations after {args.warmup}, "
          f"median of {args.repeats}")
    print("| batch | seed loop (it/s) | gankit train (it/s) | ratio |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "images28.npy"
        np.save(data_file, data)
        on_device = torch.from_numpy(data).to(device)
        for batch in map(int, args.batches.split(",")):
            seeds, ours = [], []
            for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both alike
                seeds.append(seed_loop(on_device, batch, args.warmup, args.iterations))
                ours.append(gankit_rate(data_file, batch, args.warmup, args.iterations, args.device,
                                        shlex.split(args.gankit_args)))
            seed, mine = statistics.median(seeds), statistics.median(ours)
            print(f"| {batch} | {seed:.1f} | {mine:.1f} | {mine / seed:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
