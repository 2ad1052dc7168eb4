"""R1: zero-centred gradient penalty on real data (Mescheder, Geiger & Nowozin 2018, "Which
Training Methods for GANs do actually Converge?", eq. 9).

Adds γ/2 · E_real ‖∇ₓf(x)‖² to the critic loss; generated samples are not used. The paper's
experiments (and its code's default config) use γ = 10. Seed 002's energy view writes the same
term as λ·E_real ‖∇D(x)‖², i.e. λ = γ/2.

Usable with any objective; ``energy`` is the energy view's loss with this constraint. Example:

    gankit train --plugin nsgan --plugin r1 --r1-gamma 1 --data ring8
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("r1_gamma", float, 10.0, "R1 penalty weight γ: adds γ/2·E_real ‖∇f(x)‖²", gt=0)]


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import R1Penalty

    return [R1Penalty(options["r1_gamma"])]
