"""RMSProp against Adam for the weight-clipped WGAN critic (and generator).

Source: Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", §3 (Algorithm 1 uses RMSProp)
and §4; seed 004's fourth change ("no momentum optimizers: Adam made the critic unstable")
and REFERENCES.md §1. The paper reports that with Adam (β1 = 0.5) the WGAN critic's
training sometimes became unstable, and that the cosine between Adam's step and the
gradient then turned negative; RMSProp (lr 5e-5) did not show this.

Protocol here: ``wgan_clip`` (WGAN loss, every critic parameter clamped to ±0.01 after each
critic step, n_critic 5, batch 64, the default ``mlp`` networks) on ``ring8`` (8 Gaussians
on the unit circle, std 0.01), trained with

* ``rmsprop``: RMSProp lr 5e-5 for both networks (the paper's recipe);
* ``adam_b1_0.5``: Adam lr 5e-5, β = (0.5, 0.999) for both networks;
* ``adam_b1_0.9``: Adam lr 5e-5, β = (0.9, 0.999) for both networks;
* ``adam_b1_0.9_critic``: Adam lr 5e-5, β = (0.9, 0.999) for the critic only, RMSProp for the
  generator (the paper's warning is about the critic; this separates the two networks).

Per generator iteration we log the Wasserstein estimate ``mean f(x) - mean f(G(z))`` of the
last critic step (averaged over ``--log-every`` iterations) and, after every critic step,
the cosine between the critic optimizer's step direction (before the clamp) and the
critic's gradient: Adam's ``m̂ / (√v̂ + ε)``, RMSProp's ``g / (√v + ε)`` (window mean and
minimum, and the share of critic steps where it is negative). Every ``--eval-every`` iterations: the exact
W1 between ``--eval-n`` generated samples (``Trainer.sample``: generator in eval mode, fixed
noise) and as many held-out real samples (fresh draws from the same mixture, not the
training set), with POT: ``ot.emd2(a, b, ot.dist(X, Y, metric="euclidean"))``, uniform
weights (``ot.dist``'s default metric is the *squared* Euclidean distance). Beside it, the
floor: W1 between two independent real draws of the same size (small samples bias W1
upward). At the end, modes captured and the high-quality share (a sample within 3 std of
its nearest centre; REFERENCES.md §3).

Deviations from the paper: 2-D toy data and small MLPs instead of LSUN bedrooms with a
DCGAN; 1,000 generator iterations by default (the paper trains for 100k+), enough to see
the instability but not to learn the ring (see docs/results.md); the paper does
not give Adam's lr for this comparison, we keep the WGAN lr 5e-5 so only the optimizer
changes; Adam is used for the generator too (``--optimizer`` sets both).

Regenerate the committed plots (CPU, 2 cores: about 5 minutes; the long run about 14)::

    python experiments/optimizer_stability.py
    python experiments/optimizer_stability.py --seeds 0 --steps 5000 --eval-every 1000 --name optimizer_stability_long

Writes ``optimizer_stability.png`` and ``optimizer_stability.json`` under ``--out``.
"""
from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import make_trainer, write_result
from gankit.data import BUILTIN
from gankit.metrics.mixture import modes_hq
from gankit.metrics.transport import w1

NAME = "optimizer_stability"
OPTIMIZERS = {
    "rmsprop": {"optimizer": "rmsprop"},
    "adam_b1_0.5": {"optimizer": "adam", "beta1": 0.5, "beta2": 0.999},
    "adam_b1_0.9": {"optimizer": "adam", "beta1": 0.9, "beta2": 0.999},
    "adam_b1_0.9_critic": {"optimizer": "adam", "beta1": 0.9, "beta2": 0.999, "optimizer_generator": "rmsprop"},
}
LABELS = {"rmsprop": "RMSProp", "adam_b1_0.5": "Adam β1=0.5", "adam_b1_0.9": "Adam β1=0.9",
          "adam_b1_0.9_critic": "Adam β1=0.9 critic, RMSProp G"}
COLORS = {"rmsprop": "tab:green", "adam_b1_0.5": "tab:red", "adam_b1_0.9": "tab:orange", "adam_b1_0.9_critic": "tab:purple"}
HELD_OUT_SEED, FLOOR_SEEDS = 7_001, (7_002, 7_003, 7_004)


def mixture_sample(data: str, n: int, seed: int) -> np.ndarray:
    """Fresh draws from a built-in 2-D mixture (the same centres and std as its data set)."""
    dataset = BUILTIN[data]({})
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(dataset.centers), size=n)
    return dataset.centers[labels] + dataset.std * rng.standard_normal((n, dataset.centers.shape[1]))


