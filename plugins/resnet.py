"""ResNet generator and critic (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs",
CIFAR-10 ResNet of the appendix; seed 002 §5.2), sized to square images of side 4·2^k.

Seed 002 §5.2's rules, as built here:

* no strided or transposed convolutions (they cause checkerboard artefacts): D downsamples
  by 2×2 average pooling, G upsamples by nearest-neighbour interpolation (the seed says
  "linear interpolation"; Gulrajani's ``UpsampleConv`` is nearest-neighbour, as here);
* 3×3 kernels and ReLU throughout;
* residual blocks ``shortcut(x) + α·f(x)`` with α = ``residual_scale`` < 1, "more stable
  since GANs are initialised small"; the default 0.3 is the scale of Gulrajani's own
  residual blocks (igul222/improved_wgan_training ``gan_language.py``). Their image ResNets
  use α = 1.

G: Linear z → (C, 4, 4); k up blocks [BN, ReLU, upsample, conv3×3, BN, ReLU, conv3×3;
shortcut upsample + 1×1 conv]; then BN, ReLU, conv3×3 to the data channels, Tanh.
D: k down blocks [ReLU, conv3×3, ReLU, conv3×3, avgpool; shortcut avgpool + 1×1 conv],
no normalisation, so gradient penalties are valid (Gulrajani §4); then ReLU and global sum
pooling to features (B, C) (Miyato & Koyama 2018). As in Gulrajani's
``OptimizedResBlockDisc1`` (and Miyato's ``OptimizedBlock``), the first D block does not
start with a ReLU: it would zero every negative pixel of a [-1, 1] image. Every resampling
block has a learned 1×1 shortcut, as in both reference codes.

Widths: ``resnet_width`` channels in every block, as Gulrajani's CIFAR-10 model (which uses
128); the default 64 suits 8×8 digits and stays cheap on the CPU.
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("resnet_width", int, 64, "channels of every ResNet block (Gulrajani et al.'s CIFAR-10 model uses 128)", ge=1),
        Option("residual_scale", float, 0.3, "α in the residual blocks x + α·f(x); seed 002 advises α < 1", gt=0),
    ]


def _conv3(c_in: int, c_out: int):
    from torch import nn

    return nn.Conv2d(c_in, c_out, 3, padding=1)


def up_block(c_in: int, c_out: int, scale: float):
    """(B, c_in, H, W) -> (B, c_out, 2H, 2W)."""
    from torch import nn

    from gankit.nets import Residual

    branch = nn.Sequential(
        nn.BatchNorm2d(c_in), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), _conv3(c_in, c_out),
        nn.BatchNorm2d(c_out), nn.ReLU(), _conv3(c_out, c_out),
    )
    shortcut = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 1))
    return Residual(branch, shortcut, scale)


def down_block(c_in: int, c_out: int, scale: float, first: bool = False):
    """(B, c_in, H, W) -> (B, c_out, H/2, W/2); ``first`` leaves out the leading ReLU."""
    from torch import nn

    from gankit.nets import Residual

    branch = [nn.ReLU(), _conv3(c_in, c_out), nn.ReLU(), _conv3(c_out, c_out), nn.AvgPool2d(2)]
    shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1))  # 1×1 conv and pooling commute
    return Residual(nn.Sequential(*branch[first:]), shortcut, scale)


@hookimpl
def gankit_generator(spec, options):
    from torch import nn

    from gankit.nets import Generator, conditional_classes, square_image_stages

    stages = square_image_stages(spec, options, "resnet")
    n_classes = conditional_classes(spec, options)
    width, scale = options["resnet_width"], options["residual_scale"]
    layers = [
        nn.Linear(options["latent_dim"] + (n_classes or 0), width * 4 * 4),
        nn.Unflatten(1, (width, 4, 4)),  # (B, C·4·4) -> (B, C, 4, 4)
        *(up_block(width, width, scale) for _ in range(stages)),
        nn.BatchNorm2d(width), nn.ReLU(), _conv3(width, spec.shape[0]), nn.Tanh(),
    ]
    return Generator(nn.Sequential(*layers), options["latent_dim"], n_classes)


@hookimpl
def gankit_critic(spec, options):
    from torch import nn

    from gankit.nets import Critic, GlobalSumPool, conditional_classes, critic_in_shape, square_image_stages

    stages = square_image_stages(spec, options, "resnet")
    n_classes = conditional_classes(spec, options)
    conditioning = options.get("conditioning", "projection")
    in_channels = critic_in_shape(spec, n_classes, conditioning)[0]
    width, scale = options["resnet_width"], options["residual_scale"]
    layers = [
        down_block(in_channels, width, scale, first=True),
        *(down_block(width, width, scale) for _ in range(stages - 1)),
        nn.ReLU(),
        GlobalSumPool(),  # (B, C, 4, 4) -> (B, C)
    ]
    return Critic(nn.Sequential(*layers), width, n_classes, conditioning)
