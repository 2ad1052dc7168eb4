"""The feature extractors behind the feature-space metrics (torch).

No Inception weights can be downloaded here (REFERENCES.md §3), so the built-in extractor is
a small CNN trained on the first third of the 8×8 digits (:func:`gankit.metrics.digits_split`),
with random shifts of up to one pixel, and tested on the other two thirds (97.9% accurate).
Its 64 penultimate features (the input of its last linear layer, as Inception's pool3 is of
its logits layer) feed FID, KID, precision/recall and density/coverage; its softmax feeds the
Inception Score and the class histogram. The weights ship as ``digits_classifier.pt``
(tensors and plain values: ``torch.load(weights_only=True)`` reads it). To retrain them
(seeded, on one CPU thread: bitwise the same on the same machine and torch, the same
accuracy elsewhere)::

    python -m gankit.metrics.classifier            # rewrites gankit/metrics/digits_classifier.pt
    python -m gankit.metrics.classifier --out other.pt

Where Inception (or any) weights are at hand, ``--features PATH`` names a TorchScript module
mapping a float32 batch (B, *shape) of samples in the data's range ([-1, 1] for images;
resizing and normalisation are the module's job) to ``(features, logits)`` or to
``features``. It is loaded from the file only, never downloaded; without logits the
Inception Score and class histogram cannot be computed.
"""
from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..errors import GankitError
from . import Embedding, digits_split

WEIGHTS = Path(__file__).with_name("digits_classifier.pt")
#: Training recipe: Adam, minibatches of 32 in seeded shuffled epochs, each image shifted by
#: a random offset in {-1, 0, 1}² (background fills the border), one CPU thread.
SEED, EPOCHS, BATCH, LR, WEIGHT_DECAY = 0, 120, 32, 1e-3, 1e-4
CHUNK = 500


class DigitsClassifier(nn.Module):
    """conv3×3(1→16) ReLU, conv3×3(16→32) ReLU, 2×2 max-pool, linear 512→64 ReLU (the
    features), linear 64→10 (the logits). 38,282 parameters."""

    FEATURES = 64

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, self.FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(self.FEATURES, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return features, self.head(features)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from ..data import digits

    data = digits({})
    return data.x, data.y


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``."""
    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(x))[1].argmax(1).numpy() == y).mean())


def shifted(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Each image of ``x`` (B, C, H, W) moved by a random offset in {-1, 0, 1}², the border
    filled with the background value -1."""
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, (1, 1, 1, 1), value=-1.0)
    dy, dx = torch.randint(0, 3, (2, b), generator=rng)
    out = torch.empty_like(x)
    for i in range(3):
        for j in range(3):
            hit = (dy == i) & (dx == j)
            out[hit] = padded[hit, :, i : i + h, j : j + w]
    return out


def train_classifier(out: str | Path | None = WEIGHTS, epochs: int = EPOCHS) -> dict[str, Any]:
    """Train the digits classifier from scratch, deterministically, and write it to ``out``
    (unless None). Returns what is saved: ``state_dict``, ``test_accuracy`` and the recipe."""
    x, y = _digits()
    train, test_a, test_b = digits_split(y)
    test = np.concatenate([test_a, test_b])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same reduction order, the same weights
    try:
        torch.manual_seed(SEED)
        model = DigitsClassifier()
        optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        xs, ys = torch.from_numpy(x[train]), torch.from_numpy(y[train])
        rng = torch.Generator().manual_seed(SEED)
        for _ in range(epochs):
            perm = torch.randperm(len(xs), generator=rng)
            for start in range(0, len(xs), BATCH):
                index = perm[start : start + BATCH]
                loss = nn.functional.cross_entropy(model(shifted(xs[index], rng))[1], ys[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        state = {
            "state_dict": model.state_dict(),
            "test_accuracy": accuracy(model, x[test], y[test]),
            "train_size": len(train),
            "test_size": len(test),
            "recipe": {"seed": SEED, "epochs": epochs, "batch": BATCH, "lr": LR, "weight_decay": WEIGHT_DECAY},
            "torch": str(torch.__version__),
        }
    finally:
        torch.set_num_threads(threads)
    if out is not None:
        torch.save(state, out)
    return state


@functools.lru_cache(maxsize=2)
def load_classifier(path: str | Path = WEIGHTS) -> DigitsClassifier:
    """The digits classifier with its shipped (or retrained) weights, in eval mode. Its
    throwaway initial weights are drawn on a forked RNG, so loading it (the first metric
    evaluation of a run) leaves the training's random stream as it was."""
    with torch.random.fork_rng(devices=[]):
        model = DigitsClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    return model.eval()


@functools.lru_cache(maxsize=2)
def _load_torchscript(path: str) -> Any:
    try:
        module = torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        raise GankitError(f"--features {path} is not a TorchScript module: {type(exc).__name__}") from None
    return module.eval()


def extractor(features: str | None) -> Callable[[np.ndarray], Embedding]:
    """``samples -> Embedding``: the digits classifier, or the TorchScript module at ``features``."""
    model = load_classifier() if features is None else _load_torchscript(str(features))

    def embed(x: np.ndarray) -> Embedding:
        feats, logits = [], []
        with torch.no_grad():
            for start in range(0, len(x), CHUNK):
                out = model(torch.from_numpy(np.ascontiguousarray(x[start : start + CHUNK], dtype=np.float32)))
                f, logit = out if isinstance(out, (tuple, list)) else (out, None)
                feats.append(f.reshape(len(f), -1).double().numpy())
                if logit is not None:
                    logits.append(logit.double())
        probs = torch.cat(logits).softmax(dim=1).numpy() if logits else None
        return Embedding(np.concatenate(feats), probs)

    return embed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gankit.metrics.classifier",
                                     description="Retrain the digits classifier of the feature metrics.")
    parser.add_argument("--out", default=str(WEIGHTS), help=f"where to write the weights (default: {WEIGHTS})")
    args = parser.parse_args(argv)
    state = train_classifier(args.out)
    print(f"wrote {args.out}: test accuracy {state['test_accuracy']:.4f} on {state['test_size']} held-out digits "
          f"(trained on {state['train_size']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
