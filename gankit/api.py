"""The Python API; the CLI is a thin layer over these four functions.

>>> import gankit
>>> trainer = gankit.train(["wgan_clip"], {"data": "ring8", "steps": 200}, out="runs/ring")
>>> gankit.resume("runs/ring", steps=400)
>>> gankit.sample("runs/ring", n=2500, out="ring.png")
>>> gankit.api.evaluate("runs/ring", metrics=["modes", "w1"])  # {"metrics": {"modes": {"modes": ..., "modes_real": ...
"""
from __future__ import annotations

import platform
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from .checkpoint import write_text_atomic
from .config import RunConfig, read_config_file, resolve_config
from .errors import GankitError
from .options import resolve
from .plugins import ALWAYS_ON, PluginSession

CONFIG_FILE = "config.toml"
#: ``train(out=AUTO_RUN_DIR)`` picks ``runs/<plugins>-<data>``, numbered so nothing is overwritten.
AUTO_RUN_DIR = object()
#: What a run writes in its directory; ``--overwrite`` removes exactly these.
RUN_FILES = (CONFIG_FILE, "metrics.jsonl", "checkpoint.pt", "checkpoints", "samples", "eval.json", "eval-*.json")


def versions() -> dict[str, str]:
    import numpy
    import torch

    from . import __version__

    return {"gankit": __version__, "torch": str(torch.__version__), "numpy": numpy.__version__, "python": platform.python_version()}


def default_run_dir(config: RunConfig, root: str | Path = "runs") -> Path:
    """``runs/<plugins>-<data>``, numbered ``-2``, ``-3``, ... so no run is ever overwritten."""
    plugins = "+".join(Path(p).stem for p in config.plugins) or "run"
    base = Path(root) / f"{plugins}-{Path(str(config.options['data'])).stem}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def prepare_run_dir(out: str | Path, overwrite: bool) -> Path:
    """Refuse to write into a directory holding anything unless ``overwrite``; then make it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            if (out / CONFIG_FILE).exists() or (out / "checkpoint.pt").exists():
                raise GankitError(f"{out} already holds a run; continue it with --resume {out}, or pass --overwrite to replace it")
            raise GankitError(f"--out {out} is not empty; choose another directory or pass --overwrite")
        for target in (t for name in RUN_FILES for t in out.glob(name)):
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GankitError(f"--out {out} cannot be created: {exc.strerror or type(exc).__name__}") from None
    return out


def train(
    plugins: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    *,
    out: str | Path | object | None = None,
    config_file: str | Path | None = None,
    overwrite: bool = False,
) -> Any:
    """Train a GAN from plugins and options; returns the finished :class:`gankit.Trainer`.

    ``config_file`` is a TOML file (``plugins = [...]`` and ``[options]``) whose values the
    ``options`` argument overrides. With ``out=None`` nothing is written to disk; with
    ``out=AUTO_RUN_DIR`` the run goes to a new directory under ``runs/``.
    """
    from .trainer import Trainer

    file_plugins, file_options = read_config_file(config_file) if config_file else ([], {})
    session = PluginSession([*file_plugins, *plugins])
    config = resolve_config(session, file_options, options, file_name=str(config_file))
    config.versions = versions()
    trainer = Trainer(session, config)  # every bad input fails here, before anything is written
    if out is AUTO_RUN_DIR:
        out = default_run_dir(config)
    if out is not None and trainer.is_main:  # under torchrun only rank 0 writes
        trainer.run_dir = prepare_run_dir(out, overwrite)
        write_text_atomic(trainer.run_dir / CONFIG_FILE, config.to_toml())
    trainer.fit()
    return trainer


def load_run(checkpoint: str | Path, steps: int | None = None) -> tuple[PluginSession, RunConfig, dict[str, Any]]:
    """Rebuild a run's plugin session and configuration from its checkpoint."""
    from .checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    config = RunConfig.from_dict(state["config"])
    session = PluginSession(config.plugins)
    table = session.option_table()
    # Options the core or an always-on plugin gained since the checkpoint was written take
    # their defaults (which keep the old behaviour); a selected plugin's new option is an error.
    missing = sorted(name for name in set(table) - set(config.options) if table[name].plugin not in ("core", *ALWAYS_ON))
    if missing:
        raise GankitError(f"checkpoint {checkpoint} has no value for option {missing[0]}; its plugins have changed since it was written")
    override = {"steps": steps} if steps is not None else {}
    config.options = resolve(table, [(f"in checkpoint {checkpoint}", config.options), ("given", override)])
    return session, config, state


