"""The default architecture: PyTorch-GAN's WGAN MLPs, sized to the data.

Generator (eriklindernoren/PyTorch-GAN ``implementations/wgan/wgan.py``):
latent → 128 → 256 → 512 → 1024 → prod(shape), LeakyReLU(0.2), BatchNorm on all hidden
layers but the first, and Tanh for images (points get a linear output, since 2-D mixtures
reach ±4). Reference quirk we do not copy: ``BatchNorm1d(out, 0.8)`` passes 0.8 as *eps*;
we use the default eps (1e-5).

Critic: prod(shape) → 512 → 256 → 1 with LeakyReLU(0.2) and no sigmoid (WGAN); the body is
the two hidden layers (features of size 256), the last Linear is the shell's head.

Conditional (``--conditional``, through :mod:`gankit.nets`): G takes [z, one_hot(y)]
(Mirza & Osindero 2014); the critic projects the label onto its 256 features (Miyato &
Koyama 2018) or, with ``--conditioning concat``, takes it at the input (for images as K
constant channels, flattened with the image). Unconditional, the layer shapes are exactly
the reference's.

Both are declared fallbacks (``trylast``): any selected architecture plugin replaces them.
"""
from gankit import hookimpl

GENERATOR_WIDTHS = (128, 256, 512, 1024)
CRITIC_WIDTHS = (512, 256)


@hookimpl(trylast=True)
def gankit_generator(spec, options):
    from torch import nn

    from gankit.nets import Generator, conditional_classes

    n_classes = conditional_classes(spec, options)
    layers, width = [], options["latent_dim"] + (n_classes or 0)
    for i, out in enumerate(GENERATOR_WIDTHS):
        layers.append(nn.Linear(width, out))
        if i > 0:
            layers.append(nn.BatchNorm1d(out))
        layers.append(nn.LeakyReLU(0.2))
        width = out
    layers.append(nn.Linear(width, spec.size))
    if spec.kind == "image":
        layers.append(nn.Tanh())
    layers.append(nn.Unflatten(1, spec.shape))  # (B, prod(shape)) -> (B, *shape)
    return Generator(nn.Sequential(*layers), options["latent_dim"], n_classes)


@hookimpl(trylast=True)
def gankit_critic(spec, options):
    import math

    from torch import nn

    from gankit.nets import Critic, conditional_classes, critic_in_shape

    n_classes = conditional_classes(spec, options)
    conditioning = options.get("conditioning", "projection")
    in_shape = critic_in_shape(spec, n_classes, conditioning)
    layers, width = [nn.Flatten()], math.prod(in_shape)  # (B, *in_shape) -> (B, prod(in_shape))
    for out in CRITIC_WIDTHS:
        layers += [nn.Linear(width, out), nn.LeakyReLU(0.2)]
        width = out
    return Critic(nn.Sequential(*layers), width, n_classes, conditioning)
