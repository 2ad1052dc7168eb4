"""Least squares GAN, LSGAN (Mao, Li, Xie, Lau, Wang & Smolley 2017, "Least Squares Generative
Adversarial Networks", eq. 2).

On raw scores (no sigmoid) the critic minimises ``½ mean (D(x) - b)² + ½ mean (D(G(z)) - a)²``
and the generator ``½ mean (D(G(z)) - c)²``. The defaults a = -1, b = 1, c = 0 satisfy
b - c = 1 and b - a = 2, so at the optimal critic the generator minimises the Pearson χ²
divergence between p_d + p_g and 2·p_g (eq. 8); ``--lsgan-a 0 --lsgan-b 1 --lsgan-c 1`` is the
0-1 coding of eq. 9, the one the paper's experiments use. No Lipschitz constraint.

Training defaults: the paper's DCGAN-style set-up, Adam with lr 2e-4 and β1 = 0.5, one
critic step per generator step. Example:

    gankit train --plugin lsgan --lsgan-a 0 --lsgan-b 1 --lsgan-c 1 --data ring8
"""
from gankit import Option, hookimpl
from gankit_plugins._recipes import DCGAN_ADAM


@hookimpl
def gankit_options():
    return [
        Option("lsgan_a", float, -1.0, "LSGAN target of the critic on generated samples"),
        Option("lsgan_b", float, 1.0, "LSGAN target of the critic on real samples"),
        Option("lsgan_c", float, 0.0, "LSGAN value the generator wants the critic to give its samples"),
    ]


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 1, **DCGAN_ADAM}


@hookimpl
def gankit_loss(options):
    from gankit import GankitError
    from gankit.losses import LeastSquaresLoss

    if options["lsgan_a"] == options["lsgan_b"]:
        raise GankitError(f"options lsgan_a and lsgan_b: the critic's two targets must differ, both are {options['lsgan_a']!r}")
    return LeastSquaresLoss(options["lsgan_a"], options["lsgan_b"], options["lsgan_c"])
