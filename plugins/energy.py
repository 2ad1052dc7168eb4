"""The energy view of GANs (seed 002 §1, REFERENCES.md §2): the critic as a negative energy.

Loss: with D = -U (high on the data), the critic minimises ``mean D(G(z)) - mean D(x)`` and
the generator ``-mean D(G(z))`` (the entropy bonus H(G(z)) of the seed's generator objective
needs an estimator the critic cannot provide and is left out). Constraint: the ``r1`` plugin,
the zero-centred penalty on real data the seed adds, λ·E_real ‖∇D(x)‖² with λ = γ/2 (R1,
Mescheder, Geiger & Nowozin 2018, eq. 9).

Training defaults: the seed gives none, so we take those of the R1 paper's code
(LMescheder/GAN_stability, configs/default.yaml): γ = 10, RMSprop with lr 1e-4 for both
networks, one critic step per generator step, batch 64. A per-sample gradient penalty is
invalid under BatchNorm, so ``critic_norm = layer`` with ``dcgan``. Example:

    gankit train --plugin energy --r1-gamma 1 --data ring8
"""
from gankit import hookimpl

GANKIT_REQUIRES = ["r1"]


@hookimpl
def gankit_option_defaults():
    return {
        "n_critic": 1, "batch_size": 64, "optimizer": "rmsprop", "lr_critic": 1e-4, "lr_generator": 1e-4,
        "critic_norm": "layer",
    }


@hookimpl
def gankit_loss(options):
    from gankit.losses import EnergyLoss

    return EnergyLoss()
