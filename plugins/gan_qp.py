"""GAN-QP (Su 2018, "GAN-QP: A Novel GAN Framework without Gradient Vanishing and Lipschitz
Constraint"), with the paper's scalar critic T(x).

With real sample i paired with fake sample i and Δ = T(x_r) - T(x_f), the critic minimises
``mean(-Δ + Δ² / (2λ·d(x_r, x_f)))`` and the generator ``mean Δ``. The quadratic potential
replaces a Lipschitz constraint: pointwise the best Δ is λ·d. d is the mean absolute
difference (``--qp-norm l1``) or its root mean square (``l2``) over the non-batch dims.

Training defaults: the author's code (bojone/gan-qp): λ = 10, Adam with lr 2e-4 and β1 = 0.5
for both networks, two critic steps per generator step, batch 64. Example:

    gankit train --plugin gan_qp --qp-norm l2 --data ring8
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("qp_lambda", float, 10.0, "GAN-QP λ: scale of the quadratic potential", gt=0),
        Option("qp_norm", str, "l1", "GAN-QP sample distance d(x_r, x_f)", choices=("l1", "l2")),
    ]


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 2, "batch_size": 64, "optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4,
            "beta1": 0.5, "beta2": 0.999}


@hookimpl
def gankit_loss(options):
    from gankit.losses import GANQPLoss

    return GANQPLoss(options["qp_lambda"], options["qp_norm"])
