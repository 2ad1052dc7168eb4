"""Wasserstein-1 distances between two sample sets, with POT (no torch).

* Exact W1 (REFERENCES.md §3): the optimal transport cost between the two empirical
  measures with uniform weights and Euclidean ground cost,
  ``ot.emd2(a, b, ot.dist(X, Y, metric="euclidean"))`` (``ot.dist`` alone is the *squared*
  Euclidean cost, which would give W2²). In 1-D with equal sizes it equals
  mean |sort(x) − sort(y)|. From n samples it is biased upward (an empirical measure is far
  from its own distribution in Wasserstein distance, Fournier & Guillin 2015), hence the
  real-vs-real baseline beside it.
* Sliced W1 (Rabin, Peyré, Delon & Bernot 2011; Bonneel, Rabin, Peyré & Pfister 2015): the
  mean over L random directions θ, uniform on the sphere, of W1 between the projections
  θ·X and θ·Y; cheap in high dimension (sorting instead of a transport problem). The
  directions are fixed: L = :data:`SLICED_PROJECTIONS` drawn with seed
  :data:`SLICED_SEED`, the same for every call, so values compare across checkpoints.
"""
from __future__ import annotations

from typing import Any

from ..errors import GankitError

SLICED_PROJECTIONS = 500
SLICED_SEED = 0
#: Network-simplex iterations for the exact problem (POT's default of 1e5 stops early above
#: a few hundred samples a side).
EMD_MAX_ITER = 10_000_000


def _flat(x: Any) -> Any:
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def w1(x: Any, y: Any) -> float:
    """Exact W1 between the empirical measures of ``x`` (n, ...) and ``y`` (m, ...)."""
    import numpy as np
    import ot

    x, y = _flat(x), _flat(y)
    cost = ot.dist(x, y, metric="euclidean")
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    value, log = ot.emd2(a, b, cost, numItermax=EMD_MAX_ITER, log=True)
    if log["warning"] is not None:
        raise GankitError(f"w1: the exact transport problem did not converge ({log['warning']})")
    return float(value)


def projections(dim: int, n: int = SLICED_PROJECTIONS, seed: int = SLICED_SEED) -> Any:
    """``n`` directions uniform on the unit sphere of R^dim, as columns (dim, n)."""
    import numpy as np

    theta = np.random.default_rng(seed).standard_normal((dim, n))
    return theta / np.linalg.norm(theta, axis=0, keepdims=True)


def sliced_w1(x: Any, y: Any) -> float:
    """Sliced W1 between ``x`` and ``y`` over the fixed directions of :func:`projections`."""
    import ot

    x, y = _flat(x), _flat(y)
    return float(ot.sliced_wasserstein_distance(x, y, p=1, projections=projections(x.shape[1])))
