"""Mode collapse on the 2-D mixtures: modes captured and high-quality samples per objective.

Source: the VEEGAN / PacGAN protocol (REFERENCES.md §3; VEEGAN 2017 Table 1, PacGAN 2018
Table 1, GDPP 2019 Table 1): ``ring8`` (8 Gaussians on the unit circle, std 0.01) and
``grid25`` (25 Gaussians on {-4,-2,0,2,4}², std 0.05). After training, draw 2,500 samples; a
sample is high quality (HQ) if within 3 std of its nearest centre; a mode is captured if it
is the nearest centre of at least one HQ sample (``gankit.metrics.mixture.modes_hq``). The
seeds claim WGAN avoids the mode collapse of the original GAN; we report modes and HQ %
together, mean over seeds, beside the published rows (REFERENCES.md §4).

Every objective runs with its own plugin's recommended (paper) defaults, on the same networks
and with the same sampling, so the comparison is of objectives: by default the WGAN-GP toy
code's ReLU MLPs (``toy``, here 128 units wide instead of 512 to fit a CPU), batch 256, and
samples drawn from an exponential moving average of the generator's weights (``ema``,
β = 0.999; Yazıcı et al. 2019). ``wgan_gp`` takes the toy code's own settings on top
(``_common.TOY_WGAN_GP``: λ = 0.1, Adam β = (0.5, 0.9)) with a learning rate of 1e-3 on the
grid and 3e-4 on the ring instead of its 1e-4 (chosen on seeds 0 and 1 in a short sweep,
docs/results.md). ``--arch mlp --no-ema`` gives the
first protocol (the default ``mlp`` networks, last iterate). Architectures differ from the
published rows (VEEGAN used small MLPs, GDPP/PacGAN their own), as REFERENCES.md §4 warns.

Regenerate the committed plot and numbers (CPU, 2 processes, about 12 min per ``wgan_gp``
run; docs/results.md gives the seeds of each committed row), in parts, then summarise::

    python experiments/mode_collapse.py --variants wgan_gp --seeds 5 --cache runs/mode_collapse_toy
    python experiments/mode_collapse.py --variants mmgan nsgan lsgan wgan_clip sngan --seeds 5 --cache runs/mode_collapse_toy
    python experiments/mode_collapse.py --cache runs/mode_collapse_toy --cached-only

Writes ``mode_collapse.png`` (samples of seed 0 per variant and data set) and
``mode_collapse.json`` (every run's modes and HQ %, and the means) under ``--out``; with
``--cache DIR`` every finished run is kept in DIR and reused by a later call with the same
settings, so a long table can be built in parts.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

VARIANTS = ("mmgan", "nsgan", "lsgan", "wgan_clip", "wgan_gp", "sngan", "hinge", "ragan")
DEFAULT_VARIANTS = VARIANTS[:6]
DATASETS = ("ring8", "grid25")
SAMPLES = 2500
#: Published rows (REFERENCES.md §4): method -> (ring modes, ring HQ %, grid modes, grid HQ %).
PUBLISHED = {
    "GAN (VEEGAN 2017)": (1, 99.3, 3.3, 0.5),
    "Unrolled GAN (VEEGAN 2017)": (7.6, 35.6, 23.6, 16),
    "VEEGAN (VEEGAN 2017)": (8, 52.9, 24.6, 40),
    "WGAN-GP (GDPP 2019)": (6.8, 59.6, 24.2, 28.7),
    "GDPP (GDPP 2019)": (8.0, 71.7, 24.8, 68.5),
    "GAN (PacGAN 2018)": (6.3, 98.2, 17.3, 94.8),
    "PacGAN4 (PacGAN 2018)": (7.8, 95.9, 24.8, 93.6),
}


def run_settings(variant: str, data: str, seed: int, args: argparse.Namespace) -> tuple[list[str], dict]:
    """The plugins and options of one run."""
    from _common import toy_settings

    arch_plugins, arch_options = toy_settings(variant, data, args.toy_width) if args.arch == "toy" else ([], {})
    plugins = [variant, *arch_plugins] + (["ema"] if args.ema else [])
    options = {**arch_options, "data": data, "steps": args.steps, "batch_size": args.batch_size, "seed": seed,
               "device": "cpu", "progress": "off", "log_every": args.steps}
    return plugins, options


def run_one(plugins: list[str], options: dict, cache: Path | None, cached_only: bool = False) -> dict | None:
    """Train one variant on one mixture with one seed; return its scores and samples.

    With ``cache``, a finished run is written there and read back by a later call with the
    same plugins and options instead of training again; ``cached_only`` returns None for a
    run that is not there, and a run stopped by a signal before its last step returns None.
    """
    key = {"plugins": plugins, "options": options}
    name = f"{plugins[0]}-{options['data']}-seed{options['seed']}.json"
    if cache is not None and (cache / name).is_file():
        saved = json.loads((cache / name).read_text())
        if saved["key"] == key:
            return saved["run"]
    if cached_only:
        return None
    import torch

    import gankit
    from gankit.metrics.mixture import modes_hq

    torch.set_num_threads(1)
    start = time.perf_counter()
    variant, data, seed = plugins[0], options["data"], options["seed"]
    trainer = gankit.train(plugins, options)
    if trainer.step < options["steps"]:  # stopped by Ctrl-C/SIGTERM: not a result, never cached
        print(f"stopped: {variant} {data} seed {seed} at step {trainer.step} of {options['steps']}", flush=True)
        return None
    x = trainer.sample(SAMPLES, seed=10_000 + seed).numpy()
    finite = bool(np.isfinite(x).all())
    modes, hq = modes_hq(x, trainer.dataset.centers, trainer.dataset.std) if finite else (0, 0.0)
    run = {"variant": variant, "data": data, "seed": seed, "modes": int(modes), "hq": float(hq), "finite": finite,
           "seconds": round(time.perf_counter() - start, 1), "samples": x.tolist()}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / name).write_text(json.dumps({"key": key, "run": run}))
    print(f"done: {variant} {data} seed {seed}: {modes} modes, {hq:.1f}% HQ ({run['seconds']} s)", flush=True)
    return run


def summarise(runs: list[dict]) -> dict:
    table = {}
    for variant in sorted({r["variant"] for r in runs}, key=list(VARIANTS).index):
        for data in DATASETS:
            rows = [r for r in runs if r["variant"] == variant and r["data"] == data]
            if rows:
                table.setdefault(variant, {})[data] = {
                    "modes": float(np.mean([r["modes"] for r in rows])), "modes_min": min(r["modes"] for r in rows),
                    "hq": float(np.mean([r["hq"] for r in rows])), "hq_min": min(r["hq"] for r in rows), "seeds": len(rows),
                }
    return table


def plot(runs: list[dict], table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.data import BUILTIN

    variants = list(table)
    fig, axes = plt.subplots(len(DATASETS), len(variants), figsize=(2.2 * len(variants), 4.6), squeeze=False)
    for row, data in enumerate(DATASETS):
        centers = BUILTIN[data]({}).centers
        for col, variant in enumerate(variants):
            ax = axes[row][col]
            run = next((r for r in runs if r["variant"] == variant and r["data"] == data and r["seed"] == 0), None)
            if run is not None and run["finite"]:
                x = np.asarray(run["samples"])
                ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4, color="tab:blue")
            ax.scatter(centers[:, 0], centers[:, 1], s=12, marker="x", color="tab:red")
            lim = 1.6 if data == "ring8" else 5.5
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            score = table[variant].get(data)
            if score:
                ax.set_title(f"{variant}\n{score['modes']:.1f} modes, {score['hq']:.0f}% HQ", fontsize=8)
    fig.suptitle("Samples after training (seed 0); titles: mean over seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=14000, help="generator iterations per run")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--arch", choices=("toy", "mlp"), default="toy", help="the networks of every run")
    parser.add_argument("--toy-width", type=int, default=128, help="hidden units of the toy MLPs (the toy code: 512)")
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="sample from an EMA of the generator's weights (--no-ema: the last iterate)")
    parser.add_argument("--workers", type=int, default=2, help="runs in parallel (one thread each)")
    parser.add_argument("--cache", type=Path, help="keep each finished run here and reuse it when asked again")
    parser.add_argument("--cached-only", action="store_true",
                        help="train nothing: summarise and plot the runs found in --cache (rows may have fewer seeds)")
    parser.add_argument("--out", type=Path, default=Path("docs/img/results"))
    args = parser.parse_args()
    if args.cached_only and args.cache is None:
        parser.error("--cached-only needs --cache")
    # seed-major: a table cut short has every objective's first seeds, not some objectives' all
    jobs = [(*run_settings(v, d, s, args), args.cache, args.cached_only)
            for s in range(args.seeds) for v in args.variants for d in args.data]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = [run for run in pool.map(run_one, *zip(*jobs)) if run is not None]
    for r in runs:
        print(f"{r['variant']:>10} {r['data']:>6} seed {r['seed']}: {r['modes']:>2} modes, {r['hq']:5.1f}% HQ ({r['seconds']} s)")
    table = summarise(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(runs, table, args.out / "mode_collapse.png")
    settings = {**vars(args), "out": str(args.out), "cache": str(args.cache),
                "runs": {f"{v} {d}": run_settings(v, d, 0, args) for v in args.variants for d in args.data}}
    record = {"settings": settings, "means": table, "published": PUBLISHED,
              "runs": [{k: v for k, v in r.items() if k != "samples"} for r in runs]}
    (args.out / "mode_collapse.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
