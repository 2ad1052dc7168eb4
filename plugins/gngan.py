"""GN-GAN (Wu, Shuai, Tam & Chiu 2021, "Gradient Normalization for Generative Adversarial
Networks", ICCV).

Constraint: the ``gn`` plugin replaces the critic f by f̂(x) = f(x) / (‖∇ₓf(x)‖ + |f(x)|),
bounded by 1 and 1-Lipschitz on each linear piece of a piecewise-linear f. Loss: WGAN's on f̂
(REFERENCES.md §2, seed 002's table): the critic minimises ``mean f̂(G(z)) - mean f̂(x)``, the
generator ``-mean f̂(G(z))``. The authors' code configures the non-saturating loss for its CNN
models and the hinge loss for its ResNet models on f̂; combine ``--plugin nsgan --plugin gn``
or ``--plugin hinge --plugin gn`` for those.

Training defaults: the authors' code (basiclab/GNGAN-PyTorch) defaults and ResNet set-up:
Adam with β = (0, 0.9), lr 4e-4 for the critic and 2e-4 for the generator, n_dis = 5, critic
batch 64; the critic has no normalisation layers (``critic_norm = none`` with ``dcgan``).
Example:

    gankit train --plugin gngan --data ring8
"""
from gankit import hookimpl
from gankit_plugins._recipes import GRADIENT_NORMALIZED

GANKIT_REQUIRES = ["gn"]


@hookimpl
def gankit_option_defaults():
    return dict(GRADIENT_NORMALIZED)


@hookimpl
def gankit_loss(options):
    from gankit.losses import WassersteinLoss

    return WassersteinLoss()
