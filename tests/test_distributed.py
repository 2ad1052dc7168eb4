"""Data-parallel training through torchrun on the CPU (gloo, 2 processes): the same run as one
process with the doubled batch, rank 0 writes, resume in both directions."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import run_gankit

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

#: SGD keeps the comparison linear in the gradients: RMSprop's g/sqrt(v) turns float noise in
#: near-zero gradients into steps of size lr, so two correct runs drift apart by O(lr).
SGD = ["--optimizer", "sgd", "--lr-critic", "0.01", "--lr-generator", "0.01"]


def torchrun(*argv, nproc=2):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "gankit", *argv],
        capture_output=True, text=True, timeout=600, env=env,
    )


#: A known, rare failure (about 1 launch in 20, seen only under CPU contention in full test runs;
#: none in 25 launches alone): a gloo worker aborts with this C++ message after the run has
#: saved everything. Tolerated here only when the run's checkpoint holds its last step;
#: docs/scaling.md lists it.
GLOO_EXIT_ABORT = "terminate called without an active exception"


def assert_finished(result, run, steps):
    """The launch trained ``run`` to ``steps`` and saved it (see GLOO_EXIT_ABORT)."""
    if result.returncode != 0:
        assert GLOO_EXIT_ABORT in result.stderr, result.stderr
    assert state(run)["step"] == steps, result.stderr


def train_flags(plugin, steps, batch):
    return ["train", "--plugin", plugin, "--data", "ring8", "--steps", str(steps), "--batch-size", str(batch),
            "--log-every", "5", "--checkpoint-every", "5", "--device", "cpu", "--progress", "off", *SGD]


def state(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)


def assert_close_models(a, b, atol):
    for part in ("generator", "critic"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            torch.testing.assert_close(a[part][key], b[part][key], atol=atol, rtol=0, msg=f"{part}.{key}")


def logged(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("plugin", ["wgan_clip", "wgan_gp"])
def test_two_processes_train_as_one_with_the_doubled_batch(tmp_path, plugin):
    two = torchrun(*train_flags(plugin, 10, 32), "--out", str(tmp_path / "two"))
    assert_finished(two, tmp_path / "two", 10)
    one = run_gankit(*train_flags(plugin, 10, 64), "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    assert_close_models(state(tmp_path / "two"), state(tmp_path / "one"), atol=1e-6)
    for a, b in zip(logged(tmp_path / "two"), logged(tmp_path / "one")):
        assert a["step"] == b["step"]
        assert a["loss_critic"] == pytest.approx(b["loss_critic"], abs=1e-6)
    assert two.stdout.count("done: 10 steps") <= 1  # rank 0 reports; the others stay quiet


def test_only_rank_0_writes_and_a_distributed_resume_continues_exactly(tmp_path):
    straight = torchrun(*train_flags("wgan_clip", 10, 32), "--out", str(tmp_path / "straight"))
    assert_finished(straight, tmp_path / "straight", 10)
    half = torchrun(*train_flags("wgan_clip", 5, 32), "--out", str(tmp_path / "resumed"))
    assert_finished(half, tmp_path / "resumed", 5)
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == [
        "checkpoint.pt", "checkpoints", "config.toml", "metrics.jsonl", "samples"]
    resumed = torchrun("train", "--resume", str(tmp_path / "resumed"), "--steps", "10")
    assert_finished(resumed, tmp_path / "resumed", 10)
    assert_close_models(state(tmp_path / "resumed"), state(tmp_path / "straight"), atol=0)
    assert [m["step"] for m in logged(tmp_path / "resumed")] == [5, 10]


def test_a_checkpoint_of_two_processes_resumes_on_one(tmp_path):
    two = torchrun(*train_flags("wgan_clip", 5, 32), "--out", str(tmp_path / "run"))
    assert_finished(two, tmp_path / "run", 5)
    one = run_gankit("train", "--resume", str(tmp_path / "run"), "--steps", "10")
    assert one.returncode == 0, one.stderr
    assert state(tmp_path / "run")["step"] == 10
