"""Does the critic's estimate track sample quality? (WGAN, Arjovsky et al. 2017, Fig. 3-4.)

Source: the WGAN paper's central practical claim, repeated by the seeds (REFERENCES.md §1 and
§3 "Critic-tracks-quality"): the critic's estimate ``mean f(x) - mean f(G(z))`` falls as the
samples improve, unlike the losses of the original GAN. Protocol: train ``wgan_clip`` and
``wgan_gp`` (their plugins' paper defaults, the default ``mlp`` networks) and at K evenly
spaced checkpoints record, on held-out data (``gankit.metrics.real_sets``: fresh mixture
draws, or the digits test split the classifier never saw):

* the critic's estimate: mean critic score on held-out real samples minus on generated ones;
* the exact W1 between generated and held-out samples (POT, ``gankit.metrics.transport.w1``);
* on ``ring8`` the high-quality share (``modes_hq``), on ``digits`` the classifier FID
  (``gankit.metrics.features.fid`` on the shipped digits classifier's features).

The estimate is K·W1 for an unknown, changing K, so we report Spearman's rank correlation ρ
between the estimate and W1 (and FID) over the checkpoints. Target (issue 5): ρ ≥ 0.9. The
checkpoint at step 0 is recorded but left out of ρ: its critic is untrained (f ≈ 0, so the
estimate is ≈ 0 while the samples are at their worst), and WGAN's curves, too, start once the
critic has trained; ``rho_*_all`` keeps it, for the record. Generated samples come from
``Trainer.sample`` (generator in eval mode, fixed noise).

Regenerate the committed plot (CPU, 2 processes)::

    python experiments/critic_tracks_quality.py

Writes ``critic_tracks_quality.png`` and ``critic_tracks_quality.json`` under ``--out``
(``--name`` changes the file name);
``--from-json FILE`` recomputes ρ and redraws the plot from a saved JSON without training.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

VARIANTS = ("wgan_clip", "wgan_gp")
DATASETS = ("ring8", "digits")
#: The checkpoints rho is over, and the plot shows: all but step 0, whose critic is untrained.
TRAINED = slice(1, None)


def critic_estimate(critic, real, fake) -> float:
    """mean f(x) − mean f(G(z)) on held-out real samples and generated ones."""
    import torch

    with torch.no_grad():
        critic.eval()
        estimate = critic(torch.from_numpy(real)).mean() - critic(torch.from_numpy(fake)).mean()
        critic.train()
    return float(estimate)


def refined_estimate(trainer, real, fake, refine: int) -> float:
    """The estimate after ``refine`` more critic steps against the frozen generator; the
    trainer is put back exactly as it was (models, optimizers, data order, random state)."""
    import copy

    saved = copy.deepcopy(trainer.state_dict())
    for _ in range(refine):
        trainer.critic_step()
    estimate = critic_estimate(trainer.critic, real, fake)
    trainer.load_state_dict(saved)
    return estimate


def run_one(variant: str, data: str, steps: int, checkpoints: int, n: int, seed: int, arch: str, toy_width: int,
            refine: int) -> dict:
    import torch

    from _common import make_trainer, toy_settings
    from gankit.metrics import real_sets
    from gankit.metrics.classifier import extractor
    from gankit.metrics.features import fid
    from gankit.metrics.mixture import modes_hq
    from gankit.metrics.transport import w1

    torch.set_num_threads(1)
    start = time.perf_counter()
    arch_plugins, arch_options = toy_settings(variant, data, toy_width) if arch == "toy" else ([], {})
    options = {**arch_options, "data": data, "steps": steps, "seed": seed, "device": "cpu", "progress": "off"}
    trainer = make_trainer([variant, *arch_plugins], options)
    real, _ = real_sets(trainer.dataset, n, seed=seed)
    embed = extractor(None) if data == "digits" else None
    real_features = embed(real).features if embed else None
    record = {"variant": variant, "data": data, "arch": arch, "refine": refine, "step": [], "estimate": [],
              "estimate_refined": [], "w1": [], "hq": [], "fid": []}
    every = max(1, steps // checkpoints)
    while True:
        if trainer.step % every == 0:
            fake = trainer.sample(len(real), seed=12_345).numpy()
            record["step"].append(trainer.step)
            record["estimate"].append(critic_estimate(trainer.critic, real, fake))
            if refine:
                record["estimate_refined"].append(refined_estimate(trainer, real, fake, refine))
            record["w1"].append(w1(fake, real))
            if data == "ring8":
                record["hq"].append(modes_hq(fake, trainer.dataset.centers, trainer.dataset.std)[1])
            else:
                record["fid"].append(fid(embed(fake).features, real_features))
        if trainer.step >= steps:
            break
        trainer.train_step()
        trainer.step += 1
    record["seconds"] = round(time.perf_counter() - start, 1)
    return record


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 3.4), squeeze=False)
    for ax, r in zip(axes[0], records):
        steps = r["step"][TRAINED]
        ax.plot(steps, r["estimate"][TRAINED], color="tab:blue", label="critic estimate")
        if r.get("estimate_refined"):
            ax.plot(steps, r["estimate_refined"][TRAINED], color="tab:blue", linestyle="--",
                    label=f"after {r['refine']} more critic steps")
            ax.legend(fontsize=7, loc="upper right")
        ax.set_xlabel("generator iterations")
        ax.set_ylabel("critic estimate", color="tab:blue")
        other = ax.twinx()
        key = "fid" if r["data"] == "digits" else "w1"
        other.plot(steps, r[key][TRAINED], color="tab:red", label=key.upper())
        other.set_ylabel("classifier FID" if key == "fid" else "exact W1 to held-out", color="tab:red")
        ax.set_title(f"{r['variant']} ({r.get('arch', 'mlp')}) on {r['data']}: ρ(est, W1) = {r['rho_w1']:.2f}"
                     + (f", ρ(est, FID) = {r['rho_fid']:.2f}" if key == "fid" else "")
                     + (f"\nrefined: ρ(est, {key.upper()}) = {r[f'rho_{key}_refined']:.2f}" if r.get("rho_w1_refined") is not None
                        else ""), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--checkpoints", type=int, default=20)
    parser.add_argument("-n", type=int, default=1000, help="samples per set (digits: at most its 599 held-out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arch", choices=("mlp", "toy"), default="mlp",
                        help="mlp: each plugin's defaults; toy: the WGAN-GP toy networks and settings (mode_collapse.py's)")
    parser.add_argument("--toy-width", type=int, default=128, help="hidden units of the toy MLPs (the toy code: 512)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs/img/results"))
    parser.add_argument("--refine", type=int, default=0,
                        help="also record the estimate after this many more critic steps on the frozen generator "
                             "at each checkpoint (the authors' code trains 100 every 500th iteration); training is unaffected")
    parser.add_argument("--name", default="critic_tracks_quality", help="file name (without suffix) of the plot and JSON")
    parser.add_argument("--from-json", type=Path, help="recompute rho and redraw from this saved JSON; no training")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        records, settings = saved["runs"], saved["settings"]
    else:
        jobs = [(v, d, args.steps, args.checkpoints, args.n, args.seed, args.arch, args.toy_width, args.refine)
                for v in args.variants for d in args.data]
        with ProcessPoolExecutor(args.workers) as pool:
            records = list(pool.map(run_one, *zip(*jobs)))
        settings = {**vars(args), "out": str(args.out), "from_json": None}
    for r in records:
        r["rho_w1"] = spearman(r["estimate"][TRAINED], r["w1"][TRAINED])
        r["rho_w1_all"] = spearman(r["estimate"], r["w1"])
        r["rho_fid"] = spearman(r["estimate"][TRAINED], r["fid"][TRAINED]) if r["fid"] else None
        r["rho_fid_all"] = spearman(r["estimate"], r["fid"]) if r["fid"] else None
        refined = r.get("estimate_refined") or None
        r["rho_w1_refined"] = spearman(refined[TRAINED], r["w1"][TRAINED]) if refined else None
        r["rho_fid_refined"] = spearman(refined[TRAINED], r["fid"][TRAINED]) if refined and r["fid"] else None
        fid_text = f", rho(estimate, FID) = {r['rho_fid']:.3f}" if r["fid"] else ""
        refined_text = f"; refined: {r['rho_w1_refined']:.3f}" if refined else ""
        refined_text += f", {r['rho_fid_refined']:.3f}" if refined and r["fid"] else ""
        print(f"{r['variant']:>10} {r['data']:>6}: rho(estimate, W1) = {r['rho_w1']:.3f}{fid_text}{refined_text} "
              f"({r['seconds']} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(records, args.out / f"{args.name}.png")
    (args.out / f"{args.name}.json").write_text(json.dumps({"settings": settings, "runs": records}, indent=1))


if __name__ == "__main__":
    main()
