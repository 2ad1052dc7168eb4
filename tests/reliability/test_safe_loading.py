"""A checkpoint file cannot execute code: every command that reads one uses the safe loader."""
import os

import pytest
import torch

import gankit.api
from conftest import QUICK
from gankit import GankitError
from gankit.cli import main


class Payload:
    """Unpickling this runs ``os.system``: what an attacker would put in a checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def poisoned(tmp_path):
    """A real run whose checkpoint.pt was replaced by one carrying the payload."""
    run, marker = tmp_path / "run", tmp_path / "pwned"
    gankit.train(["wgan_clip"], {**QUICK, "steps": 2}, out=run)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["generator"]["payload"] = Payload(marker)
    torch.save(state, run / "checkpoint.pt")
    return run, marker


def test_the_payload_is_live(poisoned):
    """The unsafe loader runs it: the tests below are not vacuous."""
    run, marker = poisoned
    torch.load(run / "checkpoint.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("argv", [
    ["sample", "--checkpoint", "{run}", "--out", "{tmp}/x.png"],
    ["eval", "--checkpoint", "{run}", "--metrics", "w1", "-n", "100"],
    ["train", "--resume", "{run}", "--steps", "4"],
])
def test_no_command_runs_a_checkpoints_code(capsys, poisoned, argv):
    run, marker = poisoned
    assert main([a.format(run=run, tmp=run.parent) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "was refused by the safe loader (weights_only)" in err and len(err.splitlines()) <= 2  # + a fallback warning
    assert not marker.exists()


def test_the_python_api_refuses_it_too(poisoned):
    run, marker = poisoned
    with pytest.raises(GankitError, match="refused by the safe loader"):
        gankit.api.restore(run)
    assert not marker.exists()
