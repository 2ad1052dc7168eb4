"""Vanishing and unstable generator gradients against a critic trained from scratch.

Source: Arjovsky & Bottou 2017, "Towards Principled Methods for Training Generative
Adversarial Networks", §2.2, Figures 2 and 3 (seed 004; seed 001 reproduces Fig. 2). They
train a DCGAN for 1, 10 and 25 epochs, freeze the generator, train a discriminator from
scratch and plot the norm of the generator's gradient (log scale) as the discriminator
trains: with the saturating loss E log(1 - D(G(z))) it decays by orders of magnitude
(Fig. 2); with -E log D(G(z)) it grows, with growing variance (Fig. 3). The WGAN paper
(Arjovsky, Chintala & Bottou 2017, §3) claims the clipped critic's gradient does not vanish.

Protocol here, per seed:

1. Pre-train a generator with the ``nsgan`` recipe (the -log D loss with DCGAN's Adam,
   lr 2e-4, β1 0.5, batch 128, one critic step per generator step: how DCGAN is trained)
   on ``digits`` with the default ``mlp`` architecture (``--arch dcgan`` for DCGAN's), and
   snapshot it after each of ``--stages`` generator iterations.
2. For each snapshot, freeze G and train a fresh critic with each recipe's own critic step
   (``Trainer.critic_step``): the logistic discriminator of ``mmgan``/``nsgan`` (BCE, Adam
   2e-4, β1 0.5, batch 128) and the clipped critic of ``wgan_clip`` (RMSprop 5e-5, clamp to
   ±0.01, batch 64). ``mmgan`` and ``nsgan`` have the same critic loss, optimizer and
   batch, so with one seed they train the same critic; it is trained once and both
   generator losses are measured on it.
3. Every ``--every`` critic iterations (and at a few early iterations) record
   ‖∇_θG L_G‖₂ over all generator parameters for L_G = mean log(1 - D(G(z))) (mmgan),
   -mean log D(G(z)) (nsgan) and -mean f(G(z)) (wgan_clip), on ``--measure-batches`` fixed
   noise batches of ``--measure-batch`` samples (the mean and the std of the norm over those
   batches). The generator stays in training mode, as in a generator step (BatchNorm uses
   batch statistics); its weights never change.

Deviations from the paper: an MLP (or the 8×8 DCGAN) on the 1,797 8×8 digits instead of a
DCGAN on LSUN bedrooms; stages are counted in generator iterations (one digits epoch is 14
iterations at batch 128); 1,500 critic iterations by default instead of 4,000 (flag
``--steps``, alias ``--critic-iters``), to keep the CPU run near 5 minutes; the paper does not say which optimizer trained its discriminator
from scratch, we use each recipe's.

Regenerate the committed plot (CPU, about 4–5 minutes on 2 cores)::

    python experiments/vanishing_gradients.py

Writes ``vanishing_gradients.png`` and ``vanishing_gradients.json`` under ``--out``.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import make_trainer, write_result
from gankit.losses import MinimaxLoss, NonSaturatingLoss
from gankit.trainer import Trainer

NAME = "vanishing_gradients"
OBJECTIVES = ("mmgan", "nsgan", "wgan_clip")
LABELS = {
    "mmgan": "mmgan: E log(1 - D(G(z)))",
    "nsgan": "nsgan: -E log D(G(z))",
    "wgan_clip": "wgan_clip: -E f(G(z))",
}
COLORS = {"mmgan": "tab:red", "nsgan": "tab:blue", "wgan_clip": "tab:green"}
EARLY = (1, 2, 5, 10)  # measured besides every --every iterations, so the first drop shows


def base_options(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    return {"data": args.data, "seed": seed, "device": args.device}


def pretrain(args: argparse.Namespace, seed: int) -> dict[int, dict[str, torch.Tensor]]:
    """Generator snapshots of one nsgan (DCGAN-recipe) run after each of ``args.stages`` steps."""
    torch.set_num_threads(args.threads)
    trainer = make_trainer(["nsgan", *args.arch_plugins], base_options(args, seed))
    snapshots = {}
    for stage in sorted(args.stages):
        while trainer.step < stage:
            trainer.train_step()
            trainer.step += 1
        snapshots[stage] = {k: v.detach().cpu().clone() for k, v in trainer.generator.state_dict().items()}
    return snapshots


def gradient_norms(trainer: Trainer, losses: dict[str, Any], zs: list[torch.Tensor]) -> dict[str, list[float]]:
    """‖∇_θG L_G‖₂ for each named generator loss, one value per fixed noise batch."""
    params = [p for p in trainer.generator.parameters() if p.requires_grad]
    out: dict[str, list[float]] = {name: [] for name in losses}
    trainer.critic.requires_grad_(False)
    try:
        for z in zs:
            fake = trainer.generator(z)
            for i, (name, loss) in enumerate(losses.items()):
                value = loss.generator_loss(trainer.critic, fake, None)
                grads = torch.autograd.grad(value, params, retain_graph=i + 1 < len(losses))
                out[name].append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
    finally:
        trainer.critic.requires_grad_(True)
    return out


@torch.no_grad()
def critic_stats(trainer: Trainer, critic_kind: str, zs: list[torch.Tensor], real: torch.Tensor) -> dict[str, float]:
    """How far the critic has got: mean D on real and fake (logistic) or the W estimate."""
    fake_scores = torch.cat([trainer.critic(trainer.generator(z)) for z in zs])
    real_scores = trainer.critic(real)
    if critic_kind == "logistic":
        return {"d_real": float(torch.sigmoid(real_scores).mean()), "d_fake": float(torch.sigmoid(fake_scores).mean())}
    return {"estimate": float(real_scores.mean() - fake_scores.mean())}


def train_critic(args: argparse.Namespace, seed: int, stage: int, critic_kind: str, g_state: dict[str, torch.Tensor]) -> dict:
    """Freeze a generator snapshot; train a fresh critic with its recipe; log G's gradient norms."""
    torch.set_num_threads(args.threads)
    plugin = "mmgan" if critic_kind == "logistic" else "wgan_clip"
    trainer = make_trainer([plugin, *args.arch_plugins], base_options(args, seed))
    trainer.generator.load_state_dict(g_state)  # frozen: critic_step never steps the generator's optimizer
    losses = {"mmgan": MinimaxLoss(), "nsgan": NonSaturatingLoss()} if critic_kind == "logistic" else {
        "wgan_clip": trainer.loss
    }
    rng = torch.Generator().manual_seed(10_000 + seed)
    zs = [torch.randn(args.measure_batch, trainer.options["latent_dim"], generator=rng).to(trainer.device)
          for _ in range(args.measure_batches)]
    real_index = torch.randperm(len(trainer.dataset), generator=rng)[: args.measure_batch * args.measure_batches]
    real = torch.from_numpy(trainer.dataset.x[real_index.numpy()]).to(trainer.device)
    checkpoints = sorted({0, *[i for i in EARLY if i < args.critic_iters], *range(args.every, args.critic_iters + 1, args.every)})
    record: dict[str, Any] = {"iters": [], "norms": {name: [] for name in losses}, "stats": []}
    done = 0
    for it in checkpoints:
        while done < it:
            trainer.critic_step()
            done += 1
        norms = gradient_norms(trainer, losses, zs)
        record["iters"].append(it)
        for name, values in norms.items():
            record["norms"][name].append(values)
        record["stats"].append(critic_stats(trainer, critic_kind, zs, real))
    return {"seed": seed, "stage": stage, "critic": critic_kind, **record}


