"""Metrics in a feature space, from features (n, d) and class probabilities (n, K) (no torch).

The features come from a classifier (:mod:`.classifier`: the digits classifier, or a user's
TorchScript Inception); these are the formulas, in numpy/scipy:

* FID (Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter 2017): the Fréchet distance of
  Gaussians fitted to the two feature sets, ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}).
* KID (Bińkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD GANs", §4): the
  unbiased estimate of MMD² with the cubic polynomial kernel k(x, y) = (x·y/d + 1)³.
* Inception Score (Salimans et al. 2016, §4): exp E_x KL(p(y|x) ‖ p(y)), p(y) = E_x p(y|x).
* Precision and recall (Kynkäänniemi, Karras, Laine, Lehtinen & Aila 2019, §2): a set's
  manifold is the union of balls around its points reaching their k-th nearest neighbour
  (k = 3); precision is the fraction of generated samples inside the real manifold, recall
  the fraction of real samples inside the generated one.
* Density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, §3): with balls around the real
  points to their k-th nearest real neighbour (k = 5), density counts how many balls hold
  each generated sample (divided by k; 1 on average when the sets match), coverage is the
  fraction of real balls that hold at least one generated sample.
* Class histogram: the classes among the argmax predictions of the generated samples, and
  the total-variation and KL distances of their histogram to the uniform one.
"""
from __future__ import annotations

import warnings
from typing import Any

from ..errors import GankitError

PR_K, DC_K = 3, 5
#: FID's offset when (Σ₁Σ₂)^{1/2} is singular or not finite, as in the reference
#: implementation (bioinf-jku/TTUR ``fid.py``; mseitzer/pytorch-fid).
FID_EPS = 1e-6
#: Largest imaginary part on the diagonal of (Σ₁Σ₂)^{1/2} that is taken as rounding error.
FID_IMAG_TOL = 1e-3


def _f64(x: Any) -> Any:
    import numpy as np

    return np.asarray(x, dtype=np.float64)


def fid(f1: Any, f2: Any) -> float:
    """Fréchet distance between Gaussians fitted to features ``f1`` (n, d) and ``f2`` (m, d)."""
    import numpy as np
    from scipy import linalg

    f1, f2 = _f64(f1), _f64(f2)
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    s1, s2 = np.atleast_2d(np.cov(f1, rowvar=False)), np.atleast_2d(np.cov(f2, rowvar=False))
    with warnings.catch_warnings():  # a singular product is handled below, as the reference code does
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = FID_EPS * np.eye(len(s1))
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imaginary = np.abs(np.diagonal(covmean).imag).max()
        if imaginary > FID_IMAG_TOL:
            raise GankitError(
                f"fid: the covariance square root has an imaginary part of {imaginary:.3g}; too few samples for the features?"
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid(f1: Any, f2: Any) -> float:
    """Unbiased MMD² between features ``f1`` (n, d) and ``f2`` (m, d), cubic polynomial kernel
    (one estimate on the whole sets; Bińkowski et al. average it over subsets of 1,000)."""
    f1, f2 = _f64(f1), _f64(f2)
    d = f1.shape[1]
    k11 = (f1 @ f1.T / d + 1) ** 3
    k22 = (f2 @ f2.T / d + 1) ** 3
    k12 = (f1 @ f2.T / d + 1) ** 3
    n, m = len(f1), len(f2)
    within1 = (k11.sum() - k11.trace()) / (n * (n - 1))
    within2 = (k22.sum() - k22.trace()) / (m * (m - 1))
    return float(within1 + within2 - 2 * k12.mean())


def inception_score(probs: Any) -> float:
    """exp E_x KL(p(y|x) ‖ p(y)) from class probabilities ``probs`` (n, K), on the whole set
    (Salimans et al. average it over 10 splits)."""
    import numpy as np
    from scipy.special import xlogy

    probs = _f64(probs)
    marginal = probs.mean(axis=0, keepdims=True)
    kl = (xlogy(probs, probs) - xlogy(probs, marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))


def _kth_neighbour_radii(x: Any, k: int) -> Any:
    """Distance from each point of ``x`` to its k-th nearest other point of ``x``."""
    import numpy as np
    from scipy.spatial.distance import cdist

    if len(x) <= k:
        raise GankitError(f"a k-nearest-neighbour metric with k = {k} needs more than {k} samples a set, got {len(x)}")
    return np.partition(cdist(x, x), k, axis=1)[:, k]  # index 0 is the point itself


def precision_recall(real: Any, fake: Any, k: int = PR_K) -> tuple[float, float]:
    """Improved precision and recall of ``fake`` against ``real`` features (Kynkäänniemi et al.)."""
    from scipy.spatial.distance import cdist

    real, fake = _f64(real), _f64(fake)
    distance = cdist(real, fake)  # (n_real, n_fake)
    precision = (distance <= _kth_neighbour_radii(real, k)[:, None]).any(axis=0).mean()
    recall = (distance <= _kth_neighbour_radii(fake, k)[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def density_coverage(real: Any, fake: Any, k: int = DC_K) -> tuple[float, float]:
    """Density and coverage of ``fake`` against ``real`` features (Naeem et al.)."""
    from scipy.spatial.distance import cdist

    real, fake = _f64(real), _f64(fake)
    inside = cdist(real, fake) <= _kth_neighbour_radii(real, k)[:, None]  # (n_real, n_fake)
    density = inside.sum() / (k * len(fake))
    coverage = inside.any(axis=1).mean()
    return float(density), float(coverage)


def class_histogram(probs: Any) -> tuple[float, float, float]:
    """(fraction of the K classes predicted for at least one sample, TV and KL distance of the
    predicted-class histogram p̂ to uniform): ½Σ|p̂ − 1/K| and Σ p̂ log(K p̂)."""
    import numpy as np
    from scipy.special import xlogy

    probs = _f64(probs)
    n_classes = probs.shape[1]
    hist = np.bincount(probs.argmax(axis=1), minlength=n_classes) / len(probs)
    tv = 0.5 * np.abs(hist - 1 / n_classes).sum()
    kl = xlogy(hist, hist * n_classes).sum()
    return float((hist > 0).mean()), float(tv), float(kl)
