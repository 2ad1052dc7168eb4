"""Gradient normalisation (Wu, Shuai, Tam & Chiu 2021, "Gradient Normalization for Generative
Adversarial Networks", ICCV, §3).

Wraps the critic f as f̂(x) = f(x) / (‖∇ₓf(x)‖ + |f(x)|): |f̂| ≤ 1, and for a piecewise-linear f
(ReLU/LeakyReLU critics) f̂ is 1-Lipschitz within each linear piece. Both the critic and the
generator train through f̂ (second-order gradients). No options: the paper has no ε.

Usable with any objective; ``gngan`` is WGAN's loss on f̂. Example:

    gankit train --plugin hinge --plugin gn --data ring8
"""
from gankit import hookimpl


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import GradientNormalization

    return [GradientNormalization()]