def step_cosine(opt: torch.optim.Optimizer) -> float:
    """cos(step direction before the clamp, gradient) of the critic's last optimizer step."""
    dots = sq_d = sq_g = 0.0
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p)
            if p.grad is None or not state:
                continue
            g = p.grad
            if "exp_avg" in state:  # Adam
                beta1, beta2 = group["betas"]
                t = float(state["step"])
                d = (state["exp_avg"] / (1 - beta1**t)) / ((state["exp_avg_sq"] / (1 - beta2**t)).sqrt() + group["eps"])
            else:  # RMSprop
                d = g / (state["square_avg"].sqrt() + group["eps"])
            dots += float((d * g).sum())
            sq_d += float(d.square().sum())
            sq_g += float(g.square().sum())
    return dots / math.sqrt(sq_d * sq_g) if sq_d > 0 and sq_g > 0 else float("nan")


def run(args: argparse.Namespace, optimizer: str, seed: int) -> dict:
    torch.set_num_threads(args.threads)
    options = {"data": args.data, "seed": seed, "device": args.device, "lr_critic": args.lr, "lr_generator": args.lr,
               **OPTIMIZERS[optimizer]}
    trainer = make_trainer(["wgan_clip"], options)
    held_out = mixture_sample(args.data, args.eval_n, HELD_OUT_SEED)
    log: dict[str, list] = {"step": [], "estimate": [], "loss_critic": [], "cosine_mean": [], "cosine_min": []}
    evals: dict[str, list] = {"step": [], "w1": []}
    window: list[torch.Tensor] = []
    cosines: list[float] = []  # one per critic step in the current window
    negative = total = 0
    trainer.opt_critic.register_step_post_hook(lambda opt, *_: cosines.append(step_cosine(opt)))

    def evaluate() -> np.ndarray:
        x = trainer.sample(args.eval_n, seed=20_000 + seed).numpy()
        evals["step"].append(trainer.step)
        evals["w1"].append(w1(x, held_out) if np.isfinite(x).all() else float("nan"))
        return x

    evaluate()
    start = time.perf_counter()
    while trainer.step < args.steps:
        metrics = trainer.train_step()
        trainer.step += 1
        window.append(torch.stack([metrics["wasserstein_estimate"], metrics["loss_critic"]]))
        if trainer.step % args.log_every == 0:
            values = torch.stack(window).mean(0).tolist()
            window.clear()
            log["step"].append(trainer.step)
            log["estimate"].append(values[0])
            log["loss_critic"].append(values[1])
            log["cosine_mean"].append(float(np.mean(cosines)))
            log["cosine_min"].append(float(np.min(cosines)))
            negative, total = negative + sum(c < 0 for c in cosines), total + len(cosines)
            cosines.clear()
        if trainer.step % args.eval_every == 0 or trainer.step == args.steps:
            x = evaluate()
    dataset = BUILTIN[args.data]({})
    modes, hq_percent = modes_hq(x, dataset.centers, dataset.std) if np.isfinite(x).all() else (0, 0.0)
    hq = hq_percent / 100  # a share, as the JSON and the plot have it
    return {"optimizer": optimizer, "seed": seed, "log": log, "eval": evals, "modes": modes, "hq": hq,
            "negative_cosine_share": negative / max(total, 1),
            "seconds": round(time.perf_counter() - start, 1)}


def run_all(args: argparse.Namespace) -> list[dict]:
    jobs = [(opt, seed) for seed in args.seeds for opt in args.optimizers]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run, args, opt, seed) for opt, seed in jobs]
            return [f.result() for f in futures]
    return [run(args, opt, seed) for opt, seed in jobs]


def band(rows: list[list[float]]) -> dict[str, list[float]]:
    a = np.array(rows, dtype=float)
    return {"mean": np.nanmean(a, 0).tolist(), "min": np.nanmin(a, 0).tolist(), "max": np.nanmax(a, 0).tolist()}


