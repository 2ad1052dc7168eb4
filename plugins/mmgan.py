"""The original minimax GAN, MMGAN (Goodfellow et al. 2014, "Generative Adversarial Nets",
eq. 1 and Algorithm 1).

The critic outputs logits l, D = σ(l), and minimises the binary cross-entropy
``L_D = -mean log σ(l_real) - mean log(1 - σ(l_fake))``; the generator minimises the
saturating ``L_G = mean log(1 - σ(l_fake))``. For a fixed G the best critic is
D* = p_d / (p_d + p_g), where -L_D = -log 4 + 2·JSD(p_d‖p_g).

``--real-label`` below 1 (e.g. 0.9) is one-sided label smoothing (Salimans et al. 2016,
§3.4): only the real targets are softened. No Lipschitz constraint.

Training defaults: those of DCGAN (Radford, Metz & Chintala 2016, §4), the set-up most
minimax/non-saturating GANs are trained with: Adam, lr 2e-4 for both networks, β1 = 0.5,
batch 128, one critic step per generator step (Goodfellow et al.'s k = 1). Example:

    gankit train --plugin mmgan --real-label 0.9 --data ring8
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
    from gankit.losses import MinimaxLoss

    return MinimaxLoss(real_label=options["real_label"])
