"""Instance noise: the critic sees every input, real or generated, through Gaussian noise.

The critic f is replaced by ``f(x + σ·ε)``, ε ~ N(0, I) drawn afresh at every call, in both
players' losses (and in any penalty). Adding the same noise to both batches convolves the
real and the generated distributions with N(0, σ²I): their supports overlap, so the
divergence the critic estimates varies smoothly with the generator and its gradients stay
informative even where the two distributions are disjoint (Arjovsky & Bottou 2017, "Towards
Principled Methods for Training Generative Adversarial Networks", §3; instance noise of
Sønderby, Caballero, Theis, Shi & Huszár 2016, "Amortised MAP Inference for Image
Super-resolution", ICLR 2017, §3.1).

The noise is annealed linearly so that training ends on the true distributions:
``σ(t) = σ0·max(0, 1 − t/T)`` at generator iteration t (``noise_sigma`` = σ0,
``noise_anneal_steps`` = T; T = 0 keeps σ0 throughout). σ is set from the trainer's step at the
start of training and after every step, so a resumed run continues the schedule exactly; the
noise comes from torch's global RNG, which checkpoints keep.

Defaults (our choice; the papers give no value for these data): σ0 = 0.1, a tenth of the
scale of the built-in data (images in [-1, 1], mixtures on the unit circle), annealed over
T = 10000 generator iterations, two thirds of the default 15000 steps.

Example::

    gankit train --plugin nsgan --plugin instance_noise --noise-sigma 0.2
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [
        Option("noise_sigma", float, 0.1, "instance noise: std σ0 of the Gaussian noise added to the critic's inputs", ge=0),
        Option("noise_anneal_steps", int, 10000, "instance noise: anneal σ linearly to 0 over this many steps (0: constant)",
               ge=0),
    ]


def _sigma(trainer, step):
    from gankit.techniques import annealed_sigma

    return annealed_sigma(step, trainer.options["noise_sigma"], trainer.options["noise_anneal_steps"])


def _set_sigma(trainer):
    """Set σ on the noise wrapper, wherever constraints have put it inside the critic."""
    from gankit.techniques import InstanceNoise

    sigma = _sigma(trainer, trainer.step)
    for module in trainer.critic.modules():
        if isinstance(module, InstanceNoise):
            module.sigma = sigma


@hookimpl
def gankit_setup(trainer):
    from gankit.techniques import InstanceNoise

    trainer.critic = InstanceNoise(trainer.critic, _sigma(trainer, 0))  # set again at train start


@hookimpl
def gankit_train_start(trainer):
    _set_sigma(trainer)


@hookimpl(tryfirst=True)
def gankit_step_end(trainer, step):
    _set_sigma(trainer)
