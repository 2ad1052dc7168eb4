"""The metric formulas on cases with known answers, the held-out real data, the registry and
the shipped digits classifier (REFERENCES.md §3)."""
import math

import numpy as np
import pytest
from scipy.stats import norm

from gankit import GankitError
from gankit.data import digits, grid25, ring8, swissroll
from gankit.metrics import EvalContext, Metric, choose, collect, digits_split, evaluate_samples, real_sets
from gankit.metrics.builtin import BUILTIN
from gankit.metrics.features import class_histogram, density_coverage, fid, inception_score, kid, precision_recall
from gankit.metrics.mixture import modes_hq
from gankit.metrics.parzen import log_likelihoods, parzen
from gankit.metrics.transport import sliced_w1, w1

RING, GRID, DIGITS = ring8({}), grid25({}), digits({})


def gaussian(seed, n, d=2, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


# --- modes and high-quality samples ----------------------------------------------------------


def test_real_ring_samples_capture_8_of_8_modes_at_98_9_percent_hq():
    real, real_alt = real_sets(RING, 2500, seed=0)
    for x in (real, real_alt):
        modes, hq = modes_hq(x, RING.centers, RING.std)
        assert modes == 8
        assert hq == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.7)  # P(χ²₂ ≤ 9) = 98.89%; binomial sd 0.2


def test_a_collapsed_generator_scores_one_mode_at_high_hq():
    x = RING.centers[3] + RING.std * np.random.default_rng(1).standard_normal((2500, 2))
    modes, hq = modes_hq(x, RING.centers, RING.std)
    assert modes == 1 and hq > 98


def test_real_grid_samples_capture_25_of_25_modes():
    modes, hq = modes_hq(real_sets(GRID, 2500, seed=0)[0], GRID.centers, GRID.std)
    assert modes == 25 and hq == pytest.approx(98.9, abs=0.7)


def test_samples_between_the_modes_are_not_high_quality():
    modes, hq = modes_hq(np.zeros((100, 2)), RING.centers, RING.std)  # the ring's centre: 1 away from every mode
    assert (modes, hq) == (0, 0.0)


# --- Wasserstein-1 -------------------------------------------------------------------------------


def test_w1_in_1d_equals_the_mean_gap_of_sorted_samples():
    x, y = gaussian(0, 1000, d=1), gaussian(1, 1000, d=1, shift=0.7)
    assert w1(x, y) == pytest.approx(np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0])).mean(), rel=1e-9)
    assert sliced_w1(x, y) == pytest.approx(w1(x, y), rel=1e-9)  # in 1-D every direction is ±1


def test_w1_of_shifted_equal_variance_gaussians_is_the_shift():
    """W1(N(μ₁, I), N(μ₂, I)) = |μ₁ − μ₂|; from 1,000 samples within sampling error, and above
    the real-vs-real baseline, which is small but not zero."""
    shift = np.array([0.3, 0.4])  # |shift| = 0.5
    x, y, y_alt = gaussian(0, 1000), gaussian(1, 1000, shift=shift), gaussian(2, 1000)
    baseline = w1(y_alt, x)
    assert 0 < baseline < 0.15
    assert w1(x, y) == pytest.approx(0.5, abs=0.05)
    assert w1(x, y) >= np.linalg.norm(x.mean(0) - y.mean(0)) - 1e-9  # W1 ≥ ‖E x − E y‖ always
    one_d = w1(gaussian(3, 1000, d=1), gaussian(4, 1000, d=1, shift=-1.5))
    assert one_d == pytest.approx(1.5, abs=0.1)


def test_sliced_w1_of_a_shift_is_its_mean_projection():
    """Projected on θ uniform on the circle, a shift δ becomes |δ·θ|, of mean |δ|·2/π."""
    x = gaussian(0, 1000)
    assert sliced_w1(x, x + np.array([3.0, 4.0])) == pytest.approx(5 * 2 / math.pi, rel=0.03)
    assert sliced_w1(x, gaussian(1, 1000)) < 0.1


def test_w1_accepts_images():
    x = np.random.default_rng(0).uniform(-1, 1, (50, 1, 8, 8))
    assert w1(x, x) == pytest.approx(0, abs=1e-6)  # ot.dist works through dot products: 1e-8 rounding
    assert w1(x, x + 0.1) == pytest.approx(0.1 * 8, rel=1e-6)


