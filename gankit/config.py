"""A run's configuration: the core's own options, TOML config files, and resolution.

A run is fully described by its selected plugins and the resolved value of every option;
``config.toml`` in the run directory records exactly that (plus versions) and can be passed
back with ``--config``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import GankitError
from .options import Option, resolve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Options of the core trainer. Plugins recommend other defaults via gankit_option_defaults.
CORE_OPTIONS = (
    Option("steps", int, 15000, "generator iterations to train for", ge=1),
    Option("seed", int, 0, "random seed (models, noise, data order)", ge=0, le=2**32 - 1),  # numpy's limit
    Option("device", str, "auto", "where to train; auto = CUDA when available", choices=("auto", "cpu", "cuda")),
    Option("data", str, "digits", "a named data set, a folder of images, or a .npy/.npz file"),
    Option("batch_size", int, 64, "samples per batch, for real and generated data (at least 2, for batch norm)", ge=2),
    Option("n_critic", int, 1, "critic steps per generator step", ge=1),
    Option("latent_dim", int, 100, "size of the generator's noise vector z", ge=1),
    Option("log_every", int, 50, "log metrics every this many generator steps", ge=1),
    Option("schedule", str, "alternating", "alternating: n_critic critic steps, then a generator step; merged: the "
           "last critic step and the generator step share one backward pass (stop-gradient)", choices=("alternating", "merged")),
    Option("conditional", bool, False, "condition the generator and the critic on the data's class labels"),
    Option("conditioning", str, "projection", "how a conditional critic takes the label", choices=("projection", "concat")),
    Option("truncation", float, 0.0, "truncation trick when sampling: redraw entries of z beyond this (0 = off)", ge=0),
    Option("precision", str, "fp32", "fp32, or bf16: the networks' forward passes under bfloat16 autocast, "
           "parameters, optimizers and loss math in float32", choices=("fp32", "bf16")),
    Option("nonfinite", str, "stop", "on a NaN or Inf: stop the run naming the step (checked at each log and checkpoint), "
           "or skip: drop updates whose loss is not finite (one read-back per step)", choices=("stop", "skip")),
)

_FILE_KEYS = {"plugins", "options", "versions"}


@dataclass
class RunConfig:
    """Selected plugins (in order) and the value of every option of the run."""

    plugins: list[str]
    options: dict[str, Any]
    versions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"plugins": list(self.plugins), "options": dict(self.options), "versions": dict(self.versions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        return cls(list(data["plugins"]), dict(data["options"]), dict(data.get("versions", {})))

    def to_toml(self) -> str:
        import tomli_w

        header = "# gankit run configuration, as resolved. Re-run with: gankit train --config THIS_FILE\n"
        return header + tomli_w.dumps(self.as_dict())


def read_config_file(path: str | Path) -> tuple[list[str], dict[str, Any]]:
    """Read a TOML config: ``plugins = [...]`` and an ``[options]`` table."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GankitError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GankitError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GankitError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise GankitError(
            f"config file {path}: unknown key {unknown[0]}; put options under [options]"
        )
    plugins = data.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise GankitError(f"config file {path}: plugins must be a list of strings")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise GankitError(f"config file {path}: [options] must be a table")
    return plugins, options


def resolve_config(
    session: Any,
    file_options: Mapping[str, Any] | None = None,
    cli_options: Mapping[str, Any] | None = None,
    file_name: str = "the config file",
) -> RunConfig:
    """Resolve every option of ``session``: defaults < plugins' defaults < file < command line.

    A plugin's recommendation for an option that no selected plugin declares is skipped: it
    applies only where it means something (``wgan_gp`` recommends ``critic_norm = "layer"``,
    an option that exists only when ``dcgan`` is selected).
    """
    table = session.option_table()
    layers = [
        (f"recommended by plugin '{p}'", {k: v for k, v in values.items() if k in table}) for p, values in session.option_defaults()
    ]
    layers.append((f"in {file_name}", file_options or {}))
    layers.append(("given", cli_options or {}))
    return RunConfig(list(session.selected), resolve(table, layers))
