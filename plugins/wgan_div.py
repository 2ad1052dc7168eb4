"""WGAN-div (Wu, Huang, Thoma, Acharya & Van Gool 2018, "Wasserstein Divergence for GANs",
Algorithm 1).

Loss: WGAN's, the critic minimises ``mean f(G(z)) - mean f(x)``, the generator
``-mean f(G(z))``. Constraint: the ``div`` plugin, k·E‖∇ₓf(x̂)‖^p with x̂ between real and fake
pairs; the paper's k = 2, p = 6. The critic maximises the W_{k,p} divergence, which needs no
Lipschitz constraint.

Training defaults: those of PyTorch-GAN's ``wgan_div.py`` (the seeds' code reference, with
the paper's k and p): Adam with lr 2e-4 and β = (0.5, 0.999), n_critic = 5, batch 64. A per-sample gradient
penalty is invalid under BatchNorm, so ``critic_norm = layer`` with ``dcgan``. Example:

    gankit train --plugin wgan_div --data ring8
"""
from gankit import hookimpl

GANKIT_REQUIRES = ["div"]


@hookimpl
def gankit_option_defaults():
    return {
        "n_critic": 5, "batch_size": 64, "optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4,
        "beta1": 0.5, "beta2": 0.999, "critic_norm": "layer",
    }


@hookimpl
def gankit_loss(options):
    from gankit.losses import WassersteinLoss

    return WassersteinLoss()