# --- feature-space metrics -------------------------------------------------------------------


def test_fid_is_zero_for_a_set_with_itself_and_grows_with_a_mean_shift():
    f = gaussian(0, 500, d=16)
    assert fid(f, f) == pytest.approx(0, abs=1e-6)
    assert fid(f, f + 0.5) == pytest.approx(16 * 0.25, rel=1e-6)  # same covariance: ‖δ‖²
    assert fid(f, f + 0.5) < fid(f, f + 1.0)
    assert 0 < fid(f, gaussian(1, 500, d=16)) < 1


def test_fid_of_gaussians_matches_the_closed_form():
    """N(0, I) vs N(0, 4I) in d dimensions: d·(1 + 4 − 2·2) = d."""
    f1, f2 = gaussian(0, 20000, d=4), 2 * gaussian(1, 20000, d=4)
    assert fid(f1, f2) == pytest.approx(4, rel=0.05)


def test_kid_is_unbiased_for_two_sets_of_one_distribution():
    same = [kid(gaussian(2 * i, 200, d=8), gaussian(2 * i + 1, 200, d=8)) for i in range(20)]
    assert min(same) < 0 < max(same)  # an unbiased estimate of 0 takes both signs
    assert abs(np.mean(same)) < 3 * np.std(same) / math.sqrt(len(same))
    assert kid(gaussian(0, 200, d=8), gaussian(1, 200, d=8, shift=1.0)) > 10 * max(np.abs(same))


def test_inception_score_of_one_class_is_1_and_of_ten_confident_balanced_classes_is_10():
    one_class = np.tile(np.eye(10)[3], (100, 1))
    assert inception_score(one_class) == pytest.approx(1.0)
    balanced = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(balanced) == pytest.approx(10.0)
    assert inception_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)  # unsure about every sample: 1


def test_precision_and_recall_of_identical_and_of_far_apart_sets():
    f = gaussian(0, 300, d=8)
    assert precision_recall(f, f) == (1.0, 1.0)
    assert precision_recall(f, f + 100) == (0.0, 0.0)
    precision, recall = precision_recall(f, gaussian(1, 300, d=8))
    assert precision > 0.6 and recall > 0.6
    precision, recall = precision_recall(f, 0.1 * gaussian(2, 300, d=8))  # collapsed: precise, no recall
    assert precision > 0.9 and recall < 0.1


def test_density_and_coverage():
    f, k = gaussian(0, 500, d=8), 5
    density, coverage = density_coverage(f, f)
    assert coverage == 1.0 and density == pytest.approx((k + 1) / k)  # each ball holds its centre and k neighbours
    assert density_coverage(f, f + 100) == (0.0, 0.0)
    density, coverage = density_coverage(f, gaussian(1, 500, d=8))
    assert density == pytest.approx(1.0, abs=0.2) and coverage > 0.9  # Naeem et al.: E coverage = 1 − 2⁻ᵏ for large sets


def test_class_histogram():
    assert class_histogram(np.eye(10)[np.arange(500) % 10]) == pytest.approx((1.0, 0.0, 0.0))
    assert class_histogram(np.tile(np.eye(10)[7], (50, 1))) == pytest.approx((0.1, 0.9, math.log(10)))


def test_knn_metrics_need_more_samples_than_k():
    with pytest.raises(GankitError, match="needs more than 5 samples a set, got 5"):
        density_coverage(gaussian(0, 5), gaussian(1, 5))


# --- Parzen window -------------------------------------------------------------------------------


def test_parzen_log_likelihood_by_hand():
    """Kernels at 0 and 1, σ = 0.5, test point 0.5: log(½N(0.5; 0, σ²) + ½N(0.5; 1, σ²))."""
    expected = -0.5 * math.log(2 * math.pi * 0.25) - 0.25 / (2 * 0.25)
    assert log_likelihoods([[0.5]], [[0.0], [1.0]], [0.5])[0] == pytest.approx(expected, rel=1e-12)
    two_d = log_likelihoods([[0.0, 0.0]], [[0.0, 0.0]], [2.0])[0]
    assert two_d == pytest.approx(-math.log(2 * math.pi * 4.0), rel=1e-12)


