"""The WGAN-GP toy networks (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs",
§5.1 and Fig. 2; their code ``igul222/improved_wgan_training/gan_toy.py``): plain ReLU MLPs
for 2-D (or any flat) data.

Generator: z → ``toy_width`` → ``toy_width`` → ``toy_width`` → prod(shape), ReLU between,
linear output. Critic: prod(shape) → ``toy_width`` × ``toy_depth`` with ReLU, then the
shell's linear head to one score. No normalisation layers anywhere, so gradient penalties
are valid for the critic (§4) and the generator has no batch coupling.

The toy code's defaults: width 512, three hidden layers, 2-D noise (``latent_dim`` 2, which
this plugin recommends), batch 256, 5 critic steps, λ = 0.1, Adam lr 1e-4, β = (0.5, 0.9),
100,000 generator iterations. Only the networks and the latent size belong to this plugin;
the training settings are set on the command line, as in ``experiments/mode_collapse.py``.
Weights start from PyTorch's default initialisation (the toy code uses Lasagne-style
Glorot-uniform via its ``lib.ops.linear``; we keep PyTorch's, a documented difference).

Example, the toy code's 25-Gaussian run::

    gankit train --plugin wgan_gp --plugin toy --data grid25 --batch-size 256 \\
        --gp-weight 0.1 --beta1 0.5 --steps 100000
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("toy_width", int, 512, "units in every hidden layer of the toy MLPs (WGAN-GP's toy code: 512)", ge=1),
        Option("toy_depth", int, 3, "hidden layers of the toy generator and critic (WGAN-GP's toy code: 3)", ge=1),
    ]


@hookimpl
def gankit_option_defaults():
    return {"latent_dim": 2}


def relu_mlp(width: int, depth: int, n_in: int):
    """(B, n_in) -> (B, width): ``depth`` Linear+ReLU layers."""
    from torch import nn

    layers = []
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), nn.ReLU()]
        n_in = width
    return nn.Sequential(*layers)


@hookimpl
def gankit_generator(spec, options):
    from torch import nn

    from gankit.nets import Generator, conditional_classes

    n_classes = conditional_classes(spec, options)
    width = options["toy_width"]
    body = relu_mlp(width, options["toy_depth"], options["latent_dim"] + (n_classes or 0))
    head = [nn.Linear(width, spec.size)] + ([nn.Tanh()] if spec.kind == "image" else [])
    unflatten = nn.Unflatten(1, spec.shape)  # (B, prod(shape)) -> (B, *shape)
    return Generator(nn.Sequential(body, *head, unflatten), options["latent_dim"], n_classes)


@hookimpl
def gankit_critic(spec, options):
    import math

    from torch import nn

    from gankit.nets import Critic, conditional_classes, critic_in_shape

    n_classes = conditional_classes(spec, options)
    conditioning = options.get("conditioning", "projection")
    n_in = math.prod(critic_in_shape(spec, n_classes, conditioning))
    body = nn.Sequential(nn.Flatten(), relu_mlp(options["toy_width"], options["toy_depth"], n_in))  # (B, ...) -> (B, width)
    return Critic(body, options["toy_width"], n_classes, conditioning)
