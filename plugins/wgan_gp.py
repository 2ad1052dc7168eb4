"""WGAN-GP (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "Improved Training of
Wasserstein GANs", Algorithm 1).

Loss: WGAN's, the critic minimises ``mean f(G(z)) - mean f(x)``, the generator
``-mean f(G(z))``. Constraint: the ``gp`` plugin, λ·E(‖∇ₓf(x̂)‖₂ − 1)² on x̂ = εx + (1 − ε)G(z),
ε ~ U[0, 1] per sample.

Training defaults (Algorithm 1): λ = 10, n_critic = 5, Adam with lr 1e-4, β1 = 0, β2 = 0.9,
batch 64; no BatchNorm in the critic (§4: the paper uses layer normalisation, so
``critic_norm = layer`` when ``dcgan`` is selected). Example:

    gankit train --plugin wgan_gp --plugin dcgan --data digits
"""
from gankit import hookimpl

GANKIT_REQUIRES = ["gp"]


@hookimpl
def gankit_option_defaults():
    return {
        "n_critic": 5, "batch_size": 64, "optimizer": "adam", "lr_critic": 1e-4, "lr_generator": 1e-4,
        "beta1": 0.0, "beta2": 0.9, "critic_norm": "layer",
    }


@hookimpl
def gankit_loss(options):
    from gankit.losses import WassersteinLoss

    return WassersteinLoss()
