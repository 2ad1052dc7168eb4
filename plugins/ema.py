"""An exponential moving average (EMA) of the generator's weights, used for sampling.

After every generator step the averaged copy moves towards the trained generator:

    θ_EMA ← β·θ_EMA + (1 − β)·θ_G,        θ_EMA = θ_G at the start,

and samples come from θ_EMA, which smooths out the oscillations of the trained weights and
usually gives better samples than the last iterate (Karras, Aila, Laine & Lehtinen 2018,
"Progressive Growing of GANs", appendix A.1: generator weights averaged with decay 0.999
for its outputs; Yazıcı, Foo, Winkler, Yap, Piliouras & Chandrasekhar 2019, "The Unusual
Effectiveness of Averaging in GAN Training", EMA with β = 0.999, compared there with a
uniform moving average). Training is unchanged: the critic plays against the trained
generator. Buffers (BatchNorm running statistics,
virtual-batch-norm reference noise) are copied, not averaged.

The average is ``trainer.sampling_generator``, so the sample pictures written during training,
``Trainer.sample`` and ``gankit sample`` all draw from it; it is saved in checkpoints (resume
is exact). It is set up last, after techniques that change the generator (e.g. ``vbn``).

Default: ``ema_decay`` β = 0.999 (both papers).

Example::

    gankit train --plugin wgan_gp --plugin ema
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("ema_decay", float, 0.999, "EMA of the generator's weights for sampling: decay β per generator step",
                   ge=0, lt=1)]


@hookimpl(trylast=True)
def gankit_setup(trainer):
    from gankit.techniques import ModelEMA

    ema = ModelEMA(trainer.generator, trainer.options["ema_decay"])
    trainer.sampling_generator = ema.module
    trainer.extra_state["ema"] = ema


@hookimpl(tryfirst=True)
def gankit_step_end(trainer):
    trainer.extra_state["ema"].update(trainer.generator)
