"""Optimizers per role: RMSprop, Adam or SGD (the fallback for ``gankit_optimizer``).

RMSprop is :class:`gankit.optim.ClippedRMSprop`: for the critic it absorbs a weight-clipping
constraint, so the clamp runs inside the optimizer step and not a second time.

Objective plugins recommend their paper's choice through ``gankit_option_defaults`` (WGAN:
RMSprop at 5e-5). Separate learning rates per role allow TTUR (Heusel et al. 2017).
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("optimizer", str, "adam", "optimizer of the critic (and of the generator, unless optimizer_generator says)",
               choices=("rmsprop", "adam", "sgd")),
        Option("optimizer_generator", str, "same", "optimizer of the generator; same = as optimizer",
               choices=("same", "rmsprop", "adam", "sgd")),
        Option("lr_critic", float, 2e-4, "learning rate of the critic", gt=0),
        Option("lr_generator", float, 2e-4, "learning rate of the generator", gt=0),
        Option("beta1", float, 0.5, "Adam's first-moment decay", ge=0, lt=1),
        Option("beta2", float, 0.999, "Adam's second-moment decay", ge=0, lt=1),
        Option("momentum", float, 0.0, "momentum of RMSprop and SGD", ge=0),
    ]


@hookimpl(trylast=True)
def gankit_optimizer(role, params, options):
    import torch

    from gankit.optim import ClippedRMSprop

    lr = options["lr_critic"] if role == "critic" else options["lr_generator"]
    name = options["optimizer"]
    if role == "generator" and options["optimizer_generator"] != "same":
        name = options["optimizer_generator"]
    if name == "rmsprop":
        return ClippedRMSprop(params, lr=lr, momentum=options["momentum"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=options["momentum"])
    return torch.optim.Adam(params, lr=lr, betas=(options["beta1"], options["beta2"]))