def test_parzen_approaches_the_entropy_of_a_gaussian():
    """With many kernels and σ chosen on validation data, the test log-likelihood approaches
    the test set's true mean log-density, and so −H = −½log(2πe)."""
    rng = np.random.default_rng(0)
    valid, test = rng.standard_normal((1000, 1)), rng.standard_normal((1000, 1))
    truth = norm.logpdf(test).mean()
    ll, sigma = parzen(np.random.default_rng(1).standard_normal((2000, 1)), valid, test)
    assert ll == pytest.approx(truth, abs=0.015) and ll < truth
    assert ll == pytest.approx(-0.5 * math.log(2 * math.pi * math.e), abs=0.05)
    assert 0.1 < sigma < 0.5  # Silverman's rule for 2,000 samples: 1.06·2000^-1/5 = 0.23


# --- held-out real data ---------------------------------------------------------------------------


def test_digits_split_is_three_disjoint_stratified_thirds():
    train, test_a, test_b = digits_split(DIGITS.y)
    assert len(train) == len(test_a) == len(test_b) == 599
    assert len(np.unique(np.concatenate([train, test_a, test_b]))) == 1797
    for part in (train, test_a, test_b):
        counts = np.bincount(DIGITS.y[part], minlength=10)
        assert counts.min() >= 58 and counts.max() <= 61


def rows(x):
    return set(map(tuple, x.tolist()))


def test_real_sets_are_disjoint_deterministic_and_not_the_training_data():
    real, real_alt = real_sets(RING, 300, seed=0)
    assert real.shape == real_alt.shape == (300, 2)
    assert np.array_equal(real, real_sets(RING, 300, seed=0)[0]) and not np.array_equal(real, real_sets(RING, 300, seed=1)[0])
    assert not rows(real) & rows(RING.x) and not rows(real) & rows(real_alt)

    real, real_alt = real_sets(DIGITS, 2500, seed=0)  # the two held-out thirds, at most 599
    _, test_a, test_b = digits_split(DIGITS.y)
    assert np.array_equal(real, DIGITS.x[test_a]) and np.array_equal(real_alt, DIGITS.x[test_b])

    roll = swissroll({})
    real, real_alt = real_sets(roll, 2500, seed=0)  # no centres: disjoint subsets of the data
    assert real.shape == (2500, 2) and rows(real) <= rows(roll.x) and not rows(real) & rows(real_alt)


# --- the registry -----------------------------------------------------------------------------


def test_the_builtin_metrics_are_registered_through_the_hook():
    from gankit.plugins import PluginSession

    registry = collect(PluginSession(["wgan_clip"]))
    assert list(registry) == [m.name for m in BUILTIN] == [
        "modes", "w1", "sliced_w1", "fid", "kid", "is", "precision_recall", "density_coverage", "classes", "parzen"
    ]
    assert [m.name for m in choose(registry, None, RING, {})] == ["modes", "w1", "sliced_w1", "parzen"]
    assert [m.name for m in choose(registry, None, DIGITS, {})] == [
        "w1", "sliced_w1", "fid", "kid", "is", "precision_recall", "density_coverage", "classes", "parzen"
    ]
    assert "fid" in [m.name for m in choose(registry, None, RING, {"features": "inception.pt"})]
    assert [m.name for m in choose(registry, ["w1", "modes"], RING, {})] == ["modes", "w1"]  # registry order
    with pytest.raises(GankitError, match="unknown metric 'nope'; choose from modes, w1, sliced_w1, parzen$"):
        choose(registry, ["nope"], RING, {})
    inapplicable = r"metric 'fid' does not apply to data ring8: .*\(digits, or --features\); choose from modes"
    with pytest.raises(GankitError, match=inapplicable):
        choose(registry, ["fid"], RING, {})


def _ctx_metric(name, values):
    return Metric(name, "test metric (any data)", lambda dataset, options: True, lambda ctx: values)


