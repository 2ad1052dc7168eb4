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