def run_all(args: argparse.Namespace) -> list[dict]:
    """Pre-train one generator per seed, then one critic run per (seed, stage, critic)."""
    kinds = ("logistic", "wasserstein")
    if args.workers <= 1:
        snaps = {seed: pretrain(args, seed) for seed in args.seeds}
        return [train_critic(args, seed, stage, kind, snaps[seed][stage])
                for seed in args.seeds for stage in args.stages for kind in kinds]
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(pretrain, args, seed): seed for seed in args.seeds}
        critic_runs = []
        for future in as_completed(pending):  # start a seed's critics as soon as its generator is ready
            seed, snaps = pending[future], future.result()
            critic_runs += [pool.submit(train_critic, args, seed, stage, kind, snaps[stage])
                            for stage in args.stages for kind in kinds]
        runs = [f.result() for f in critic_runs]
    return sorted(runs, key=lambda r: (r["seed"], r["stage"], r["critic"]))


def summarise(runs: list[dict], args: argparse.Namespace) -> dict:
    """Per stage and objective: log10 of the per-seed mean norm, mean/min/max over seeds."""
    out: dict[str, Any] = {}
    for stage in args.stages:
        per_stage: dict[str, Any] = {}
        for name in OBJECTIVES:
            kind = "wasserstein" if name == "wgan_clip" else "logistic"
            rows = [r for r in runs if r["stage"] == stage and r["critic"] == kind]
            iters = rows[0]["iters"]
            per_seed = np.array([[np.mean(v) for v in r["norms"][name]] for r in rows])  # (seeds, points)
            spread = np.array([[np.std(v) / max(np.mean(v), 1e-300) for v in r["norms"][name]] for r in rows])
            logs = np.log10(np.maximum(per_seed, 1e-300))
            per_stage[name] = {
                "iters": iters,
                "log10_norm_mean": logs.mean(0).tolist(),
                "log10_norm_min": logs.min(0).tolist(),
                "log10_norm_max": logs.max(0).tolist(),
                "batch_cv_mean": spread.mean(0).tolist(),  # std/mean of the norm over noise batches
            }
        logistic = [r for r in runs if r["stage"] == stage and r["critic"] == "logistic"]
        wass = [r for r in runs if r["stage"] == stage and r["critic"] == "wasserstein"]
        per_stage["d_fake_mean"] = np.mean([[s["d_fake"] for s in r["stats"]] for r in logistic], 0).tolist()
        per_stage["d_real_mean"] = np.mean([[s["d_real"] for s in r["stats"]] for r in logistic], 0).tolist()
        per_stage["w_estimate_mean"] = np.mean([[s["estimate"] for s in r["stats"]] for r in wass], 0).tolist()
        out[str(stage)] = per_stage
    return out


