"""Evaluation metrics: the registry (the ``gankit_metrics`` hook), held-out real data, and
the evaluation loop shared by ``gankit eval`` and the ``evaluation`` plugin (no torch here).

A :class:`Metric` compares generated samples with a held-out real set and reports, beside
every value ``key``, the same metric between two disjoint real sets of the same size as
``key_real`` (REFERENCES.md §3: small samples bias W1, FID and their kin, so a number means
little without its real-vs-real floor). The real sets (:func:`real_sets`):

* 2-D mixtures with centres (``ring8``, ``grid25``): two fresh draws of n points from the
  centres and std, with seeds ``[seed, 1]`` and ``[seed, 2]`` (the training data is seed 0);
* ``digits``: the two held-out thirds of :func:`digits_split` (the classifier behind the
  feature metrics trains on the first third), so at most 599 samples a set;
* anything else: two disjoint random subsets of the training data, at most half of it each.

The modules beside this one hold the formulas, each with its paper: :mod:`.mixture` (modes
and high-quality samples), :mod:`.transport` (exact and sliced W1), :mod:`.features` (FID,
KID, Inception Score, precision/recall, density/coverage, class histogram), :mod:`.parzen`
(kernel density log-likelihood), :mod:`.classifier` (the digits classifier, torch) and
:mod:`.builtin` (the built-in metrics as :class:`Metric` objects).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..errors import GankitError

if TYPE_CHECKING:
    import numpy as np

    from ..data import Dataset

#: Suffix of the real-vs-real baseline of every reported key.
BASELINE = "_real"
#: Fewest samples a set that an evaluation accepts (k-NN metrics need k + 1).
MIN_SAMPLES = 10
#: Seed of the stratified digits split (fixed: the classifier's training data must not move).
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Embedding:
    """A set of samples seen by a feature extractor: ``features`` (n, d) and, when the
    extractor has a classification head, class probabilities ``probs`` (n, K)."""

    features: np.ndarray
    probs: np.ndarray | None


@dataclass
class EvalContext:
    """What a metric computes from.

    ``fake`` are the generated samples (n, *shape); ``real`` the held-out real reference set
    and ``real_alt`` a second real set disjoint from it, both (n, *shape): a metric reports
    ``f(fake, real)`` and, as its baseline, ``f(real_alt, real)``. ``options`` holds
    ``features`` (a TorchScript feature extractor's path, or None).
    """

    fake: np.ndarray
    real: np.ndarray
    real_alt: np.ndarray
    dataset: Dataset
    seed: int
    options: Mapping[str, Any]
    _embeddings: dict[str, Embedding] = field(default_factory=dict, repr=False)

    def embed(self, which: str) -> Embedding:
        """``"fake"``, ``"real"`` or ``"real_alt"`` through the feature extractor (cached)."""
        if which not in self._embeddings:
            from .classifier import extractor

            self._embeddings[which] = extractor(self.options.get("features"))(getattr(self, which))
        return self._embeddings[which]


@dataclass(frozen=True)
class Metric:
    """One evaluation metric, as the ``gankit_metrics`` hook returns it.

    ``applies(dataset, options)`` says whether it can run on a data set (with the evaluation's
    options, e.g. ``options["features"]``); ``compute(ctx)`` returns plain floats, each key
    with its real-vs-real baseline ``key + "_real"``. ``description`` is one line, ending
    with when the metric applies, in parentheses.
    """

    name: str
    description: str
    applies: Callable[[Dataset, Mapping[str, Any]], bool]
    compute: Callable[[EvalContext], dict[str, float]]


def collect(session: Any) -> dict[str, Metric]:
    """Every metric of the session's plugins, by name; a name claimed twice is an error."""
    found: dict[str, Metric] = {}
    owner: dict[str, str] = {}
    for plugin, answer in session.call_each("gankit_metrics"):
        for metric in answer:
            if not isinstance(metric, Metric):
                raise GankitError(f"plugin '{plugin}' returned a metric that is not a gankit.metrics.Metric: {metric!r}")
            if metric.name in found:
                raise GankitError(f"metric '{metric.name}' is provided by both '{owner[metric.name]}' and '{plugin}'")
            found[metric.name], owner[metric.name] = metric, plugin
    return found


def choose(
    available: Mapping[str, Metric], names: Sequence[str] | None, dataset: Dataset, options: Mapping[str, Any]
) -> list[Metric]:
    """The metrics ``names`` (all that apply to ``dataset`` when empty), in registry order.

    An unknown name, or one that does not apply, is a one-line error listing the choices.
    """
    applicable = [m for m in available.values() if m.applies(dataset, options)]
    choices = ", ".join(m.name for m in applicable)
    if not names:
        return applicable
    for name in names:
        if name not in available:
            raise GankitError(f"unknown metric '{name}'; choose from {choices}")
        metric = available[name]
        if metric not in applicable:
            raise GankitError(
                f"metric '{name}' does not apply to data {dataset.name}: {metric.description}; choose from {choices}"
            )
    wanted = set(names)
    return [m for m in available.values() if m.name in wanted]


def parse_names(text: str | Sequence[str] | None) -> list[str]:
    """``"fid, kid"`` or ``["fid", "kid"]`` -> ``["fid", "kid"]``; empty -> ``[]``."""
    if not text:
        return []
    parts = text.split(",") if isinstance(text, str) else list(text)
    return [p.strip() for p in parts if p.strip()]


# --- held-out real data ----------------------------------------------------------------------


def is_digits(dataset: Dataset) -> bool:
    """The built-in 8×8 digits (the feature metrics' classifier was trained on them)."""
    return dataset.name == "digits" and dataset.x.shape == (1797, 1, 8, 8) and dataset.y is not None


def digits_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of three stratified, disjoint thirds of the digits: ``train`` (the classifier's
    training set), ``test_a`` and ``test_b`` (held out; real reference and baseline sets).

    Each class's indices are shuffled with seed :data:`DIGITS_SPLIT_SEED` and dealt out in
    turn, the deal running on from class to class, so every third holds a third of each class
    (±1) and 599 of the 1,797 images.
    """
    import numpy as np

    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    parts: list[list[int]] = [[], [], []]
    dealt = 0
    for c in np.unique(y):
        for i in rng.permutation(np.flatnonzero(y == c)).tolist():
            parts[dealt % 3].append(i)
            dealt += 1
    train, test_a, test_b = (np.sort(np.array(p, dtype=np.int64)) for p in parts)
    return train, test_a, test_b


def real_sets(dataset: Dataset, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint real sets of equal size, at most ``n`` each, drawn deterministically
    (``real``, the reference, and ``real_alt``, the baseline's candidate; see the module)."""
    import numpy as np

    if dataset.centers is not None and dataset.std is not None:
        centers = np.asarray(dataset.centers, dtype=np.float64)

        def draw(stream: int) -> np.ndarray:
            rng = np.random.default_rng([seed, stream])
            labels = rng.integers(len(centers), size=n)
            return (centers[labels] + dataset.std * rng.standard_normal((n, centers.shape[1]))).astype(np.float32)

        return draw(1), draw(2)
    if is_digits(dataset):
        _, test_a, test_b = digits_split(dataset.y)
        k = min(n, len(test_a), len(test_b))
        return dataset.x[test_a[:k]], dataset.x[test_b[:k]]
    k = min(n, len(dataset) // 2)
    order = np.random.default_rng([seed, 3]).permutation(len(dataset))
    return dataset.x[order[:k]], dataset.x[order[k : 2 * k]]


# --- evaluation ------------------------------------------------------------------------------


def evaluate_samples(
    metrics: Sequence[Metric],
    sample: Callable[[int], np.ndarray],
    dataset: Dataset,
    n: int,
    seed: int,
    options: Mapping[str, Any],
) -> tuple[int, dict[str, dict[str, float]]]:
    """Draw the real sets and ``sample(k)`` generated samples, compute every metric.

    Returns ``k`` (samples per set: ``n``, or fewer where the held-out data is smaller) and
    ``{metric: {key: value}}``. A metric's output is checked: floats, every key with its
    baseline, and no key reported by two metrics.
    """
    import numpy as np

    if n < MIN_SAMPLES:
        raise GankitError(f"an evaluation needs at least {MIN_SAMPLES} samples, got {n}")
    real, real_alt = real_sets(dataset, n, seed)
    k = len(real)
    if k < MIN_SAMPLES:
        raise GankitError(f"data {dataset.name} has too few samples to hold out two real sets of {MIN_SAMPLES}")
    fake = np.asarray(sample(k), dtype=np.float32)
    if not np.isfinite(fake).all():
        raise GankitError("the generator's samples contain NaN or infinite values (the run has diverged); nothing to evaluate")
    ctx = EvalContext(fake, real, real_alt, dataset, seed, options)
    results: dict[str, dict[str, float]] = {}
    seen: dict[str, str] = {}
    for metric in metrics:
        values = metric.compute(ctx)
        if not isinstance(values, Mapping) or not values:
            raise GankitError(f"metric '{metric.name}' returned {type(values).__name__}, expected a non-empty dict of floats")
        for key in values:
            if key in seen:
                raise GankitError(f"metrics '{seen[key]}' and '{metric.name}' both report '{key}'")
            seen[key] = metric.name
            if not key.endswith(BASELINE) and key + BASELINE not in values:
                raise GankitError(f"metric '{metric.name}' reports '{key}' without its real-vs-real baseline '{key}{BASELINE}'")
        results[metric.name] = {key: float(value) for key, value in values.items()}
    return k, results


def flat(results: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{metric: {key: value}}`` -> ``{key: value}`` (keys are unique across metrics)."""
    return {key: value for values in results.values() for key, value in values.items()}
