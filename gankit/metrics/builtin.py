"""The built-in metrics as :class:`~gankit.metrics.Metric` objects (registered by the
always-on ``metrics`` plugin). Each reports ``f(fake, real)`` and its real-vs-real baseline
``f(real_alt, real)``; the formulas and their papers are in the modules they call.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ..errors import GankitError
from . import BASELINE, EvalContext, Metric, is_digits
from .features import class_histogram, density_coverage, fid, inception_score, kid, precision_recall
from .mixture import modes_hq
from .parzen import parzen
from .transport import sliced_w1, w1

#: The candidate sets of a metric's value and of its baseline, and the output key suffixes.
CANDIDATES = (("", "fake"), (BASELINE, "real_alt"))


def _mixture(dataset: Any, options: Mapping[str, Any]) -> bool:
    return dataset.centers is not None and dataset.std is not None


def _any(dataset: Any, options: Mapping[str, Any]) -> bool:
    return True


def _featured(dataset: Any, options: Mapping[str, Any]) -> bool:
    return is_digits(dataset) or bool(options.get("features"))


def _paired(
    keys: tuple[str, ...], fn: Callable[[Any, Any], Any], features: bool = False
) -> Callable[[EvalContext], dict[str, float]]:
    """A metric of (candidate, reference): ``fn(fake, real)`` under ``keys`` and
    ``fn(real_alt, real)`` under ``key_real``; on classifier features when ``features``."""

    def compute(ctx: EvalContext) -> dict[str, float]:
        def view(which: str) -> Any:
            return ctx.embed(which).features if features else getattr(ctx, which)

        out: dict[str, float] = {}
        for suffix, which in CANDIDATES:
            values = fn(view(which), view("real"))
            values = values if isinstance(values, tuple) else (values,)
            out.update({key + suffix: float(v) for key, v in zip(keys, values)})
        return out

    return compute


def _modes(ctx: EvalContext) -> dict[str, float]:
    return _paired(("modes", "hq"), lambda x, _: modes_hq(x, ctx.dataset.centers, ctx.dataset.std))(ctx)


def _probs(ctx: EvalContext, which: str, metric: str) -> Any:
    probs = ctx.embed(which).probs
    if probs is None:
        raise GankitError(f"metric '{metric}' needs class logits; the --features module returns features only")
    return probs


def _is(ctx: EvalContext) -> dict[str, float]:
    return {"is" + suffix: inception_score(_probs(ctx, which, "is")) for suffix, which in CANDIDATES}


def _classes(ctx: EvalContext) -> dict[str, float]:
    out: dict[str, float] = {}
    for suffix, which in CANDIDATES:
        classes, tv, kl = class_histogram(_probs(ctx, which, "classes"))
        out.update({"classes" + suffix: classes, "class_tv" + suffix: tv, "class_kl" + suffix: kl})
    return out


def _parzen(ctx: EvalContext) -> dict[str, float]:
    """σ is chosen on the first half of the real reference set and the log-likelihood is that
    of the second half; kernels on the generated set, or on ``real_alt`` for the baseline."""
    half = len(ctx.real) // 2
    out: dict[str, float] = {}
    for suffix, which in CANDIDATES:
        ll, sigma = parzen(getattr(ctx, which), ctx.real[:half], ctx.real[half:])
        out.update({"parzen" + suffix: ll, "parzen_sigma" + suffix: sigma})
    return out


BUILTIN: tuple[Metric, ...] = (
    Metric("modes", "modes captured and % high-quality samples, within 3 std of a centre (2-D mixtures)", _mixture, _modes),
    Metric("w1", "exact Wasserstein-1 distance to held-out real samples, POT (any data)", _any, _paired(("w1",), w1)),
    Metric("sliced_w1", "sliced Wasserstein-1 distance, 500 fixed directions (any data)", _any,
           _paired(("sliced_w1",), sliced_w1)),
    Metric("fid", "Fréchet distance of classifier features (digits, or --features)", _featured,
           _paired(("fid",), fid, features=True)),
    Metric("kid", "unbiased MMD² of classifier features, cubic kernel (digits, or --features)", _featured,
           _paired(("kid",), kid, features=True)),
    Metric("is", "Inception-style score from the classifier's softmax (digits, or --features with logits)", _featured, _is),
    Metric("precision_recall", "improved precision and recall, k = 3, of classifier features (digits, or --features)",
           _featured, _paired(("precision", "recall"), lambda x, y: precision_recall(y, x), features=True)),
    Metric("density_coverage", "density and coverage, k = 5, of classifier features (digits, or --features)",
           _featured, _paired(("density", "coverage"), lambda x, y: density_coverage(y, x), features=True)),
    Metric("classes", "share of classes predicted, TV and KL of the class histogram to uniform (digits, or --features "
           "with logits)", _featured, _classes),
    Metric("parzen", "Parzen-window log-likelihood of held-out real data, nats; unreliable in high dimension (any data)",
           _any, _parzen),
)