def key_numbers(summary: dict, args: argparse.Namespace) -> dict:
    """log10 ‖∇G‖ (seed mean) at critic iteration 0, at its peak and at the end, per stage and objective;
    ``batch_cv_end``: std/mean of the norm over the noise batches at the end (its spread)."""
    table = {}
    for stage in args.stages:
        s = summary[str(stage)]
        table[str(stage)] = {
            name: {
                "log10_start": round(s[name]["log10_norm_mean"][0], 3),
                "log10_end": round(s[name]["log10_norm_mean"][-1], 3),
                "log10_change": round(s[name]["log10_norm_mean"][-1] - s[name]["log10_norm_mean"][0], 3),
                "log10_peak": round(max(s[name]["log10_norm_mean"]), 3),
                "peak_iter": s[name]["iters"][int(np.argmax(s[name]["log10_norm_mean"]))],
                "log10_end_minus_peak": round(s[name]["log10_norm_mean"][-1] - max(s[name]["log10_norm_mean"]), 3),
                "log10_end_min": round(s[name]["log10_norm_min"][-1], 3),
                "log10_end_max": round(s[name]["log10_norm_max"][-1], 3),
                "batch_cv_end": round(s[name]["batch_cv_mean"][-1], 3),
            }
            for name in OBJECTIVES
        } | {
            "d_fake_end": round(s["d_fake_mean"][-1], 6),
            "d_real_end": round(s["d_real_mean"][-1], 6),
            "w_estimate_end": round(s["w_estimate_mean"][-1], 6),
        }
    return table