def test_every_key_needs_its_baseline_and_keys_are_unique():
    def sample(k):
        return real_sets(RING, k, seed=5)[0]

    k, results = evaluate_samples([_ctx_metric("ok", {"a": 1, "a_real": 2})], sample, RING, 20, 0, {})
    assert k == 20 and results == {"ok": {"a": 1.0, "a_real": 2.0}}
    with pytest.raises(GankitError, match="metric 'bad' reports 'b' without its real-vs-real baseline 'b_real'"):
        evaluate_samples([_ctx_metric("bad", {"b": 1})], sample, RING, 20, 0, {})
    with pytest.raises(GankitError, match="metrics 'ok' and 'twin' both report 'a'"):
        evaluate_samples([_ctx_metric("ok", {"a": 1, "a_real": 2}), _ctx_metric("twin", {"a": 1, "a_real": 2})],
                         sample, RING, 20, 0, {})
    with pytest.raises(GankitError, match="at least 10 samples"):
        evaluate_samples([], sample, RING, 5, 0, {})
    with pytest.raises(GankitError, match="samples contain NaN or infinite values"):
        evaluate_samples([], lambda k: np.full((k, 2), np.nan), RING, 20, 0, {})


def test_every_builtin_metric_reports_a_baseline_for_every_key():
    ctx_ring = EvalContext(real_sets(RING, 200, 7)[0], *real_sets(RING, 200, 0), RING, 0, {})
    real, real_alt = real_sets(DIGITS, 200, 0)
    ctx_digits = EvalContext(real_alt[::-1].copy(), real, real_alt, DIGITS, 0, {})
    for metric in BUILTIN:
        ctx = ctx_ring if metric.applies(RING, {}) else ctx_digits
        values = metric.compute(ctx)
        plain = [key for key in values if not key.endswith("_real")]
        assert plain and sorted(values) == sorted(plain + [key + "_real" for key in plain]), metric.name
        assert all(isinstance(v, float) and math.isfinite(v) for v in values.values()), (metric.name, values)
        assert metric.description and "\n" not in metric.description and metric.description.endswith(")")


# --- the shipped digits classifier -------------------------------------------------------------


def test_the_shipped_classifier_loads_safely_and_is_at_least_95_percent_accurate():
    import torch

    from gankit.metrics.classifier import WEIGHTS, accuracy, load_classifier

    state = torch.load(WEIGHTS, weights_only=True)
    assert WEIGHTS.stat().st_size < 200_000
    _, test_a, test_b = digits_split(DIGITS.y)
    test = np.concatenate([test_a, test_b])
    measured = accuracy(load_classifier(), DIGITS.x[test], DIGITS.y[test])
    assert measured == pytest.approx(state["test_accuracy"]) and measured >= 0.95
    assert state["train_size"] == 599 and state["test_size"] == 1198


def test_loading_the_classifier_leaves_the_global_rng_alone():
    """The first metric evaluation of a run loads the classifier; it must not shift the random
    stream that training (e.g. the gradient penalty's interpolation) draws from."""
    import torch

    from gankit.metrics.classifier import WEIGHTS, load_classifier

    load_classifier.cache_clear()
    before = torch.get_rng_state()
    load_classifier(WEIGHTS)
    assert torch.equal(torch.get_rng_state(), before)


def test_retraining_the_classifier_is_deterministic():
    import torch

    from gankit.metrics.classifier import train_classifier

    a, b = train_classifier(out=None, epochs=1), train_classifier(out=None, epochs=1)
    assert all(torch.equal(a["state_dict"][key], b["state_dict"][key]) for key in a["state_dict"])
    assert a["test_accuracy"] == b["test_accuracy"] and a["recipe"]["epochs"] == 1


def test_classifier_features_separate_real_digits_from_noise():
    real, real_alt = real_sets(DIGITS, 600, 0)
    noise = np.random.default_rng(0).uniform(-1, 1, real.shape).astype(np.float32)
    ctx = EvalContext(noise, real, real_alt, DIGITS, 0, {})
    embedded = {which: ctx.embed(which) for which in ("fake", "real", "real_alt")}
    assert embedded["real"].features.shape == (599, 64) and embedded["real"].probs.shape == (599, 10)
    features = {which: e.features for which, e in embedded.items()}
    assert 20 * fid(features["real_alt"], features["real"]) < fid(features["fake"], features["real"])
    assert inception_score(embedded["real"].probs) > 8
