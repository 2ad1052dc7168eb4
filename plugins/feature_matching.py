"""Feature matching (Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs", §3.1).

The generator no longer maximises the critic's output; it matches the statistics of the
critic's intermediate features on real data:

    L_G = ‖E_x f(x) − E_z f(G(z))‖²₂,

with f the critic's features (``critic.features``: the activations feeding its last layer,
as in the paper) and the expectations estimated by batch means; the real mean is a constant.
The critic keeps the objective's own loss (whatever plugin provides it), so this composes
with any objective: ``trainer.loss`` becomes :class:`gankit.losses.FeatureMatchingLoss` of it.
No options.

Example::

    gankit train --plugin nsgan --plugin feature_matching
"""
from gankit import hookimpl


@hookimpl
def gankit_setup(trainer):
    from gankit.losses import FeatureMatchingLoss

    trainer.loss = FeatureMatchingLoss(trainer.loss)
