"""Checkpoint files: the last N plus the best are kept; a write error (disk full, read-only
folder) is one line that leaves every existing file intact; a checkpoint that does not fit
the run, or cannot be read, is a clear error or falls back to an older one."""
import errno
import json
import os
import shutil

import pytest
import torch

import gankit
from conftest import QUICK, quick_flags
from gankit import GankitError
from gankit.checkpoint import load_checkpoint
from gankit.cli import main

OPTIONS = {**QUICK, "steps": 12, "log_every": 1, "checkpoint_every": 2}


def train(out, **options):
    return gankit.train(["wgan_clip"], {**OPTIONS, **options}, out=out)


def snapshot(run):
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def one_line_error(capsys, *argv):
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("gankit: error: "), err
    return err


def test_the_last_n_checkpoints_are_kept_and_checkpoint_pt_is_the_newest(tmp_path):
    train(tmp_path / "run", keep_checkpoints=2)
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert kept == ["step-0000010.pt", "step-0000012.pt"]
    newest = tmp_path / "run" / "checkpoints" / "step-0000012.pt"
    assert newest.read_bytes() == (tmp_path / "run" / "checkpoint.pt").read_bytes()
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "step-0000010.pt")["step"] == 10


def test_best_pt_is_the_state_at_the_best_logged_value(tmp_path):
    run = tmp_path / "run"
    trainer = train(run, best_metric="loss_generator", best_mode="max", checkpoint_every=5)
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(logged, key=lambda m: m["loss_generator"])
    state = load_checkpoint(run / "checkpoints" / "best.pt")
    assert state["step"] == best["step"]
    assert state["extra"]["best_checkpoint"] == {"value": best["loss_generator"], "step": best["step"]}
    assert trainer.extra_state["best_checkpoint"].step == best["step"]


def test_best_metric_must_be_logged(capsys, tmp_path):
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", "--data", "ring8", "--best-metric", "w1",
                         "--out", str(tmp_path / "run"))
    assert "option best_metric: 'w1' is not a training metric" in err and "--eval-every" in err
    assert not (tmp_path / "run").exists()


def disk_full_after(monkeypatch, saves):
    """torch.save writes half its bytes and fails with ENOSPC from the ``saves``-th call on."""
    real, count = torch.save, [0]

    def save(obj, f, *args, **kwargs):
        count[0] += 1
        if count[0] < saves:
            return real(obj, f, *args, **kwargs)
        f.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save)


def test_a_full_disk_stops_the_run_with_one_line_and_keeps_the_last_checkpoint(capsys, tmp_path, monkeypatch):
    run = tmp_path / "run"
    disk_full_after(monkeypatch, saves=3)
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", *quick_flags(**OPTIONS), "--out", str(run))
    assert "could not write checkpoint" in err and "No space left on device" in err and "unchanged" in err
    assert load_checkpoint(run)["step"] == 4
    assert not [p for p in run.rglob("*.tmp")]
    monkeypatch.undo()
    assert main(["train", "--resume", str(run)]) == 0  # space is back: the run continues from step 4
    reference = train(tmp_path / "reference")
    assert all(torch.equal(a, b) for a, b in zip(gankit.api.restore(run).generator.state_dict().values(),
                                                   reference.generator.state_dict().values()))


def test_a_metrics_write_error_stops_the_run_and_keeps_the_lines_written(capsys, tmp_path, monkeypatch):
    import builtins

    real_open, run = builtins.open, tmp_path / "run"

    def failing_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("metrics.jsonl") and "a" in mode and (run / "metrics.jsonl").exists() \
                and (run / "metrics.jsonl").read_text().count("\n") >= 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", *quick_flags(**OPTIONS), "--out", str(run))
    assert "could not append to" in err and "metrics.jsonl" in err
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5]
    assert load_checkpoint(run)["step"] == 4


