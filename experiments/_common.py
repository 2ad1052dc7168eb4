"""Pieces the experiment scripts share: building a Trainer that writes nothing, and writing
an experiment's numbers as compact JSON."""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import torch

from gankit.config import resolve_config
from gankit.plugins import PluginSession
from gankit.trainer import Trainer


#: The WGAN-GP toy code's training settings (Gulrajani et al. 2017, ``gan_toy.py``: λ = 0.1,
#: Adam β = (0.5, 0.9), batch 256), with the learning rate per data set instead of its 1e-4:
#: chosen in a sweep on seeds 0 and 1 (docs/results.md, section 2). The grid spans 8 units
#: and the ring 2, and Adam's steps do not scale with the data, so the grid takes the larger.
TOY_WGAN_GP = {"gp_weight": 0.1, "beta1": 0.5, "beta2": 0.9}
TOY_WGAN_GP_LR = {"grid25": 1e-3, "ring8": 3e-4}


def toy_settings(variant: str, data: str, width: int) -> tuple[list[str], dict[str, Any]]:
    """Plugins and options that put ``variant`` on the toy networks, ``width`` units wide, at
    batch 256; ``wgan_gp`` also gets :data:`TOY_WGAN_GP` (and its learning rate for ``data``),
    the others keep their paper defaults."""
    options: dict[str, Any] = {"toy_width": width, "batch_size": 256}
    if variant == "wgan_gp":
        lr = TOY_WGAN_GP_LR.get(data, 1e-4)  # other data: the toy code's own
        options.update(TOY_WGAN_GP, lr_critic=lr, lr_generator=lr)
    return ["toy"], options


def make_trainer(plugins: list[str], options: dict[str, Any]) -> Trainer:
    """A Trainer without a run directory: nothing is written, no event hook is called."""
    session = PluginSession(plugins)
    return Trainer(session, resolve_config(session, {}, options))


def rounded(value: Any) -> Any:
    """Floats to 5 significant digits, so the JSON stays small."""
    if isinstance(value, float):
        return float(f"{value:.5g}") if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def write_result(path: Path, experiment: str, config: dict, seconds: float, key_numbers: dict, curves: dict) -> None:
    """``path`` gets the experiment's settings, environment, key numbers and curves."""
    result = {
        "experiment": experiment,
        "config": config,
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "machine": platform.machine(), "seconds": round(seconds, 1)},
        "key_numbers": key_numbers,
        "curves": curves,
    }
    path.write_text(json.dumps(rounded(result), separators=(",", ":")) + "\n", encoding="utf-8")
    print(json.dumps(key_numbers, indent=1))
