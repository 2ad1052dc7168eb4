"""Parzen-window (Gaussian kernel density) log-likelihood (no torch).

The estimate of Breuleux, Bengio & Vincent (2011) used by Goodfellow et al. (2014, §5) for
GANs: put an isotropic Gaussian of width σ on each of m generated samples g_j,

    log p̂(x) = logsumexp_j(−‖x − g_j‖² / 2σ²) − log m − (d/2)·log(2πσ²),

choose σ on a validation set of real samples (the highest mean log-likelihood on a log-spaced
grid, then on a finer grid around the best value), and report the mean log-likelihood (nats)
of a separate test set.

Caveats (Theis, van den Oord & Bethge 2016, "A note on the evaluation of generative models",
§3.2): in more than a few dimensions the estimate is far from the true log-likelihood even
with millions of samples, and it ranks models unreliably (a model that memorises or slightly
blurs the training data can score well). Use it on the 2-D sets, or only beside other
metrics. It is in nats per sample (not per dimension), so it is not comparable across data.
"""
from __future__ import annotations

from typing import Any

#: The σ grid: 9 log-spaced values from 1e-3 to 1 times the real data's scale
#: sqrt(mean per-dimension variance) (ratio 2.37), then 9 from the best one's neighbours
#: below to above (ratio 1.24; the log-likelihood is flat near its maximum).
GRID_LOW, GRID_HIGH, GRID_POINTS = 1e-3, 1.0, 9
#: Test points per block of the distance matrix (bounds memory at block × kernels doubles).
BLOCK = 512


def _flat(x: Any) -> Any:
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def _squared_distances(x: Any, kernels: Any) -> Any:
    from scipy.spatial.distance import cdist

    return cdist(x, kernels, metric="sqeuclidean")


def log_likelihoods(x: Any, kernels: Any, sigmas: Any) -> Any:
    """Mean log p̂(x) over ``x`` (n, d) for each σ in ``sigmas``, kernels at ``kernels`` (m, d)."""
    import numpy as np
    from scipy.special import logsumexp

    x, kernels = _flat(x), _flat(kernels)
    sigmas = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    m, d = kernels.shape
    total = np.zeros(len(sigmas))
    for start in range(0, len(x), BLOCK):
        sq = _squared_distances(x[start : start + BLOCK], kernels)  # (b, m)
        for i, sigma in enumerate(sigmas):
            total[i] += logsumexp(-sq / (2 * sigma**2), axis=1).sum()
    return total / len(x) - np.log(m) - d / 2 * np.log(2 * np.pi * sigmas**2)


def parzen(kernels: Any, valid: Any, test: Any) -> tuple[float, float]:
    """Mean test log-likelihood under the Parzen window on ``kernels``, with σ chosen on
    ``valid`` from the grid; returns (log-likelihood, σ)."""
    import numpy as np

    scale = float(np.sqrt(_flat(valid).var(axis=0).mean())) or 1.0
    coarse = scale * np.geomspace(GRID_LOW, GRID_HIGH, GRID_POINTS)
    best = coarse[np.argmax(log_likelihoods(valid, kernels, coarse))]
    ratio = coarse[1] / coarse[0]
    fine = np.geomspace(best / ratio, best * ratio, GRID_POINTS)
    sigma = float(fine[np.argmax(log_likelihoods(valid, kernels, fine))])
    return float(log_likelihoods(test, kernels, sigma)[0]), sigma
