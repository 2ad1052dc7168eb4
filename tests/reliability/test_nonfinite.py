"""The NaN/Inf guard: a non-finite loss or parameter stops the run naming the step and the last
good checkpoint, and no checkpoint is written from a bad state; ``--nonfinite skip`` drops the
bad updates instead."""
import json

import pytest
import torch

from conftest import quick_flags
from gankit.checkpoint import load_checkpoint
from gankit.cli import main

SPOILER = '''
import math
from gankit import hookimpl

class NaNAt:
    """The run's loss, but the critic loss is NaN at generator iteration {step}."""

    def __init__(self, loss, trainer):
        self.loss, self.trainer = loss, trainer

    def critic_loss(self, critic, real, fake):
        out = self.loss.critic_loss(critic, real, fake)
        if self.trainer.step + 1 == {step}:
            out.loss = out.loss * math.nan
        return out

    def generator_loss(self, critic, fake, real):
        return self.loss.generator_loss(critic, fake, real)

@hookimpl
def gankit_setup(trainer):
    if "{what}" == "loss":
        trainer.loss = NaNAt(trainer.loss, trainer)

@hookimpl(tryfirst=True)  # before the checkpoint of that step
def gankit_step_end(trainer, step):
    if "{what}" == "parameter" and step == {step}:
        next(trainer.generator.parameters()).data[0] = math.inf
'''


def spoiler(write_plugin, what, step):
    return str(write_plugin("spoiler", SPOILER.replace("{what}", what).replace("{step}", str(step))))


def run(capsys, plugin, out, *extra):
    code = main(["train", "--plugin", "wgan_clip", "--plugin", plugin,
                 *quick_flags(steps=20, log_every=5, checkpoint_every=5), "--out", str(out), *extra])
    return code, capsys.readouterr().err.strip()


def logged(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_nan_loss_stops_the_run_naming_the_step_and_the_last_good_checkpoint(capsys, tmp_path, write_plugin):
    out = tmp_path / "run"
    code, err = run(capsys, spoiler(write_plugin, "loss", 12), out)
    assert code == 2 and len(err.splitlines()) == 1
    assert err == (f"gankit: error: step 12: loss_critic is not finite; stopped; the last good checkpoint is "
                   f"{out / 'checkpoint.pt'} (step 10): gankit train --resume {out}")
    state = load_checkpoint(out)
    assert state["step"] == 10 and all(torch.isfinite(p).all() for p in state["critic"].values())
    assert [m["step"] for m in logged(out)] == [5, 10]  # no line from the bad state


def test_a_non_finite_parameter_stops_the_run(capsys, tmp_path, write_plugin):
    out = tmp_path / "run"
    code, err = run(capsys, spoiler(write_plugin, "parameter", 10), out)
    assert code == 2
    assert "error: generator parameter body.0.weight is not finite; stopped; the last good checkpoint is" in err
    assert "(step 5)" in err
    assert load_checkpoint(out)["step"] == 5


def test_before_the_first_checkpoint_the_message_says_so(capsys, tmp_path, write_plugin):
    code, err = run(capsys, spoiler(write_plugin, "loss", 2), tmp_path / "run")
    assert code == 2 and err.endswith("step 2: loss_critic is not finite; stopped; no checkpoint was written yet")


def test_skip_drops_the_bad_update_and_counts_it(capsys, tmp_path, write_plugin):
    out = tmp_path / "run"
    code, err = run(capsys, spoiler(write_plugin, "loss", 12), out, "--nonfinite", "skip")
    assert code == 0, err
    assert [m["skipped_updates"] for m in logged(out)] == [0, 0, 5, 5]  # the 5 critic updates of step 12
    state = load_checkpoint(out)
    assert state["skipped"] == 5 and all(torch.isfinite(p).all() for p in state["critic"].values())


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_a_finite_run_is_the_same_under_both_modes(tmp_path, mode):
    import gankit

    a = gankit.train(["wgan_clip"], {"data": "ring8", "steps": 6, "progress": "off", "device": "cpu", "nonfinite": mode})
    b = gankit.train(["wgan_clip"], {"data": "ring8", "steps": 6, "progress": "off", "device": "cpu"})
    assert all(torch.equal(x, y) for x, y in zip(a.critic.state_dict().values(), b.critic.state_dict().values()))
