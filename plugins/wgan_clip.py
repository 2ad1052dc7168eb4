"""WGAN with weight clipping (Arjovsky, Chintala & Bottou 2017, Algorithm 1).

Loss: the critic minimises mean f(G(z)) - mean f(x), the generator -mean f(G(z)).
Constraint: every critic parameter clamped to [-c, c] after each critic step (and once at
the start). Paper defaults: RMSprop with lr 5e-5 for both networks, c = 0.01, n_critic = 5,
batch 64. The paper warns against momentum optimizers (Adam made the critic unstable).
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("clip_value", float, 0.01, "weight clipping bound c: parameters stay in [-c, c]", gt=0)]


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


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import WeightClip

    return [WeightClip(options["clip_value"])]