def plot(summary: dict, args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(args.stages)
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n, 7.4), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2.2, 1]})
    for col, stage in enumerate(args.stages):
        s = summary[str(stage)]
        ax = axes[0, col]
        for name in OBJECTIVES:
            d = s[name]
            ax.plot(d["iters"], d["log10_norm_mean"], color=COLORS[name], label=LABELS[name], lw=1.6)
            ax.fill_between(d["iters"], d["log10_norm_min"], d["log10_norm_max"], color=COLORS[name], alpha=0.2, lw=0)
        ax.set_title(f"G pre-trained {stage} iterations (nsgan recipe)", fontsize=10)
        ax.grid(alpha=0.3)
        if col == 0:
            ax.set_ylabel("log10 ‖∇θG L_G‖  (mean over seeds; band: min–max)")
            ax.legend(fontsize=8, loc="best")
        ax2 = axes[1, col]
        iters = s["mmgan"]["iters"]
        ax2.semilogy(iters, s["d_fake_mean"], color="tab:purple", label="logistic D: mean D(G(z))")
        ax2.semilogy(iters, [1 - v for v in s["d_real_mean"]], color="tab:purple", ls="--", label="logistic D: 1 − mean D(x)")
        ax2.set_xlabel("critic iterations (G frozen)")
        ax2.grid(alpha=0.3, which="both")
        ax3 = ax2.twinx()
        ax3.plot(iters, s["w_estimate_mean"], color="tab:green", label="clipped critic: W estimate")
        if col == 0:
            ax2.set_ylabel("D's confidence (log)")
        if col == n - 1:
            ax3.set_ylabel("W estimate  E f(x) − E f(G(z))", color="tab:green")
            h1, l1 = ax2.get_legend_handles_labels()
            h2, l2 = ax3.get_legend_handles_labels()
            ax2.legend(h1 + h2, l1 + l2, fontsize=7, loc="center right")
    arch = args.arch
    fig.suptitle(
        f"Generator gradient norm while a fresh critic trains against a frozen G\n({args.data}, {arch} architecture, "
        f"seeds {', '.join(map(str, args.seeds))}; protocol of Arjovsky & Bottou 2017, Figs. 2–3)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--stages", type=int, nargs="+", default=[50, 500, 2000],
                        help="generator iterations of nsgan pre-training at which G is frozen")
    parser.add_argument("--steps", "--critic-iters", dest="critic_iters", type=int, default=1500,
                        help="critic iterations against each frozen G (paper: 4000)")
    parser.add_argument("--every", type=int, default=50, help="measure every this many critic iterations")
    parser.add_argument("--measure-batch", type=int, default=128)
    parser.add_argument("--measure-batches", type=int, default=4)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--arch", choices=("mlp", "dcgan"), default="mlp")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--workers", type=int, default=2, help="processes (runs are independent; results do not depend on this)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", type=Path, default=Path("docs/img/results"))
    parser.add_argument("--name", default=NAME, help="file names <name>.png and <name>.json")
    args = parser.parse_args()
    args.stages = sorted(set(args.stages))
    args.arch_plugins = [] if args.arch == "mlp" else [args.arch]
    start = time.perf_counter()
    runs = run_all(args)
    seconds = time.perf_counter() - start
    summary = summarise(runs, args)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(summary, args, args.out / f"{args.name}.png")
    config = {k: v for k, v in vars(args).items() if k not in ("out", "name", "arch_plugins")}
    write_result(args.out / f"{args.name}.json", NAME, config, seconds, key_numbers(summary, args), summary)
    print(f"{seconds:.0f} s; wrote {args.out / (args.name + '.png')} and {args.out / (args.name + '.json')}")



if __name__ == "__main__":
    main()