def test_without_hard_links_the_history_is_copied(tmp_path, monkeypatch):
    def no_links(*args):
        raise OSError(errno.EPERM, "links not supported")

    monkeypatch.setattr(os, "link", no_links)
    train(tmp_path / "run", keep_checkpoints=1)
    copy = tmp_path / "run" / "checkpoints" / "step-0000012.pt"
    assert copy.read_bytes() == (tmp_path / "run" / "checkpoint.pt").read_bytes()
    assert os.stat(copy).st_ino != os.stat(tmp_path / "run" / "checkpoint.pt").st_ino


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_directory_is_one_line(capsys, tmp_path):
    run = tmp_path / "run"
    train(run, steps=4)
    before = snapshot(run)
    os.chmod(run, 0o555)
    try:
        err = one_line_error(capsys, "train", "--resume", str(run), "--steps", "8")
    finally:
        os.chmod(run, 0o755)
    assert "could not" in err
    assert snapshot(run) == before


def test_resume_falls_back_to_the_newest_readable_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(run, steps=8, keep_checkpoints=3)
    latest = run / "checkpoint.pt"
    data = latest.read_bytes()
    latest.unlink()  # break the link before truncating, so the history copy of step 8 is cut too
    latest.write_bytes(data[: len(data) // 3])
    (run / "checkpoints" / "step-0000008.pt").unlink()
    with pytest.warns(gankit.errors.GankitWarning, match="corrupted.*resuming from .*step-0000006.pt \\(step 6\\)"):
        resumed = gankit.resume(run, steps=12)
    reference = train(tmp_path / "reference")
    assert all(torch.equal(a, b) for a, b in zip(resumed.critic.state_dict().values(), reference.critic.state_dict().values()))
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))


def test_a_checkpoint_copied_from_another_run_is_refused(capsys, tmp_path):
    train(tmp_path / "a", steps=4, seed=1)
    train(tmp_path / "b", steps=4, seed=2)
    shutil.copyfile(tmp_path / "a" / "checkpoint.pt", tmp_path / "b" / "checkpoint.pt")
    before = snapshot(tmp_path / "b")
    err = one_line_error(capsys, "train", "--resume", str(tmp_path / "b"), "--steps", "8")
    assert "was written with seed = 1, but" in err and "says 2" in err
    assert snapshot(tmp_path / "b") == before


def test_a_checkpoint_of_other_models_names_the_mismatch(tmp_path):
    state = load_checkpoint(train(tmp_path / "a", steps=2).run_dir)
    other = gankit.train(["wgan_clip"], {**OPTIONS, "steps": 1, "latent_dim": 8})
    with pytest.raises(GankitError, match="the checkpoint's generator does not fit this run .*size mismatch"):
        other.load_state_dict(state)


def test_a_truncated_or_keyless_checkpoint_is_a_clear_error(capsys, tmp_path):
    run = tmp_path / "run"
    train(run, steps=2, keep_checkpoints=1)
    shutil.rmtree(run / "checkpoints")
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[:100])
    assert "is corrupted or not a gankit checkpoint" in one_line_error(capsys, "train", "--resume", str(run))
    torch.save({"format": 1, "config": {}}, run / "checkpoint.pt")
    assert "is missing spec, step" in one_line_error(capsys, "train", "--resume", str(run))



def test_a_folder_that_refuses_new_files_is_one_line(capsys, tmp_path, monkeypatch):
    """What a read-only folder does to a non-root user, injected (the test above needs one)."""
    import tempfile

    run = tmp_path / "run"
    train(run, steps=4)
    before = snapshot(run)

    real_mkstemp = tempfile.mkstemp

    def refuse(*args, prefix="", **kwargs):  # refuse the checkpoint's temp file (config.toml is written first)
        if ".pt." in prefix:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_mkstemp(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    err = one_line_error(capsys, "train", "--resume", str(run), "--steps", "8")
    assert "could not write checkpoint" in err and "Permission denied" in err
    after = snapshot(run)
    assert {k: v for k, v in after.items() if k.suffix == ".pt"} == {k: v for k, v in before.items() if k.suffix == ".pt"}


def test_evaluating_best_pt_writes_eval_best_json_which_overwrite_removes(capsys, tmp_path):
    run = tmp_path / "run"
    train(run, steps=4, best_metric="loss_generator")
    assert main(["eval", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--metrics", "w1", "-n", "100"]) == 0
    result = json.loads((run / "eval-best.json").read_text())
    assert result["checkpoint"].endswith("best.pt") and "w1" in result["metrics"]
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(run), "--overwrite"]) == 0
    assert not (run / "eval-best.json").exists() and not (run / "checkpoints" / "best.pt").exists()
