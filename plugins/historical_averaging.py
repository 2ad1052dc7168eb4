"""Historical averaging (Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs", §3.3).

Each player's cost gains the distance of its parameters from their own history's mean:

    L_D += λ·‖θ_D − (1/t)·Σ_{i=1}^{t} θ_D[i]‖²,    L_G += λ·‖θ_G − (1/t)·Σ_{i=1}^{t} θ_G[i]‖²,

summed over every floating parameter, θ[i] being the parameters after the i-th update of that
player (the mean is kept incrementally, :class:`gankit.techniques.HistoricalAverage`; the
penalty is 0 before the first update). Inspired by fictitious play, it damps the oscillations
of gradient descent in games that have an equilibrium.

Wiring: the critic's term is a constraint appended to ``trainer.constraints`` (its penalty is
added to every critic loss; its history takes the critic's parameters after every critic
step, as weight clipping acts). The generator's term is added to the objective's generator
loss wherever that loss is differentiated with respect to the generator (``G(z)`` requires
grad: not in the stop-gradient term of ``--schedule merged``, where it would cancel); its
history takes the generator's parameters after every generator step. Both averages are saved
in checkpoints, so a resumed run is exact. This plugin sets up last, so the averaged
parameters are the final ones of the networks other techniques have changed.

Default: ``ha_weight`` λ = 1, the paper's term as written (it gives no coefficient). The term
is summed, not averaged, over parameters: for large networks a smaller λ may be needed.

Example::

    gankit train --plugin nsgan --plugin historical_averaging --ha-weight 0.1
"""
from gankit import Option, hookimpl
from gankit.constraints import Constraint
from gankit.losses import Loss

CRITIC, GENERATOR = "historical_average_critic", "historical_average_generator"


@hookimpl
def gankit_options():
    return [Option("ha_weight", float, 1.0, "historical averaging: weight λ of ‖θ − mean of past θ‖² in both players' losses",
                   ge=0)]


class CriticHistoricalAveraging(Constraint):
    """The critic's term as a penalty on every critic loss; its history updated after each
    critic step. (Not a WeightClip, so no optimizer absorbs its ``after_step``.)"""

    def __init__(self, average):
        self.average = average

    def penalty(self, critic, real, fake):
        return self.average.penalty()

    def after_step(self, critic):
        self.average.update()


class GeneratorHistoricalAveraging(Loss):
    """``base``'s losses, the generator's plus its term when the generated batch requires grad."""

    def __init__(self, base, average):
        self.base, self.average = base, average

    def critic_loss(self, critic, real, fake):
        return self.base.critic_loss(critic, real, fake)

    def generator_loss(self, critic, fake, real):
        loss = self.base.generator_loss(critic, fake, real)
        return loss + self.average.penalty() if fake.requires_grad else loss


@hookimpl(trylast=True)
def gankit_setup(trainer):
    from gankit.techniques import HistoricalAverage

    weight = trainer.options["ha_weight"]
    critic_average = HistoricalAverage(trainer.critic, weight)
    generator_average = HistoricalAverage(trainer.generator, weight)
    trainer.constraints.append(CriticHistoricalAveraging(critic_average))
    trainer.loss = GeneratorHistoricalAveraging(trainer.loss, generator_average)
    trainer.extra_state[CRITIC] = critic_average
    trainer.extra_state[GENERATOR] = generator_average


@hookimpl(tryfirst=True)
def gankit_step_end(trainer):
    trainer.extra_state[GENERATOR].update()
