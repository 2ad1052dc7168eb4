"""The non-saturating GAN, NSGAN: the "-log D trick" (Goodfellow et al. 2014, "Generative
Adversarial Nets", §3).

Same critic as ``mmgan``: logits l, D = σ(l),
``L_D = -mean log σ(l_real) - mean log(1 - σ(l_fake))``; the generator minimises
``L_G = -mean log σ(l_fake)`` instead of mean log(1 - σ(l_fake)): the same fixed point, but
strong gradients while the critic confidently rejects the fakes.

``--real-label`` below 1 (e.g. 0.9) is one-sided label smoothing (Salimans et al. 2016,
§3.4) of the critic's real targets; the generator's target stays 1. No Lipschitz constraint
(add one: ``--plugin gp``, ``--plugin r1``, ``--plugin sn``...). ``mmgan`` and ``nsgan`` both
provide the loss, so only one of them can be selected.

Training defaults: DCGAN's (Radford, Metz & Chintala 2016, §4, trained with this loss): Adam,
lr 2e-4 for both networks, β1 = 0.5, batch 128, one critic step per generator step. Example:

    gankit train --plugin nsgan --plugin dcgan --data digits
"""
from gankit import hookimpl
from gankit_plugins._recipes import DCGAN_ADAM, REAL_LABEL


@hookimpl
def gankit_options():
    return [REAL_LABEL]


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 1, "batch_size": 128, **DCGAN_ADAM}


@hookimpl
def gankit_loss(options):
    from gankit.losses import NonSaturatingLoss

    return NonSaturatingLoss(real_label=options["real_label"])
