"""The default architecture: PyTorch-GAN's WGAN MLPs, sized to the data.

Generator (eriklindernoren/PyTorch-GAN ``implementations/wgan/wgan.py``):
latent → 128 → 256 → 512 → 1024 → prod(shape), LeakyReLU(0.2), BatchNorm on all hidden
layers but the first, and Tanh for images (points get a linear output, since 2-D mixtures
reach ±4). Reference quirk we do not copy: ``BatchNorm1d(out, 0.8)`` passes 0.8 as *eps*;
we use the default eps (1e-5).

Critic: prod(shape) → 512 → 256 → 1 with LeakyReLU(0.2) and no sigmoid (WGAN).

Both are declared fallbacks (``trylast``): any selected architecture plugin replaces them.
"""
from gankit import hookimpl

GENERATOR_WIDTHS = (128, 256, 512, 1024)
CRITIC_WIDTHS = (512, 256)


@hookimpl(trylast=True)
def gankit_generator(spec, options):
    from torch import nn

    layers, width = [], options["latent_dim"]
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
    return nn.Sequential(*layers)


@hookimpl(trylast=True)
def gankit_critic(spec, options):
    from torch import nn

    layers, width = [nn.Flatten()], spec.size  # (B, *shape) -> (B, prod(shape))
    for out in CRITIC_WIDTHS:
        layers += [nn.Linear(width, out), nn.LeakyReLU(0.2)]
        width = out
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)
