"""The hinge loss (Lim & Ye 2017, "Geometric GAN"; also Miyato et al. 2018, eq. 16), with no
Lipschitz constraint.

The critic minimises ``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))`` (a soft-margin SVM
separating real from generated scores), the generator ``-mean D(G(z))``. ``sngan`` is the same
loss with spectral normalisation; add any constraint with ``--plugin sn|gp|r1|...``.

Training defaults: DCGAN's (Radford, Metz & Chintala 2016), gankit's choice since Lim & Ye
train DCGAN-style models: Adam, lr 2e-4 for both networks, β1 = 0.5, one critic step per
generator step. Example:

    gankit train --plugin hinge --plugin r1 --data ring8
"""
from gankit import hookimpl
from gankit_plugins._recipes import DCGAN_ADAM


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 1, **DCGAN_ADAM}


@hookimpl
def gankit_loss(options):
    from gankit.losses import HingeLoss

    return HingeLoss()
