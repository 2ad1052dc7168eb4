"""Modes captured and high-quality samples on 2-D Gaussian mixtures (no torch).

The protocol of VEEGAN (Srivastava, Valkov, Russell, Gutmann & Sutton 2017, §5.1) and PacGAN
(Lin, Khetan, Fanti & Oh 2018, §5.1), REFERENCES.md §3: a sample is *high quality* (HQ) if it
lies within 3 standard deviations of its nearest centre; a mode is *captured* if it is the
nearest centre of at least one HQ sample. The two are reported together, since a collapsed
generator scores 1 mode at ~99% HQ. Real 2-D samples are HQ with probability
P(χ²₂ ≤ 9) = 1 − e^{−4.5} ≈ 98.9%.
"""
from __future__ import annotations

from typing import Any

HQ_STDS = 3.0


def modes_hq(x: Any, centers: Any, std: float) -> tuple[int, float]:
    """Modes captured by samples ``x`` (n, D) of a mixture with ``centers`` (K, D) and
    component ``std``, and the percentage of high-quality samples."""
    import numpy as np
    from scipy.spatial.distance import cdist

    distance = cdist(np.asarray(x, dtype=np.float64), np.asarray(centers, dtype=np.float64))  # (n, K)
    nearest = distance.argmin(axis=1)
    hq = distance[np.arange(len(nearest)), nearest] <= HQ_STDS * std
    return len(np.unique(nearest[hq])), 100.0 * float(hq.mean())
