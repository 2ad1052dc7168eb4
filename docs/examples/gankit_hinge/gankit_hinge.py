"""gankit_hinge: an example third-party gankit plugin adding the hinge loss.

The hinge objective (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, eq. 16):
the critic minimises E[max(0, m - D(x))] + E[max(0, m + D(G(z)))] with margin m = 1,
and the generator minimises -E[D(G(z))].

Use it without installing:  gankit train --plugin docs/examples/gankit_hinge/gankit_hinge.py
or install it (pip install docs/examples/gankit_hinge) and use:  gankit train --plugin hinge
"""
from gankit import Option, hookimpl
from gankit.losses import CriticLoss, Loss


class HingeLoss(Loss):
    def __init__(self, margin: float) -> None:
        self.margin = margin

    def critic_loss(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)  # (B, 1) each
        loss = (self.margin - real_scores).clamp(min=0).mean() + (self.margin + fake_scores).clamp(min=0).mean()
        return CriticLoss(loss, real_scores, fake_scores)

    def generator_loss(self, critic, fake, real):
        return -critic(fake).mean()


@hookimpl
def gankit_options():
    return [Option("hinge_margin", float, 1.0, "margin m of the hinge loss", gt=0)]


@hookimpl
def gankit_option_defaults():
    # SN-GAN's settings (Miyato et al. 2018): Adam, lr 2e-4, betas (0, 0.9).
    return {"optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4, "beta1": 0.0, "beta2": 0.9}


@hookimpl
def gankit_loss(options):
    return HingeLoss(options["hinge_margin"])
