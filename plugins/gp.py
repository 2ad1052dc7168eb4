"""Gradient penalty (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "Improved Training
of Wasserstein GANs", Algorithm 1 lines 4-7).

Adds λ·E(‖∇ₓf(x̂)‖₂ − 1)² to the critic loss, with x̂ = ε·x + (1 − ε)·x̃, one ε ~ U[0, 1] per
sample, and the norm taken per sample over all non-batch dims. The paper's λ is 10.
``--gp-one-sided`` penalises only slopes above 1, λ·E max(0, ‖∇ₓf(x̂)‖₂ − 1)² (WGAN-LP,
Petzka, Fischer & Lukovnikov 2018). A per-sample penalty is invalid for a batch-normalised
critic (Gulrajani et al. §4): use ``--critic-norm layer`` or ``none`` with ``dcgan``.

Usable with any objective; ``wgan_gp`` is WGAN's loss with this constraint. Example:

    gankit train --plugin nsgan --plugin gp --gp-weight 1 --data ring8
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("gp_weight", float, 10.0, "gradient penalty weight λ", gt=0),
        Option("gp_one_sided", bool, False, "penalise only gradient norms above 1 (WGAN-LP)"),
    ]


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import GradientPenalty

    return [GradientPenalty(options["gp_weight"], options["gp_one_sided"])]
