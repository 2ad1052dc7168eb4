"""Wasserstein-divergence penalty (Wu, Huang, Thoma, Acharya & Van Gool 2018, "Wasserstein
Divergence for GANs", the W_{k,p} objective and Algorithm 1).

Adds k·E‖∇ₓf(x̂)‖^p to the critic loss, x̂ drawn between real and fake pairs (one ε ~ U[0, 1]
per sample). k > 0, p > 1; the paper's search picked k = 2, p = 6. Unlike the gradient
penalty this needs no target norm of 1: W_{k,p} is a divergence for any such k, p.

Usable with any objective; ``wgan_div`` is WGAN's loss with this constraint. Example:

    gankit train --plugin hinge --plugin div --data ring8
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("div_k", float, 2.0, "WGAN-div penalty weight k", gt=0),
        Option("div_p", float, 6.0, "WGAN-div penalty power p: penalises ‖∇f(x̂)‖^p", gt=1),
    ]


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import DivergencePenalty

    return [DivergencePenalty(options["div_k"], options["div_p"])]
