"""Digits: a sample grid and a metrics table per variant, with the real-vs-real floor.

Source: issue 5, experiment 5; metrics as in ``gankit eval`` (REFERENCES.md §3: feature-space
metrics on the shipped digits classifier, which never saw the held-out thirds used here).
Each variant trains on the built-in 8×8 ``digits`` with its plugin's paper defaults and the
default ``mlp`` networks for ``--steps`` generator iterations (same seed), then is
evaluated with ``gankit.api.evaluate`` (classifier FID, KID, Inception-style score,
precision/recall k=3, density/coverage k=5, class coverage; 599 samples against 599
held-out digits, each value beside the same metric between two held-out real sets).

Regenerate the committed plot (CPU, 2 processes)::

    python experiments/digits_variants.py

Writes ``digits_variants.png`` and ``digits_variants.json`` under ``--out``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

VARIANTS = ("wgan_clip", "wgan_gp", "nsgan", "lsgan", "sngan", "hinge")
KEYS = ("fid", "kid", "is", "precision", "recall", "density", "coverage", "classes")


def run_one(variant: str, steps: int, seed: int, root: str) -> dict:
    import torch

    import gankit
    from gankit.metrics import flat

    torch.set_num_threads(1)
    start = time.perf_counter()
    out = Path(root) / variant
    options = {"data": "digits", "steps": steps, "seed": seed, "device": "cpu", "progress": "off", "log_every": steps}
    trainer = gankit.train([variant], options, out=out)
    grid = trainer.sample(64, seed=7).numpy()
    result = gankit.api.evaluate(out, n=599, seed=seed)
    return {"variant": variant, "metrics": flat(result["metrics"]), "grid": grid.tolist(),
            "seconds": round(time.perf_counter() - start, 1)}


def tile(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """(N, 1, H, W) in [-1, 1] -> one (rows·H, columns·W) picture in [0, 1]."""
    n, _, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.ones((rows * (h + 1), columns * (w + 1)))
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = (image[0] + 1) / 2
    return canvas


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.data import BUILTIN

    real = BUILTIN["digits"]({}).x[:64]
    panels = [("real digits", real, None)] + [(r["variant"], np.asarray(r["grid"]), r["metrics"]) for r in runs]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 2.8))
    for ax, (name, images, metrics) in zip(axes, panels):
        ax.imshow(tile(images), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        subtitle = f"\nFID {metrics['fid']:.1f} (floor {metrics['fid_real']:.1f})" if metrics else "\n"
        ax.set_title(name + subtitle, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs/img/results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, ProcessPoolExecutor(args.workers) as pool:
        n = len(args.variants)
        runs = list(pool.map(run_one, args.variants, [args.steps] * n, [args.seed] * n, [root] * n))
    print("| variant | " + " | ".join(KEYS) + " |")
    for r in runs:
        cells = " | ".join(f"{r['metrics'][k]:.3g} ({r['metrics'][k + '_real']:.3g})" for k in KEYS)
        print(f"| {r['variant']} | {cells} |  ({r['seconds']} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(runs, args.out / "digits_variants.png")
    record = {"settings": {**vars(args), "out": str(args.out)},
              "runs": [{k: v for k, v in r.items() if k != "grid"} for r in runs]}
    (args.out / "digits_variants.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
