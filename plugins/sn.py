"""Spectral normalisation (Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for
Generative Adversarial Networks", Algorithm 1).

Every Linear and Conv weight W of the critic is used as W / σ(W), σ(W) its largest singular
value estimated by power iteration, so each layer is 1-Lipschitz (convolutions: as the
reshaped (out, in·k·k) matrix, as in the paper). The paper uses one power iteration per
update, reusing u between updates; ``--sn-power-iterations`` raises it.

Usable with any objective; ``sngan`` is the hinge loss with this constraint. Example:

    gankit train --plugin lsgan --plugin sn --data ring8
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("sn_power_iterations", int, 1, "power iterations per forward pass to estimate σ(W)", ge=1)]


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import SpectralNorm

    return [SpectralNorm(options["sn_power_iterations"])]