def summarise(runs: list[dict], args: argparse.Namespace, floor: list[float]) -> dict:
    out: dict[str, Any] = {"floor_w1": {"values": floor, "mean": float(np.mean(floor))}}
    for opt in args.optimizers:
        rows = [r for r in runs if r["optimizer"] == opt]
        out[opt] = {
            "log_step": rows[0]["log"]["step"],
            "estimate": band([r["log"]["estimate"] for r in rows]),
            "cosine_mean": band([r["log"]["cosine_mean"] for r in rows]),
            "cosine_min": band([r["log"]["cosine_min"] for r in rows]),
            "eval_step": rows[0]["eval"]["step"],
            "w1": band([r["eval"]["w1"] for r in rows]),
            "per_seed": {
                str(r["seed"]): {
                    "final_w1": r["eval"]["w1"][-1], "best_w1": float(np.nanmin(r["eval"]["w1"])),
                    "final_estimate": r["log"]["estimate"][-1], "min_cosine": float(np.nanmin(r["log"]["cosine_min"])),
                    "negative_cosine_share": r["negative_cosine_share"],
                    "estimate_std": float(np.std(r["log"]["estimate"][len(r["log"]["estimate"]) // 2:])),
                    "modes": r["modes"], "hq": r["hq"], "seconds": r["seconds"],
                }
                for r in rows
            },
        }
    return out


def key_numbers(summary: dict, args: argparse.Namespace) -> dict:
    table = {"floor_w1": round(summary["floor_w1"]["mean"], 4)}
    for opt in args.optimizers:
        seeds = summary[opt]["per_seed"].values()
        final = [s["final_w1"] for s in seeds]
        table[opt] = {
            "final_w1_mean": round(float(np.mean(final)), 4),
            "final_w1_min": round(float(np.min(final)), 4),
            "final_w1_max": round(float(np.max(final)), 4),
            "final_estimate_mean": round(float(np.mean([s["final_estimate"] for s in seeds])), 5),
            "min_cosine": round(float(np.min([s["min_cosine"] for s in seeds])), 3),
            "negative_cosine_percent": round(100 * float(np.mean([s["negative_cosine_share"] for s in seeds])), 2),
            "estimate_std_second_half": [round(s["estimate_std"], 5) for s in seeds],
            "modes": [s["modes"] for s in seeds],
            "hq_percent": [round(100 * s["hq"], 1) for s in seeds],
        }
    return table


def plot(summary: dict, args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for opt in args.optimizers:
        s, color, label = summary[opt], COLORS[opt], LABELS[opt]
        for ax, xs, key in ((axes[0], s["log_step"], "estimate"), (axes[1], s["eval_step"], "w1"), (axes[2], s["log_step"], "cosine_min")):
            ax.plot(xs, s[key]["mean"], color=color, label=label, lw=1.6, marker="o" if key == "w1" else None, ms=3)
            ax.fill_between(xs, s[key]["min"], s[key]["max"], color=color, alpha=0.18, lw=0)
    axes[0].set_title("critic's Wasserstein estimate E f(x) − E f(G(z))", fontsize=10)
    axes[0].set_ylabel(f"estimate (mean of {args.log_every} iterations)")
    axes[1].axhline(summary["floor_w1"]["mean"], color="k", ls="--", lw=1, label="real vs real floor")
    axes[1].set_yscale("log")
    axes[1].set_title(f"exact W1(generated, held-out real), {args.eval_n} vs {args.eval_n} (POT)", fontsize=10)
    axes[1].set_ylabel("W1 (log scale)")
    axes[2].axhline(0, color="k", lw=0.8)
    axes[2].set_title("cos(critic step direction before clamp, gradient)", fontsize=10)
    axes[2].set_ylabel(f"minimum over {5 * args.log_every} critic steps")
    for ax in axes:
        ax.set_xlabel("generator iterations (5 critic steps each)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(
        f"wgan_clip on {args.data}: RMSProp vs Adam at lr {args.lr:g}, clip 0.01  "
        f"(mean over seeds {', '.join(map(str, args.seeds))}; band: min–max)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1000, help="generator iterations per run")
    parser.add_argument("--optimizers", nargs="+", choices=tuple(OPTIMIZERS), default=list(OPTIMIZERS))
    parser.add_argument("--lr", type=float, default=5e-5, help="learning rate of both networks, every optimizer")
    parser.add_argument("--data", choices=("ring8", "grid25"), default="ring8")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--eval-n", type=int, default=2500)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--workers", type=int, default=2, help="processes (runs are independent; results do not depend on this)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", type=Path, default=Path("docs/img/results"))
    parser.add_argument("--name", default=NAME, help="file names <name>.png and <name>.json")
    args = parser.parse_args()
    start = time.perf_counter()
    floor = [w1(mixture_sample(args.data, args.eval_n, HELD_OUT_SEED), mixture_sample(args.data, args.eval_n, s))
             for s in FLOOR_SEEDS]
    runs = run_all(args)
    seconds = time.perf_counter() - start
    summary = summarise(runs, args, floor)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(summary, args, args.out / f"{args.name}.png")
    config = {k: v for k, v in vars(args).items() if k not in ("out", "name")}
    write_result(args.out / f"{args.name}.json", NAME, config, seconds, key_numbers(summary, args), summary)
    print(f"{seconds:.0f} s; wrote {args.out / (args.name + '.png')} and {args.out / (args.name + '.json')}")



if __name__ == "__main__":
    main()
