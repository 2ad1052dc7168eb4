"""RaSGAN, the relativistic average standard GAN (Jolicoeur-Martineau 2018, "The relativistic
discriminator: a key element missing from standard GAN", §4.3 and Algorithm 2).

With D̃(x_r) = σ(C(x_r) - mean C(x_f)) and D̃(x_f) = σ(C(x_f) - mean C(x_r)) (batch means), the
critic minimises ``-mean log D̃(x_r) - mean log(1 - D̃(x_f))`` and the generator the same with
the roles of real and fake swapped. No Lipschitz constraint.

Training defaults: the paper's stable set-up (lr 2e-4, β = (0.5, 0.999), n_D = 1, Adam).
Example:

    gankit train --plugin ragan --data ring8
"""
from gankit import hookimpl
from gankit_plugins._recipes import DCGAN_ADAM


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 1, **DCGAN_ADAM}


@hookimpl
def gankit_loss(options):
    from gankit.losses import RelativisticAverageLoss

    return RelativisticAverageLoss()
