"""Every hook of gankit's plugin contract, in one module (pytest's ``hookspec.py`` style).

A plugin is a module (or object) whose functions carry the ``@gankit.hookimpl`` marker and
are named after these specs. It implements only the hooks it cares about, and may accept any
subset of a hook's arguments.

Two kinds of hook:

* **first-result**: one answer wins. At most one selected plugin may answer it; a second is
  an error naming both, unless one of them is a declared fallback (``trylast=True``).
* **collecting**: every plugin's answer is collected into a list.

Heavy imports (torch) belong inside hook functions, never at a plugin's module level, so that
``gankit plugins`` and ``--help`` stay fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping

import pluggy

if TYPE_CHECKING:
    import torch

    from .constraints import Constraint
    from .data import Dataset, DataSpec
    from .losses import Loss
    from .metrics import Metric
    from .options import Option
    from .trainer import Trainer

hookspec = pluggy.HookspecMarker("gankit")

Options = Mapping[str, Any]
Role = Literal["critic", "generator"]


# --- configuration -------------------------------------------------------------------------


@hookspec
def gankit_options() -> list[Option]:
    """Declare this plugin's options (collecting).

    Return a list of :class:`gankit.Option`, each with a name, type, default and help. Option
    names are global: two selected plugins may not declare the same name. Users set them as
    ``--option-name VALUE`` on the command line or under ``[options]`` in a TOML config.
    """


@hookspec
def gankit_option_defaults() -> dict[str, Any]:
    """Recommend values for options declared by other plugins (collecting).

    E.g. ``wgan_clip`` recommends ``n_critic = 5``. Applied in plugin selection order (a later
    ``--plugin`` wins); a config file and the command line override them. A recommendation for
    an option that no selected plugin declares is skipped.
    """


# --- data ----------------------------------------------------------------------------------


@hookspec
def gankit_datasets() -> dict[str, Callable[[Options], Dataset]]:
    """Name datasets this plugin provides (collecting).

    Return ``{name: loader}``; ``loader(options)`` returns a :class:`gankit.data.Dataset`.
    ``--data NAME`` picks one; two plugins naming the same dataset is an error. Paths to a
    folder of images or a ``.npy``/``.npz`` file are loaded by the core.
    """


# --- the five parts of a GAN ---------------------------------------------------------------


@hookspec(firstresult=True)
def gankit_generator(spec: DataSpec, options: Options) -> torch.nn.Module:
    """Build the generator (first-result).

    ``spec`` describes one sample (``spec.shape``, ``spec.kind``) and the latent size
    (``options["latent_dim"]``). The module maps z of shape (B, latent_dim) to samples of
    shape (B, *spec.shape).
    """


@hookspec(firstresult=True)
def gankit_critic(spec: DataSpec, options: Options) -> torch.nn.Module:
    """Build the critic / discriminator (first-result).

    The module maps samples (B, *spec.shape) to raw scores (B, 1): no sigmoid; the loss
    applies whatever link function its objective needs.
    """


@hookspec(firstresult=True)
def gankit_loss(options: Options) -> Loss:
    """Return the GAN objective, a :class:`gankit.losses.Loss` (first-result).

    The loss computes the critic's and the generator's losses from the networks and batches;
    the trainer has no variant-specific code.
    """


@hookspec
def gankit_constraints(options: Options) -> Iterable[Constraint]:
    """Return Lipschitz constraints on the critic (collecting; answers are concatenated).

    A :class:`gankit.constraints.Constraint` acts at up to three moments: ``wrap`` the critic
    once when it is built, add a ``penalty`` to the critic loss before the backward pass, and
    act ``after_step`` on the critic's parameters (unless the critic's optimizer absorbs it).
    """


@hookspec(firstresult=True)
def gankit_optimizer(
    role: Role, params: list[torch.nn.Parameter], options: Options
) -> torch.optim.Optimizer:
    """Build the optimizer for ``role`` ("critic" or "generator") over ``params`` (first-result).

    An optimizer may absorb an after-step constraint (e.g. the fused RMSProp+clip step): if it
    has a method ``absorb_constraint(constraint) -> bool`` returning True, the trainer does not
    run that constraint's ``after_step`` itself.
    """


@hookspec
def gankit_setup(trainer: Trainer) -> None:
    """Adapt the freshly built parts of a run (collecting): training techniques live here.

    Called once in ``Trainer.__init__`` after the generator, critic (on the device), loss and
    constraints are built, and before the constraints wrap the critic, the optimizers are built
    and any checkpoint is loaded. A plugin may replace ``trainer.generator``,
    ``trainer.critic`` or ``trainer.loss``, append to ``trainer.constraints``, set
    ``trainer.sampling_generator`` (e.g. an EMA of the generator) and register objects with
    ``state_dict()``/``load_state_dict()`` in ``trainer.extra_state`` so checkpoints keep them.
    """


# --- training events (logging, samples and checkpoints are plugins) --------------------------


@hookspec
def gankit_train_start(trainer: Trainer) -> None:
    """Called once before the first step of a run, and again after a resume (collecting)."""


@hookspec
def gankit_step_end(trainer: Trainer, step: int) -> None:
    """Called after every generator iteration; ``step`` counts completed iterations.

    Runs on the hot path: do nothing costly unless it is your step (e.g. ``step % K == 0``),
    and never read a tensor back from the device on every step.
    """


@hookspec
def gankit_log(trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
    """Called every ``log_every`` steps and at the last step with plain-float metrics.

    ``metrics`` has at least ``step``, ``loss_critic``, ``loss_generator``,
    ``wasserstein_estimate`` (mean critic score on real minus on fake) and ``time`` (seconds
    of training so far). One dict is passed to every implementation: a ``tryfirst=True``
    implementation may add keys, which the later ones (``metrics_log``, ``progress``) see;
    ``evaluation`` adds its metric values this way at its steps.
    """


@hookspec
def gankit_train_end(trainer: Trainer, status: Literal["completed", "interrupted"]) -> None:
    """Called once when the loop ends: ``"completed"``, or ``"interrupted"`` by Ctrl-C/SIGTERM."""


# --- evaluation --------------------------------------------------------------------------------


@hookspec
def gankit_metrics() -> list[Metric]:
    """Provide evaluation metrics (collecting): a list of :class:`gankit.metrics.Metric`.

    A metric has a ``name``, a one-line ``description``, ``applies(dataset, options) -> bool``
    and ``compute(ctx) -> dict[str, float]``, where ``ctx`` (:class:`gankit.metrics.EvalContext`)
    holds generated samples, two disjoint held-out real sets of the same size, the data set,
    the seed and the options. Every reported ``key`` comes with its real-vs-real baseline
    ``key_real``. ``gankit eval`` and the ``evaluation`` plugin run them; two plugins naming
    one metric is an error.
    """
