"""The non-finite guard: a NaN or Inf in a loss or a parameter stops the run (or skips the step).

``nonfinite = stop`` (the default) records, on the device and without a host sync, the first
generator iteration at which each loss was not finite; the record and the parameters are
read when the trainer reads anything back anyway (each log line, before each checkpoint and
at the end). A bad value stops the run with a message naming the step, the loss or
parameter, and the last good checkpoint; no checkpoint is written from a bad state.

``nonfinite = skip`` checks each loss before its optimizer step (one host read-back per
step) and drops that update, counting the skipped updates. A non-finite parameter cannot be
undone, so it stops the run in both modes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

from .checkpoint import FILENAME, load_checkpoint
from .errors import GankitError


class NonFiniteError(GankitError):
    """Training produced a NaN or an infinity."""


class NonFiniteGuard:
    """First non-finite step per loss, kept on ``device``; ``check`` raises on any."""

    def __init__(self, names: Sequence[str], device: torch.device) -> None:
        self.names = list(names)
        self.first_bad = torch.full((len(self.names),), -1, dtype=torch.int64, device=device)

    def observe(self, step: int, losses: Iterable[Tensor]) -> None:
        """Note ``step`` for each of the losses (in ``names`` order) that is not finite."""
        finite = torch.stack([torch.isfinite(loss).all() for loss in losses])  # (len(names),)
        self.first_bad.masked_fill_(~finite & (self.first_bad < 0), step)

    def check(self, modules: dict[str, nn.Module], run_dir: Path | None) -> None:
        """Raise :class:`NonFiniteError` if a loss was, or a parameter is, not finite."""
        bad = [(step, name) for step, name in zip(self.first_bad.tolist(), self.names) if step >= 0]
        if bad:
            step, name = min(bad)
            raise NonFiniteError(f"step {step}: {name} is not finite; stopped; {last_good(run_dir)}")
        named = [(f"{role} parameter {name}", p) for role, module in modules.items() for name, p in module.named_parameters()]
        finite = torch.stack([torch.isfinite(p).all() for _, p in named]).tolist() if named else []  # one read-back
        if not all(finite):
            name = named[finite.index(False)][0]
            raise NonFiniteError(f"{name} is not finite; stopped; {last_good(run_dir)}")


def last_good(run_dir: Path | None) -> str:
    """Where the run can continue from, in words, for an error message."""
    if run_dir is None or not (run_dir / FILENAME).is_file():
        return "no checkpoint was written yet"
    try:
        step = load_checkpoint(run_dir / FILENAME)["step"]
    except GankitError:
        return f"the checkpoint in {run_dir} cannot be read"
    return f"the last good checkpoint is {run_dir / FILENAME} (step {step}): gankit train --resume {run_dir}"
