"""RSGAN, the relativistic standard GAN (Jolicoeur-Martineau 2018, "The relativistic
discriminator: a key element missing from standard GAN", §4.1 and Algorithm 1).

With raw scores C and real sample i paired with fake sample i, the critic minimises
``-mean log σ(C(x_r) - C(x_f))`` (the probability that the real sample is more realistic
than the fake one) and the generator ``-mean log σ(C(x_f) - C(x_r))``. No Lipschitz
constraint.

Training defaults: the paper's stable set-up (lr 2e-4, β = (0.5, 0.999), n_D = 1, Adam).
Example:

    gankit train --plugin rgan --data ring8
"""
from gankit import hookimpl
from gankit_plugins._recipes import DCGAN_ADAM


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 1, **DCGAN_ADAM}


@hookimpl
def gankit_loss(options):
    from gankit.losses import RelativisticLoss

    return RelativisticLoss()