def resume(run_dir: str | Path, steps: int | None = None) -> Any:
    """Continue the run in ``run_dir`` from its checkpoint, up to ``steps`` (default: the run's).

    Where ``checkpoint.pt`` cannot be read, the newest readable one in ``checkpoints/`` is
    used, with a warning naming both.
    """
    from .trainer import Trainer

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GankitError(f"--resume {run_dir}: no such run directory")
    session, config, state = _load_resumable(run_dir, steps)
    _check_same_run(run_dir, config)
    if int(state["step"]) >= config.options["steps"]:
        raise GankitError(
            f"run {run_dir} has already done {state['step']} of {config.options['steps']} steps; pass --steps N to train further"
        )
    trainer = Trainer(session, config, run_dir)
    trainer.load_state_dict(state)
    if trainer.is_main:
        write_text_atomic(run_dir / CONFIG_FILE, config.to_toml())
    trainer.fit()
    return trainer


def _load_resumable(run_dir: Path, steps: int | None) -> tuple[PluginSession, RunConfig, dict[str, Any]]:
    """``load_run`` of the newest checkpoint of ``run_dir`` that can be read."""
    import warnings

    from .checkpoint import resumable
    from .errors import GankitWarning

    first_error = None
    for path in resumable(run_dir):
        try:
            loaded = load_run(path, steps)
        except GankitError as exc:
            first_error = first_error or exc
            continue
        if first_error is not None:
            warnings.warn(f"{first_error}; resuming from {path} (step {loaded[2]['step']}) instead", GankitWarning, stacklevel=3)
        return loaded
    raise first_error


def _check_same_run(run_dir: Path, config: RunConfig) -> None:
    """Refuse a checkpoint whose settings differ from the run's ``config.toml`` (other than
    ``steps``, which a resume may raise): it was copied in from another run."""
    path = run_dir / CONFIG_FILE
    try:
        plugins, options = read_config_file(path)
    except GankitError:
        return  # missing or unreadable: the checkpoint's own settings are the truth, and resume rewrites it
    if plugins != config.plugins:
        raise GankitError(f"the checkpoint in {run_dir} was written with plugins {config.plugins}, but {path} names {plugins}")
    for name, value in options.items():
        if name != "steps" and name in config.options and config.options[name] != value:
            raise GankitError(
                f"the checkpoint in {run_dir} was written with {name} = {config.options[name]!r}, but {path} says {value!r}"
            )


def restore(checkpoint: str | Path) -> Any:
    """The :class:`gankit.Trainer` of a checkpoint, rebuilt with its plugins and state loaded."""
    from .trainer import Trainer

    session, config, state = load_run(checkpoint)
    trainer = Trainer(session, config)
    trainer.load_state_dict(state)
    return trainer


def sample(checkpoint: str | Path, n: int = 64, out: str | Path = "samples.png", seed: int = 0) -> Path:
    """Write ``n`` samples from a checkpoint's generator: ``.png`` (grid or scatter) or ``.npy``.

    The run is rebuilt with its plugins (so techniques such as an EMA of the generator,
    virtual batch norm, conditioning and truncation apply as in training) and its data set.
    """
    import numpy as np

    from .images import save_samples

    out = Path(out)
    if out.suffix not in (".png", ".npy"):
        raise GankitError(f"--out {out}: the file name must end in .png or .npy")
    if n < 1:
        raise GankitError(f"-n must be >= 1, got {n}")
    x = restore(checkpoint).sample(n, seed).numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x)
    else:
        save_samples(x, out)
    return out


def evaluate(
    checkpoint: str | Path,
    metrics: Sequence[str] | None = None,
    n: int = 2500,
    seed: int = 0,
    features: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint's generator: ``n`` samples (noise seed ``seed``) against held-out
    real data (see :mod:`gankit.metrics`), with the named ``metrics`` or every one that applies.

    ``features`` is a TorchScript module (e.g. Inception) for the feature-space metrics in
    place of the built-in digits classifier. Returns ``{"checkpoint", "step", "data", "n"
    (samples per set: fewer than asked where the held-out data is smaller), "seed",
    "features", "metrics": {metric: {key: value, key_real: real-vs-real baseline}}}``.
    """
    from .checkpoint import checkpoint_path
    from .metrics import MIN_SAMPLES, choose, collect, evaluate_samples

    if n < MIN_SAMPLES:
        raise GankitError(f"-n must be >= {MIN_SAMPLES}, got {n}")
    if features is not None and not Path(features).is_file():
        raise GankitError(f"--features {features}: no such file")
    trainer = restore(checkpoint)
    options = {"features": str(features) if features is not None else None}
    chosen = choose(collect(trainer.session), metrics, trainer.dataset, options)
    k, results = evaluate_samples(chosen, lambda k: trainer.sample(k, seed).numpy(), trainer.dataset, n, seed, options)
    return {
        "checkpoint": str(checkpoint_path(checkpoint)), "step": trainer.step, "data": trainer.dataset.name, "n": k,
        "seed": seed, "features": options["features"], "metrics": results,
    }
