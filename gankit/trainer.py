"""The training loop: WGAN's Algorithm 1, generalised to any loss and constraint.

Per generator iteration (Arjovsky et al. 2017, Algorithm 1):

1. ``n_critic`` times: a real batch and fresh z; the loss plugin's critic loss plus every
   constraint's penalty; one backward; one critic optimizer step; then each after-step
   constraint the optimizer has not absorbed (weight clipping).
2. Fresh z; the generator loss; one backward; one generator optimizer step.

With ``schedule = merged`` the last critic step and the generator step share one backward
pass (REFERENCES.md §2): ``L_D(sg(G(z))) + L_G(G(z)) - L_G(sg(G(z)))`` gives the critic the
gradient of L_D only (the two L_G terms' critic gradients cancel) and the generator that of
L_G; then both optimizers step. With ``conditional`` the generator gets the real batch's
labels and the critic sees them with both batches.

Everything variant-specific comes from plugins; this module has no branch on the variant.
"""
from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Literal

import numpy as np
import torch
from torch import Tensor, nn

from . import __version__, distributed
from .checkpoint import FILENAME, FORMAT, save_checkpoint
from .config import RunConfig
from .data import DataSpec, load_dataset
from .errors import GankitError
from .guard import NonFiniteGuard
from .nets import Autocast, Labelled, conditional_classes
from .plugins import PluginSession, flatten
from .techniques import truncated_noise

