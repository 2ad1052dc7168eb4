"""WGAN with weight clipping (Arjovsky, Chintala & Bottou 2017, Algorithm 1).

Loss: the critic minimises mean f(G(z)) - mean f(x), the generator -mean f(G(z)).
Constraint: the ``clip`` plugin, every critic parameter clamped to [-c, c] after each critic
step (and once at the start). Paper defaults: RMSprop with lr 5e-5 for both networks,
c = 0.01, n_critic = 5, batch 64. The paper warns against momentum optimizers (Adam made the
critic unstable).
"""
from gankit import hookimpl

GANKIT_REQUIRES = ["clip"]


@hookimpl
def gankit_option_defaults():
    return {
        "n_critic": 5,
        "batch_size": 64,
        "optimizer": "rmsprop",
        "lr_critic": 5e-5,
        "lr_generator": 5e-5,
    }


@hookimpl
def gankit_loss(options):
    from gankit.losses import WassersteinLoss

    return WassersteinLoss()
