"""The command line end to end: what a run leaves, resume, sampling, and every bad input."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.api
from conftest import EXAMPLE_PLUGIN, assert_one_line_error, quick_flags, run_gankit
from gankit import GankitError
from gankit.cli import main

METRIC_KEYS = {"step", "loss_critic", "loss_generator", "wasserstein_estimate", "time"}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One short wgan_clip run on digits through the real command, shared by several tests."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = run_gankit(
        "train", "--plugin", "wgan_clip", "--steps", "20", "--log-every", "5", "--sample-every", "10",
        "--checkpoint-every", "10", "--progress", "lines", "--device", "cpu", "--out", str(out),
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_a_run_leaves_config_metrics_samples_and_checkpoint(digits_run):
    out, result = digits_run
    assert "done: 20 steps" in result.stdout and "step 20/20" in result.stderr
    config = (out / "config.toml").read_text()
    assert 'plugins = [\n    "wgan_clip",\n]' in config and "n_critic = 5" in config and 'torch = "' in config
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [5, 10, 15, 20]
    assert all(METRIC_KEYS <= set(m) and np.isfinite([m[k] for k in METRIC_KEYS]).all() for m in lines)
    assert all(m["wasserstein_estimate"] == pytest.approx(-m["loss_critic"]) for m in lines)
    for name in ("step_0000010.png", "step_0000020.png", "latest.png"):
        with Image.open(out / "samples" / name) as image:
            assert image.size == (2 + 8 * 34, 2 + 8 * 34)  # 8×8 grid of 8×8 digits at 4× with 2px gaps
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 20 and state["config"]["plugins"] == ["wgan_clip"]
    assert all(p.abs().max() <= 0.01 for p in state["critic"].values())


def test_resume_continues_from_the_checkpoint_step(digits_run, tmp_path):
    out, _ = digits_run
    result = run_gankit("train", "--resume", str(out), "--steps", "30")
    assert result.returncode == 0, result.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 30
    assert "steps = 30" in (out / "config.toml").read_text()


def test_sample_writes_png_and_npy(digits_run, tmp_path):
    out, _ = digits_run
    assert main(["sample", "--checkpoint", str(out), "-n", "10", "--out", str(tmp_path / "s.npy")]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (10, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "-n", "16", "--out", str(tmp_path / "s.png")]) == 0
    with Image.open(tmp_path / "s.png") as image:
        assert image.size == (2 + 4 * 34, 2 + 4 * 34)
    again = tmp_path / "again.npy"
    main(["sample", "--checkpoint", str(out), "-n", "10", "--out", str(again)])
    assert np.array_equal(np.load(again), x)  # same seed, same samples


def test_config_file_reproduces_a_run(tmp_path):
    first = tmp_path / "first"
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(first)]) == 0
    second = tmp_path / "second"
    assert main(["train", "--config", str(first / "config.toml"), "--out", str(second)]) == 0
    a = torch.load(first / "checkpoint.pt", weights_only=True)
    b = torch.load(second / "checkpoint.pt", weights_only=True)
    assert a["config"]["options"] == b["config"]["options"]
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])


def test_the_example_third_party_plugin_trains_from_module_path_and_file(tmp_path):
    env = {"PYTHONPATH": str(EXAMPLE_PLUGIN.parent)}
    for spec in ("gankit_hinge", str(EXAMPLE_PLUGIN)):
        out = tmp_path / spec.replace("/", "_")
        result = run_gankit("train", "--plugin", spec, *quick_flags(steps=20, log_every=10), "--out", str(out), env=env)
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert len(lines) == 2 and all(np.isfinite(m["loss_critic"]) for m in lines)
        assert "hinge_margin = 1.0" in (out / "config.toml").read_text()


def test_errors_are_one_line_without_traceback_in_a_real_process(tmp_path):
    assert_one_line_error(run_gankit("train", "--plugin", "wgan_clp"), "unknown plugin 'wgan_clp'", "wgan_clip")
    assert_one_line_error(run_gankit("train", "--plugin", "wgan_clip", "--data", str(tmp_path / "none.npy")), "does not exist")


def cli_error(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("gankit: error: "), (code, err)
    return err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--plugin", "wgan_clip", "--n-critic", "0"], "option n_critic: expected an integer >= 1, got '0'"),
        (["train", "--plugin", "wgan_clip", "--lr-critic", "-1"], "option lr_critic: expected a number > 0"),
        (["train", "--plugin", "wgan_clip", "--clip-value", "0"], "option clip_value: expected a number > 0"),
        (["train", "--plugin", "wgan_clip", "--steps", "0"], "option steps: expected an integer >= 1"),
        (["train", "--plugin", "wgan_clip", "--optimizer", "adamw"], "expected one of rmsprop, adam, sgd"),
        (["train", "--plugin", "wgan_clip", "--clip-valu", "1"], "unknown option --clip-valu; did you mean --clip-value"),
        (["train", "--plugin", "wgan_clip", "stray"], "unexpected argument 'stray'"),
        (["train", "--n-critic", "1", "--progress", "off", "--data", "ring8"], "no selected plugin provides a loss"),
        (["train", "--config", "/nonexistent/run.toml"], "config file /nonexistent/run.toml does not exist"),
        (["sample", "--checkpoint", "/nonexistent", "--out", "x.png"], "checkpoint /nonexistent does not exist"),
        (["sample", "--checkpoint", "/nonexistent", "--out", "x.jpg"], "must end in .png or .npy"),
        (["sample", "--checkpoint", "x"], "the following arguments are required: --out"),
        (["train", "--resume", "/nonexistent"], "no such run directory"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_bad_inputs(capsys, argv, fragment):
    assert fragment in cli_error(capsys, *argv)


def test_bad_config_files(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("plugins = [\n")
    assert "is not valid TOML" in cli_error(capsys, "train", "--config", str(bad))
    bad.write_text("n_critic = 3\n")
    assert "unknown key n_critic; put options under [options]" in cli_error(capsys, "train", "--config", str(bad))
    bad.write_text('plugins = ["wgan_clip"]\n[options]\nn_critc = 3\n')
    assert "unknown option n_critc in " in cli_error(capsys, "train", "--config", str(bad))


def test_out_holding_a_run_is_protected(capsys, tmp_path):
    out = tmp_path / "run"
    flags = ["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(out)]
    assert main(flags) == 0
    before = (out / "metrics.jsonl").read_text()
    assert "already holds a run; continue it with --resume" in cli_error(capsys, *flags)
    assert (out / "metrics.jsonl").read_text() == before
    assert main([*flags, "--overwrite", "--seed", "5"]) == 0
    assert "seed = 5" in (out / "config.toml").read_text()
    assert "already done 6 of 6 steps" in cli_error(capsys, "train", "--resume", str(out))
    assert "only --steps may be given" in cli_error(capsys, "train", "--resume", str(out), "--seed", "1")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert "is not empty" in cli_error(capsys, "train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(other))


def test_corrupt_and_malicious_checkpoints_are_refused(capsys, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(run)]) == 0
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    assert "is corrupted or not a gankit checkpoint" in cli_error(capsys, "sample", "--checkpoint", str(run), "--out", "x.png")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": 1, "payload": Evil()}, run / "checkpoint.pt")
    assert "refused by the safe loader" in cli_error(capsys, "sample", "--checkpoint", str(run), "--out", "x.png")
    torch.save({"format": 1}, run / "checkpoint.pt")
    assert "is missing config" in cli_error(capsys, "sample", "--checkpoint", str(run), "--out", "x.png")


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out



def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "gankit", "train", "--plugin", "wgan_clip", *quick_flags(steps=100000, log_every=1),
         "--checkpoint-every", "0", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 3) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert step >= 3 and f"stopped at step {step}" in stdout and f"--resume {out}" in stdout
    resumed = run_gankit("train", "--resume", str(out), "--steps", str(step + 2))
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == step + 2


def test_build_ext_reports_what_built(capsys):
    assert main(["build-ext"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cpp: built (") and ".so)" in out


def test_a_checkpoint_from_before_new_core_options_loads_but_not_one_missing_a_plugin_option(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(out)]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    for name in ("truncation", "eval_every"):  # a core option and an always-on plugin's, added later
        del state["config"]["options"][name]
    torch.save(state, out / "old.pt")
    _, config, _ = gankit.api.load_run(out / "old.pt")
    assert config.options["truncation"] == 0.0 and config.options["eval_every"] == 0
    del state["config"]["options"]["clip_value"]  # the selected plugin's own option
    torch.save(state, out / "other.pt")
    with pytest.raises(GankitError, match="has no value for option clip_value; its plugins have changed"):
        gankit.api.load_run(out / "other.pt")
