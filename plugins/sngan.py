"""SN-GAN (Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for Generative
Adversarial Networks").

Loss: the hinge loss (eq. 16): the critic minimises ``mean relu(1 - D(x)) + mean relu(1 +
D(G(z)))``, the generator ``-mean D(G(z))``. Constraint: the ``sn`` plugin, every critic
layer's weight divided by its spectral norm (one power iteration per update).

Training defaults (the paper's set-up for the hinge-loss experiments, REFERENCES.md §2): Adam
with lr 2e-4, β1 = 0, β2 = 0.9, n_dis = 5 critic steps per generator step, batch 64, and no
normalisation layer in the critic (``critic_norm = none`` when ``dcgan`` is selected). Example:

    gankit train --plugin sngan --plugin dcgan --data digits
"""
from gankit import hookimpl

GANKIT_REQUIRES = ["sn"]


@hookimpl
def gankit_option_defaults():
    return {
        "n_critic": 5, "batch_size": 64, "optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4,
        "beta1": 0.0, "beta2": 0.9, "critic_norm": "none",
    }


@hookimpl
def gankit_loss(options):
    from gankit.losses import HingeLoss

    return HingeLoss()
