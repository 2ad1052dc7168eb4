"""Piecewise gradient normalisation, GraN (Bhaskara, Aumentado-Armstrong, Jepson & Levinshtein
2022, "GraN-GAN: Piecewise Gradient Normalization for Generative Adversarial Networks", WACV,
§3).

Wraps the critic f as f̂(x) = f(x)·‖∇ₓf(x)‖ / (‖∇ₓf(x)‖² + ε): f/‖∇f‖, 1-Lipschitz on each
linear piece of a piecewise-linear f, kept finite where the gradient vanishes. ε > 0 trades
exactness for stability there; the default 1e-4 is gankit's choice (see
:class:`gankit.constraints.GradientNormalizationPiecewise`). The paper's Lipschitz scale K is
not applied.

Usable with any objective; ``grangan`` is WGAN's loss on f̂. Example:

    gankit train --plugin nsgan --plugin gran --gran-eps 1e-3 --data ring8
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("gran_eps", float, 1e-4, "GraN's ε in f·‖∇f‖/(‖∇f‖² + ε)", gt=0)]


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import GradientNormalizationPiecewise

    return [GradientNormalizationPiecewise(options["gran_eps"])]
