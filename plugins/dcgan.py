"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional GANs", §3), sized to square images of side 4·2^k.

The paper's five guidelines, as built here:

1. no pooling: strided convolutions downsample in D, transposed (fractional-strided)
   convolutions upsample in G; kernel 4, stride 2, padding 1;
2. BatchNorm in G and D, but not on G's output layer nor on D's input layer;
3. no fully connected hidden layers: G's first layer projects z and reshapes it to
   (C, 4, 4); D's last 4×4 feature maps are flattened into the linear head;
4. ReLU in G, Tanh on its output;
5. LeakyReLU(0.2) in D.

Weights start from N(0, 0.02), BatchNorm scales from N(1, 0.02) (paper §4).

Widths: G's last hidden stage has ``dcgan_width`` channels, doubling toward the 4×4 base;
D mirrors it (``dcgan_width`` after its first convolution, doubling down to 4×4). The
default 64 is pytorch/examples' ``ngf = ndf = 64``: for 64×64 RGB it gives G
512→256→128→64→3 and D 3→64→128→256→512 (the paper's own G starts at 1024, i.e. 128); for
8×8 digits it gives G 64×4×4 → 1×8×8 and D 1×8×8 → 64×4×4, a single up/down stage.

``critic_norm``: the paper's "batch", or "layer" (GroupNorm(1, C): LayerNorm over C, H, W)
or "none". Gradient-penalty objectives need "layer" or "none": a batch-normalised critic's
score depends on the whole batch, so a per-sample gradient penalty is not valid for it
(Gulrajani et al. 2017, §4).
"""
from gankit import Option, hookimpl

NORMS = ("batch", "layer", "none")


@hookimpl
def gankit_options():
    return [
        Option("dcgan_width", int, 64, "channels of G's last hidden stage and D's first; doubled per stage toward 4×4", ge=1),
        Option("critic_norm", str, "batch", "DCGAN critic normalisation (gradient penalties need layer or none)", choices=NORMS),
    ]


def _init_weights(module):
    """Radford et al. 2016 §4: weights from N(0, 0.02); BatchNorm scale from N(1, 0.02)."""
    from torch import nn

    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@hookimpl
def gankit_generator(spec, options):
    from torch import nn

    from gankit.nets import Generator, conditional_classes, square_image_stages

    stages = square_image_stages(spec, options, "dcgan")
    n_classes = conditional_classes(spec, options)
    channels = options["dcgan_width"] * 2 ** (stages - 1)  # at 4×4
    layers = [
        nn.Linear(options["latent_dim"] + (n_classes or 0), channels * 4 * 4, bias=False),
        nn.Unflatten(1, (channels, 4, 4)),  # (B, C·4·4) -> (B, C, 4, 4)
        nn.BatchNorm2d(channels),
        nn.ReLU(),
    ]
    for _ in range(stages - 1):  # each doubles the side, halves the channels
        layers += [
            nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(),
        ]
        channels //= 2
    layers += [nn.ConvTranspose2d(channels, spec.shape[0], 4, 2, 1), nn.Tanh()]  # output: no BatchNorm
    generator = Generator(nn.Sequential(*layers), options["latent_dim"], n_classes)
    generator.apply(_init_weights)
    return generator


@hookimpl
def gankit_critic(spec, options):
    from torch import nn

    from gankit.nets import Critic, conditional_classes, critic_in_shape, square_image_stages

    stages = square_image_stages(spec, options, "dcgan")
    n_classes = conditional_classes(spec, options)
    conditioning = options.get("conditioning", "projection")
    norm = options["critic_norm"]
    in_channels = critic_in_shape(spec, n_classes, conditioning)[0]
    channels = options["dcgan_width"]
    layers = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2)]  # input layer: no norm
    for _ in range(stages - 1):  # each halves the side, doubles the channels
        layers.append(nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=norm == "none"))
        if norm == "batch":
            layers.append(nn.BatchNorm2d(channels * 2))
        elif norm == "layer":
            layers.append(nn.GroupNorm(1, channels * 2))
        layers.append(nn.LeakyReLU(0.2))
        channels *= 2
    layers.append(nn.Flatten())  # (B, C, 4, 4) -> (B, C·16)
    critic = Critic(nn.Sequential(*layers), channels * 4 * 4, n_classes, conditioning)
    critic.apply(_init_weights)
    return critic
