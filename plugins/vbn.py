"""Virtual batch normalisation (Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016,
"Improved Techniques for Training GANs", §3.5).

BatchNorm makes a generated sample depend on the other samples of its batch. VBN normalises
each example with the statistics of a *reference batch* R, chosen once at the start of
training, together with the example itself: per feature,

    μ = (n·μ_R + μ_x)/(n + 1),   σ² = (n·E_R[x²] + E_x[x²])/(n + 1) − μ²,
    y = γ·(x − μ)/√(σ² + ε) + β,

so an output depends on R and on its own input only (the reference batch itself is
normalised with its own statistics). Every BatchNorm layer of the generator becomes a
:class:`gankit.techniques.VirtualBatchNorm` sharing its γ, β and ε, and the generator runs on
``cat([R_z, z])`` each call, returning the rows of z — the paper's two forward passes in one.

The reference noise R_z is ``batch_size`` draws of z ~ N(0, I) (our choice: a training
batch's size; the paper fixes no size) from a generator seeded with ``seed`` on the training
device (so on a given device it is the first noise batch of training, which is harmless); a
conditional generator gets the reference labels 0, 1, ..., K−1, 0, 1, ... R_z is a buffer of
the generator, so checkpoints keep it. The generator must contain BatchNorm (the built-in
``mlp``, ``dcgan`` and ``resnet`` generators do); the critic is left alone. No options.

Example::

    gankit train --plugin nsgan --plugin vbn
"""
from gankit import GankitError, hookimpl


@hookimpl
def gankit_setup(trainer):
    import torch
    from torch import nn

    from gankit.techniques import use_virtual_batchnorm

    n, device = trainer.options["batch_size"], trainer.device
    rng = torch.Generator(device).manual_seed(trainer.options["seed"])
    reference_z = torch.randn(n, trainer.options["latent_dim"], generator=rng, device=device)  # (n, latent_dim)
    reference_y = torch.arange(n, device=device) % trainer.n_classes if trainer.n_classes else None  # (n,)
    if not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in trainer.generator.modules()):
        raise GankitError(
            f"vbn: the generator ({type(trainer.generator).__name__}) has no BatchNorm layer for virtual batch "
            "normalisation to replace; use one that has (mlp, dcgan, resnet)"
        )
    trainer.generator = use_virtual_batchnorm(trainer.generator, reference_z, reference_y)