Status = Literal["completed", "interrupted"]
SAMPLE_CHUNK = 1024


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; ``cuda`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GankitError(f"device cuda: CUDA is not available (torch {torch.__version__})")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class BatchSampler:
    """Real batches (and their labels, when given) from a data set held on the device, in
    shuffled epochs.

    The order is an endless stream of permutations drawn from a CPU generator (the same on
    every device), so every sample is seen once per epoch and batches may straddle epochs.
    With ``shard = (rank, world)`` the stream is cut into global batches of ``world *
    batch_size`` and this process gets its ``rank``-th slice of each (every process draws the
    same stream).
    """

    def __init__(
        self, x: Tensor, batch_size: int, seed: int, y: Tensor | None = None, shard: tuple[int, int] = (0, 1)
    ) -> None:
        self.x, self.y = x, y
        self.rank, self.batch_size = shard[0], batch_size
        self.global_batch = batch_size * shard[1]
        self.rng = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(len(x), generator=self.rng).to(x.device)
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        parts, need = [], self.global_batch
        while need:
            if self.pos == len(self.perm):
                self.perm = torch.randperm(len(self.x), generator=self.rng).to(self.x.device)
                self.pos = 0
            take = min(need, len(self.perm) - self.pos)
            parts.append(self.perm[self.pos : self.pos + take])
            self.pos, need = self.pos + take, need - take
        index = parts[0] if len(parts) == 1 else torch.cat(parts)
        index = index[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]  # this process's slice
        return self.x[index], None if self.y is None else self.y[index]  # (B, *shape), (B,)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state(), "perm": self.perm.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])
        self.perm, self.pos = state["perm"].to(self.x.device), int(state["pos"])


def _build(session: PluginSession, hook: str, what: str, expected: type, **kwargs: Any) -> Any:
    result = session.first(hook, what, **kwargs)
    if not isinstance(result, expected):
        raise GankitError(f"{hook} returned {type(result).__name__}, expected {expected.__name__}")
    return result


def build_generator(session: PluginSession, spec: DataSpec, options: Any) -> nn.Module:
    return _build(session, "gankit_generator", "a generator", nn.Module, spec=spec, options=options)


class Trainer:
    """Builds a run from its plugins and configuration, and trains it.

    ``run_dir`` is where event plugins write metrics, samples and checkpoints; ``None`` writes
    nothing (handy in notebooks and tests). Launched by torchrun with several processes, it
    trains data-parallel (see :mod:`gankit.distributed`) and only rank 0 writes.
    """

    #: What each log line reports (besides ``step``, ``time`` and plugins' additions).
    LOGGED = ("loss_critic", "loss_generator", "wasserstein_estimate")

    def __init__(self, session: PluginSession, config: RunConfig, run_dir: str | Path | None = None) -> None:
        self.session, self.config = session, config
        self.options = opts = MappingProxyType(dict(config.options))
        self.rank, self.world, local_device = distributed.join(opts["device"])
        #: Whether this process writes files and shows progress (rank 0).
        self.is_main = self.rank == 0
        self.run_dir = Path(run_dir) if run_dir is not None and self.is_main else None
        self.device = local_device or resolve_device(opts["device"])
        #: Autocast dtype of the networks' forward passes; None: float32 throughout.
        self.precision = {"fp32": None, "bf16": torch.bfloat16}[opts["precision"]]
        seed_everything(opts["seed"])

        self.dataset = load_dataset(opts["data"], session.dataset_loaders(), opts)
        if opts["batch_size"] > len(self.dataset):
            raise GankitError(
                f"option batch_size: {opts['batch_size']} is larger than data {self.dataset.name} ({len(self.dataset)} samples)"
            )
        self.spec = self.dataset.spec
        self.n_classes = conditional_classes(self.spec, opts)
        self.generator = build_generator(session, self.spec, opts).to(self.device)
        self.critic = _build(session, "gankit_critic", "a critic", nn.Module, spec=self.spec, options=opts).to(self.device)
        self.loss = session.first("gankit_loss", "a loss", options=opts)
        self.constraints = flatten(session.call("gankit_constraints", options=opts))
        #: What sample() draws from; a plugin may set an average of the generator's weights.
        self.sampling_generator: nn.Module | None = None
        #: Plugin state saved in checkpoints: name -> object with state_dict/load_state_dict.
        self.extra_state: dict[str, Any] = {}
        session.call("gankit_setup", trainer=self)
        for constraint in self.constraints:
            self.critic = constraint.wrap(self.critic)
        self.critic.to(self.device)
        self.generator.to(self.device)
        self.opt_critic = _build(
            session, "gankit_optimizer", "an optimizer", torch.optim.Optimizer,
            role="critic", params=list(self.critic.parameters()), options=opts,
        )
        self.opt_generator = _build(
            session, "gankit_optimizer", "an optimizer", torch.optim.Optimizer,
            role="generator", params=list(self.generator.parameters()), options=opts,
        )
        absorb = getattr(self.opt_critic, "absorb_constraint", None)
        self.after_step = [c for c in self.constraints if not (absorb is not None and absorb(c))]
        #: What training calls forward through: the models, or their DDP wrappers.
        self.critic_ddp, self.generator_ddp = self.critic, self.generator
        if self.world > 1:
            self.critic_ddp = distributed.wrap(self.critic, self.device)
            self.generator_ddp = distributed.wrap(self.generator, self.device)

        labels = torch.from_numpy(self.dataset.y).to(self.device) if self.n_classes else None
        self.batches = BatchSampler(
            torch.from_numpy(self.dataset.x).to(self.device), opts["batch_size"], opts["seed"], labels, (self.rank, self.world)
        )
        self.noise_rng = torch.Generator(self.device).manual_seed(opts["seed"])
        self.step = 0
        self.elapsed = 0.0
        #: Updates dropped for a non-finite loss (``nonfinite = skip``).
        self.skipped = 0
        self.guard = NonFiniteGuard(["loss_critic", "loss_generator"], self.device)
        self._stop_requested = False

    # --- the algorithm ----------------------------------------------------------------------

    def noise(self, n: int) -> Tensor:
        """Fresh z ~ N(0, I), shape (n, latent_dim), from the run's own noise generator."""
        return torch.randn(n, self.options["latent_dim"], generator=self.noise_rng, device=self.device)

    def fake(self, y: Tensor | None) -> Tensor:
        """G(z) for fresh z, with labels ``y`` for a conditional generator (float32; the
        forward under autocast with ``precision = bf16``)."""
        b = self.options["batch_size"]
        z = self.noise(b * self.world)[self.rank * b : (self.rank + 1) * b]  # this process's part of the global batch
        generator = self.generator_ddp
        bf16 = torch.autocast(self.device.type, dtype=self.precision) if self.precision else contextlib.nullcontext()
        with bf16:
            return (generator(z) if y is None else generator(z, y)).float()  # .float(): a no-op in fp32

    def scored(self, y: Tensor | None, trained: bool = True) -> Any:
        """The critic as losses call it: ``critic(x)``, with the batch's labels bound and, with
        ``precision = bf16``, the forward under autocast. ``trained``: this backward steps the
        critic, so its gradients go through DDP's all-reduce."""
        critic = self.critic_ddp if trained else self.critic
        critic = critic if y is None else Labelled(critic, y)
        return critic if self.precision is None else Autocast(critic, self.device.type, self.precision)

    def critic_loss(self, critic: Any, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """The loss plugin's critic loss plus every constraint's penalty; and W's estimate."""
        out = self.loss.critic_loss(critic, real, fake)
        loss = out.loss
        for constraint in self.constraints:
            penalty = constraint.penalty(critic, real, fake)
            if penalty is not None:
                loss = loss + penalty
        return loss, out.real_scores.mean() - out.fake_scores.mean()

    def update(self, loss: Tensor, *optimizers: torch.optim.Optimizer) -> bool:
        """Backward ``loss`` and step the optimizers. With ``nonfinite = skip`` a loss that is
        not finite drops the update instead (and is counted); returns whether it stepped."""
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        if self.options["nonfinite"] == "skip" and not torch.isfinite(loss).item():
            self.skipped += 1
            return False
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        return True

    def critic_step(self) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        real, y = self.batches.next()
        with torch.no_grad():
            fake = self.fake(y)
        loss_critic, estimate = self.critic_loss(self.scored(y), real, fake)
        if self.update(loss_critic, self.opt_critic):
            for constraint in self.after_step:
                constraint.after_step(self.critic)
        return loss_critic, estimate, real, y

    def generator_step(self, real: Tensor, y: Tensor | None) -> Tensor:
        self.critic.requires_grad_(False)  # the generator step needs no critic gradients
        try:
            loss_generator = self.loss.generator_loss(self.scored(y, trained=False), self.fake(y), real)
            self.update(loss_generator, self.opt_generator)
        finally:
            self.critic.requires_grad_(True)
        return loss_generator

    def merged_step(self) -> tuple[Tensor, Tensor, Tensor]:
        """One backward for both networks: L_D(sg(x_f)) + L_G(x_f) - L_G(sg(x_f))."""
        real, y = self.batches.next()
        critic = self.scored(y)
        fake = self.fake(y)
        loss_critic, estimate = self.critic_loss(critic, real, fake.detach())
        loss_generator = self.loss.generator_loss(critic, fake, real)
        total = loss_critic + loss_generator - self.loss.generator_loss(critic, fake.detach(), real)
        if self.update(total, self.opt_critic, self.opt_generator):
            for constraint in self.after_step:  # the generator's step does not read the critic
                constraint.after_step(self.critic)
        return loss_critic, estimate, loss_generator

    def train_step(self) -> dict[str, Tensor]:
        """One generator iteration: ``n_critic`` critic steps, then one generator step (or,
        merged, ``n_critic - 1`` critic steps and one joint step).

        Returns detached scalar tensors; nothing is read back from the device here.
        """
        merged = self.options["schedule"] == "merged"
        critic_losses = []
        for _ in range(self.options["n_critic"] - merged):
            loss_critic, estimate, real, y = self.critic_step()
            critic_losses.append(loss_critic.detach())
        if merged:
            loss_critic, estimate, loss_generator = self.merged_step()
            critic_losses.append(loss_critic.detach())
        else:
            loss_generator = self.generator_step(real, y)
        if self.options["nonfinite"] == "stop":
            self.guard.observe(self.step + 1, [torch.stack(critic_losses), loss_generator.detach()])
        return dict(zip(self.LOGGED, (loss_critic.detach(), loss_generator.detach(), estimate.detach())))

    def fit(self) -> Status:
        """Train until ``steps`` generator iterations are done or a stop is requested.

        Ctrl-C or SIGTERM stops cleanly after the current step (under torchrun: after the
        next log step) and event plugins then save a checkpoint; a second Ctrl-C interrupts
        at once.
        """
        steps, log_every = self.options["steps"], self.options["log_every"]
        self.session.call("gankit_train_start", trainer=self)
        start = time.perf_counter() - self.elapsed
        status: Status = "completed"
        with self._stop_on_signals():
            while self.step < steps:
                try:
                    metrics = self.train_step()
                except (GankitError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # noqa: BLE001 - a loss, constraint or network a plugin built
                    raise self.session.failure(exc, f"in step {self.step + 1}") from exc
                self.step += 1
                self.elapsed = time.perf_counter() - start
                logged = self.step % log_every == 0 or self.step == steps
                if logged:
                    self.check_finite()
                    distributed.check_replicas({"generator": self.generator, "critic": self.critic}, self.device)
                    self.session.call("gankit_log", trainer=self, step=self.step, metrics=self._read(metrics))
                self.session.call("gankit_step_end", trainer=self, step=self.step)
                if self._stop_agreed(logged):
                    status = "interrupted"
                    break
        self.session.call("gankit_train_end", trainer=self, status=status)
        return status

    def _read(self, metrics: dict[str, Tensor]) -> dict[str, float]:
        values = distributed.mean_over_ranks(torch.stack(list(metrics.values())).float()).tolist()  # one read-back
        skipped = {"skipped_updates": self.skipped} if self.options["nonfinite"] == "skip" else {}
        return {"step": self.step, **dict(zip(metrics, values)), **skipped, "time": round(self.elapsed, 3)}

    def check_finite(self) -> None:
        """Raise :class:`~gankit.guard.NonFiniteError` if a loss was, or a parameter is, NaN or Inf."""
        self.guard.check({"generator": self.generator, "critic": self.critic}, self.run_dir)

    def _stop_agreed(self, logged: bool) -> bool:
        """Whether to stop after this step. Under torchrun the processes agree at log steps
        (one collective there, none per step), so all stop after the same step."""
        if self.world == 1:
            return self._stop_requested
        return logged and distributed.any_rank(self._stop_requested, self.device)

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """While training, the first Ctrl-C or SIGTERM asks for a clean stop after this step."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum: int, frame: Any) -> None:
            if self._stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._stop_requested = True

        saved = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    # --- sampling ---------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """``n`` samples (n, *shape) from the generator in eval mode, on the CPU.

        With ``seed`` the noise is fixed (the same z for the same seed); without it, z comes
        from a generator seeded with the run's seed, so the run's own noise stream is untouched.
        A conditional generator gets the labels 0, 1, ..., K-1, 0, 1, ... (a grid row per
        class when the row length is K); ``truncation`` > 0 applies the truncation trick.
        """
        return generate(
            self.sampling_generator or self.generator, n, self.options["latent_dim"],
            self.options["seed"] if seed is None else seed, self.options["truncation"], self.n_classes,
        )

    # --- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: models, optimizers, step, RNG and data order."""
        return {
            "format": FORMAT,
            "gankit_version": __version__,
            "config": self.config.as_dict(),
            "spec": {"shape": list(self.spec.shape), "kind": self.spec.kind, "n_classes": self.spec.n_classes},
            "step": self.step,
            "elapsed": self.elapsed,
            "skipped": self.skipped,
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_generator": self.opt_generator.state_dict(),
            "opt_critic": self.opt_critic.state_dict(),
            "extra": {name: obj.state_dict() for name, obj in self.extra_state.items()},
            "data_order": self.batches.state_dict(),
            "rng": {
                "noise": self.noise_rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": _numpy_state_to_plain(np.random.get_state()),
                "python": random.getstate(),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; a checkpoint that does not fit this run's models, optimizers
        or plugins is a :class:`GankitError` naming what differs."""
        for what in ("generator", "critic", "opt_generator", "opt_critic"):
            _load_part(getattr(self, what), state[what], what.replace("opt_", "optimizer of the "))
        extra = state.get("extra", {})
        for name, obj in self.extra_state.items():
            if name not in extra:
                raise GankitError(f"the checkpoint has no state for {name!r}; it was written with other plugins")
            _load_part(obj, extra[name], f"state of {name!r}")
        self.batches.load_state_dict(state["data_order"])
        rng = state["rng"]
        self.noise_rng.set_state(rng["noise"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        np.random.set_state(_numpy_state_from_plain(rng["numpy"]))
        random.setstate(_to_tuples(rng["python"]))
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.skipped = int(state.get("skipped", 0))

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Write the state to ``path`` (default: ``checkpoint.pt`` in the run directory),
        atomically, after checking that nothing is NaN or Inf."""
        if path is None and self.run_dir is None:
            raise GankitError("this trainer has no run directory to save a checkpoint in")
        self.check_finite()
        return save_checkpoint(self.state_dict(), path if path is not None else self.run_dir / FILENAME)


@torch.no_grad()
def generate(
    generator: nn.Module, n: int, latent_dim: int, seed: int, truncation: float = 0.0, n_classes: int | None = None
) -> Tensor:
    """``n`` samples from ``generator`` in eval mode with z from a CPU generator seeded ``seed``
    (truncated at ``truncation`` when > 0, Brock et al. 2019) and, for a conditional
    generator, labels ``arange(n) % n_classes``."""
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    z = truncated_noise(n, latent_dim, truncation, rng) if truncation > 0 else torch.randn(n, latent_dim, generator=rng)
    y = torch.arange(n) % n_classes if n_classes else None
    was_training = generator.training
    generator.eval()
    try:
        chunks = []
        for start in range(0, n, SAMPLE_CHUNK):
            z_chunk = z[start : start + SAMPLE_CHUNK].to(device)
            out = generator(z_chunk) if y is None else generator(z_chunk, y[start : start + SAMPLE_CHUNK].to(device))
            chunks.append(out.cpu())
        return torch.cat(chunks)
    finally:
        generator.train(was_training)


def _load_part(obj: Any, state: Any, what: str) -> None:
    """``obj.load_state_dict(state)``, with a mismatch said in one line."""
    try:
        obj.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        details = "; ".join(line.strip() for line in str(exc).splitlines()[1:] or str(exc).splitlines() if line.strip())
        details = details if len(details) <= 300 else details[:297] + "..."
        raise GankitError(f"the checkpoint's {what} does not fit this run ({details}); was it written with other plugins or options?") from None


def _numpy_state_to_plain(state: tuple) -> list:
    name, keys, pos, has_gauss, cached = state
    return [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]


def _numpy_state_from_plain(state: list) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)


def _to_tuples(value: Any) -> Any:
    """``random.setstate`` needs tuples; a checkpoint round trip may give lists."""
    return tuple(_to_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
