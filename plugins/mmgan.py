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
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("real_label", float, 1.0, "target of real samples; < 1 is one-sided label smoothing, "
                   "e.g. 0.9 (must be in (0, 1])", gt=0)]


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 1, "batch_size": 128, "optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4,
            "beta1": 0.5, "beta2": 0.999}


@hookimpl
def gankit_loss(options):
    from gankit import GankitError
    from gankit.losses import MinimaxLoss

    if options["real_label"] > 1:
        raise GankitError(f"option real_label: expected a number > 0 and <= 1, got {options['real_label']!r}")
    return MinimaxLoss(real_label=options["real_label"])
