"""GraN-GAN (Bhaskara, Aumentado-Armstrong, Jepson & Levinshtein 2022, "GraN-GAN: Piecewise
Gradient Normalization for Generative Adversarial Networks", WACV).

Constraint: the ``gran`` plugin replaces the critic f by f̂(x) = f(x)·‖∇ₓf(x)‖ / (‖∇ₓf(x)‖² + ε),
f/‖∇f‖ on each linear piece of a piecewise-linear f (piecewise 1-Lipschitz), finite where the
gradient vanishes. The paper's Lipschitz scale K on f̂ is not applied (K = 1).

Loss: the hinge loss on f̂, the critic minimising ``mean relu(1 - f̂(x)) + mean relu(1 +
f̂(G(z)))`` and the generator ``-mean f̂(G(z))``. Seed 002's table (REFERENCES.md §2) writes
GraN-GAN with WGAN's linear loss, but the paper evaluates GraN under standard GAN losses and
WGAN's loss does not suit f̂: unlike GN's f/(‖∇f‖ + |f|), GraN's f̂ is unbounded (on each
piece it is the signed distance to that piece's zero set, and it jumps between pieces), so
the linear loss lets the critic grow f̂ without limit. On ring8 with the defaults below,
WGAN's loss on f̂ drifted (Wasserstein estimate in the hundreds to thousands, generator loss
falling linearly to about -100 over 1,000 steps) while the hinge and non-saturating losses
stayed bounded (critic loss about 1). Other losses: ``--plugin nsgan --plugin gran``.

Training defaults: the paper compares against GN-GAN in the same set-ups, so we recommend
GN-GAN's (its authors' code, basiclab/GNGAN-PyTorch, ResNet set-up): Adam with β = (0, 0.9),
lr 4e-4 for the critic and 2e-4 for the generator, 5 critic steps per generator step, batch
64, no normalisation layers in the critic (``critic_norm = none`` with ``dcgan``). ε defaults
to gankit's 1e-4. Example:

    gankit train --plugin grangan --gran-eps 1e-3 --data ring8
"""
from gankit import hookimpl
from gankit_plugins._recipes import GRADIENT_NORMALIZED

GANKIT_REQUIRES = ["gran"]


@hookimpl
def gankit_option_defaults():
    return dict(GRADIENT_NORMALIZED)


@hookimpl
def gankit_loss(options):
    from gankit.losses import HingeLoss

    return HingeLoss()
