"""Minibatch discrimination (Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016,
"Improved Techniques for Training GANs", §3.2).

The critic scores each sample together with a summary of how close it is to the others in its
batch, so a generator collapsing to few modes is easy to tell apart. With the critic's
features f(x_i) ∈ R^A and a learned tensor T ∈ R^{A×B×C}:

    M_i = f(x_i)·T ∈ R^{B×C},   c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_{L1}),
    o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j),

and the critic's last layer gets [f(x_i), o(x_i)] ∈ R^{A+B} instead of f(x_i)
(:func:`gankit.techniques.add_minibatch_discrimination` on the critic's ``head``; see
:class:`gankit.techniques.MinibatchDiscrimination`). Real and generated batches are scored in
separate calls, as the paper requires. The critic must have a linear ``head`` (the built-in
architectures do). A gradient penalty then sees scores that mix the samples of a batch, so
its per-sample gradients are no longer independent (as with BatchNorm).

Defaults: ``md_kernels`` B = 100 and ``md_kernel_dim`` C = 5, as in the authors' code
(openai/improved-gan: ``MinibatchLayer(..., num_kernels=100)``, ``dim_per_kernel=5``).

Example::

    gankit train --plugin nsgan --plugin minibatch_discrimination --md-kernels 50
"""
from gankit import GankitError, Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("md_kernels", int, 100, "minibatch discrimination: number of kernels B (features added)", ge=1),
        Option("md_kernel_dim", int, 5, "minibatch discrimination: dimension C of each kernel", ge=1),
    ]


@hookimpl
def gankit_setup(trainer):
    from torch import nn

    from gankit.techniques import add_minibatch_discrimination

    # The critic itself, or the one inside wrappers other techniques put around it.
    for module in trainer.critic.modules():
        if isinstance(getattr(module, "head", None), nn.Linear):
            add_minibatch_discrimination(module, trainer.options["md_kernels"], trainer.options["md_kernel_dim"])
            return
    raise GankitError(
        f"minibatch_discrimination needs a critic with a linear `head` layer; {type(trainer.critic).__name__} has none"
    )
