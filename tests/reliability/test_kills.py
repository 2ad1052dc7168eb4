"""Exact resume after a crash: runs killed with SIGKILL at random moments (inside checkpoint
writes too) and resumed with --resume end bitwise identical to an uninterrupted run.

``GANKIT_RELIABILITY_KILLS`` (default 4) sets how many kills the random-kill test survives;
docs/reliability.md reports a longer run of it.
"""
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from conftest import quick_flags

KILLS = int(os.environ.get("GANKIT_RELIABILITY_KILLS", "4"))
#: The run every test here compares with: a line per step, a checkpoint every 3 steps, and
#: steps enough for every kill (each comes 1-8 steps after the resume).
RUN = ["train", "--plugin", "wgan_clip", *quick_flags(steps=max(40, 10 * KILLS), log_every=1), "--checkpoint-every", "3"]


def start(*argv, env=None, driver=None):
    """``gankit ARGV`` in a subprocess (or ``driver``, a script that ends by calling the CLI)."""
    code = driver or "import sys; from gankit.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def lines(run):
    path = run / "metrics.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


def metrics(run):
    """The run's log without the wall-clock times."""
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in (run / "metrics.jsonl").read_text().splitlines()]


def tensors(run):
    """Every tensor of the final checkpoint except RNG states: models and optimizer states."""
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    out = {}

    def walk(prefix, value):
        if isinstance(value, torch.Tensor):
            out[prefix] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{prefix}.{i}", item)

    for part in ("generator", "critic", "opt_generator", "opt_critic", "data_order"):
        walk(part, state[part])
    return state["step"], out


def assert_same_run(run, reference):
    step, got = tensors(run)
    ref_step, want = tensors(reference)
    assert step == ref_step
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name
    assert metrics(run) == metrics(reference)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    finish(start(*RUN, "--out", str(run)))
    return run


def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path, reference):
    run, rng = tmp_path / "run", random.Random(2026)
    kills = mid_write = 0
    process = start(*RUN, "--out", str(run))
    while kills < KILLS:
        target = lines(run) + rng.randint(1, 8)  # kill a few steps on, at a random moment of a step
        while lines(run) < target and process.poll() is None:
            time.sleep(0.005)
        if process.poll() is not None:
            break
        time.sleep(rng.uniform(0, 0.08))
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        mid_write += any(p.name.endswith(".tmp") for p in run.rglob("*"))
        if (run / "checkpoint.pt").exists():
            process = start("train", "--resume", str(run))
        else:  # killed before its first checkpoint: nothing was saved, start again
            process = start(*RUN, "--out", str(run), "--overwrite")
    finish(process)
    assert kills == KILLS, "the run finished before every kill; lengthen it"
    assert_same_run(run, reference)
    print(f"kills survived: {kills}, of which {mid_write} inside a checkpoint write")


KILL_INSIDE_SAVE = textwrap.dedent("""
    import os, signal, sys, torch
    from gankit.cli import main
    when, real, count = os.environ["KILL_WHEN"], torch.save, [0]

    def save(obj, f, *args, **kwargs):  # the second checkpoint dies half-written or unrenamed
        count[0] += 1
        real(obj, f, *args, **kwargs)
        if count[0] == 2 and when == "half-written":
            f.flush()
            f.truncate(f.tell() // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        if count[0] == 2 and when == "before-rename":
            os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)

    torch.save = save
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("when", ["half-written", "before-rename"])
def test_a_kill_inside_a_checkpoint_write_leaves_the_previous_checkpoint(tmp_path, reference, when):
    run = tmp_path / "run"
    process = start(*RUN, "--out", str(run), env={"KILL_WHEN": when}, driver=KILL_INSIDE_SAVE)
    process.communicate(timeout=300)
    assert process.returncode == -signal.SIGKILL
    assert any(p.name.endswith(".tmp") for p in run.iterdir())  # the interrupted write
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 3  # the first checkpoint, intact
    finish(start("train", "--resume", str(run)))
    assert not any(p.name.endswith(".tmp") for p in run.rglob("*"))
    assert_same_run(run, reference)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_a_checkpoint_before_exit(tmp_path, reference, sig):
    run = tmp_path / "run"
    process = start(*RUN, "--checkpoint-every", "1000", "--out", str(run))
    while lines(run) < 5:
        time.sleep(0.01)
    process.send_signal(sig)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    step = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert step >= 5 and f"stopped at step {step}" in out
    finish(start("train", "--resume", str(run)))
    step, got = tensors(run)
    _, want = tensors(reference)
    assert all(torch.equal(got[name], want[name]) for name in want)
