"""``gankit eval`` and ``gankit.api.evaluate`` end to end, and evaluation during training."""
import json
import re
import subprocess
import sys

import pytest

from conftest import QUICK, REPO, assert_one_line_error, quick_flags, run_gankit
from gankit import GankitError, api
from gankit.cli import main

RING_KEYS = {"modes", "hq", "w1", "sliced_w1", "parzen", "parzen_sigma"}
DIGITS_KEYS = {"w1", "sliced_w1", "fid", "kid", "is", "precision", "recall", "density", "coverage", "classes",
               "class_tv", "class_kl", "parzen", "parzen_sigma"}


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "ring"
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "digits"
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(data="digits", steps=2), "--out", str(out)]) == 0
    return out


def test_eval_prints_a_table_and_writes_json_with_baselines(ring_run, capsys):
    assert main(["eval", "--checkpoint", str(ring_run), "-n", "500"]) == 0
    stdout = capsys.readouterr().out
    assert "real vs real" in stdout and "500 generated samples" in stdout
    assert re.search(r"│ modes\s+│\s+\d+ │\s+8 │", stdout), stdout
    result = json.loads((ring_run / "eval.json").read_text())
    assert result["data"] == "ring8" and result["step"] == QUICK["steps"] and result["n"] == 500 and result["seed"] == 0
    values = {key: value for metric in result["metrics"].values() for key, value in metric.items()}
    assert set(values) == RING_KEYS | {key + "_real" for key in RING_KEYS}
    assert values["modes_real"] == 8 and values["hq_real"] == pytest.approx(98.9, abs=1.5)
    assert 0 < values["w1_real"] < values["w1"]  # 6 steps of training are far from the ring


def test_evaluate_is_deterministic_and_takes_names_seed_and_json(ring_run, tmp_path):
    first = api.evaluate(ring_run, metrics=["w1", "modes"], n=200, seed=3)
    assert list(first["metrics"]) == ["modes", "w1"]
    assert api.evaluate(ring_run / "checkpoint.pt", metrics=["w1", "modes"], n=200, seed=3)["metrics"] == first["metrics"]
    assert api.evaluate(ring_run, metrics=["w1"], n=200, seed=4)["metrics"]["w1"] != first["metrics"]["w1"]
    target = tmp_path / "sub" / "ring.json"
    assert main(["eval", "--checkpoint", str(ring_run), "--metrics", "w1,modes", "-n", "200", "--seed", "3",
                 "--json", str(target)]) == 0
    assert json.loads(target.read_text())["metrics"] == first["metrics"]


def test_eval_on_digits_gives_the_feature_metrics(digits_run):
    result = api.evaluate(digits_run, n=2500)
    assert result["n"] == 599  # the held-out third: fewer than asked
    values = {key: value for metric in result["metrics"].values() for key, value in metric.items()}
    assert set(values) == DIGITS_KEYS | {key + "_real" for key in DIGITS_KEYS}
    assert values["fid"] > 10 * values["fid_real"] and values["is_real"] > 8 and values["classes_real"] == 1
    assert values["precision_real"] > 0.8 and values["coverage_real"] > 0.8


def test_a_torchscript_feature_extractor_replaces_the_classifier(digits_run, tmp_path):
    import torch

    class Both(torch.nn.Module):
        def forward(self, x):
            flat = x.flatten(1)
            return flat[:, :16], flat[:, :10]

    class FeaturesOnly(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)

    torch.jit.script(Both()).save(str(tmp_path / "both.pt"))
    torch.jit.script(FeaturesOnly()).save(str(tmp_path / "features.pt"))
    result = api.evaluate(digits_run, metrics=["fid", "is"], n=100, features=tmp_path / "both.pt")
    assert result["features"] == str(tmp_path / "both.pt") and 1 <= result["metrics"]["is"]["is"] <= 10
    with pytest.raises(GankitError, match="metric 'is' needs class logits; the --features module returns features only"):
        api.evaluate(digits_run, metrics=["is"], n=100, features=tmp_path / "features.pt")
    with pytest.raises(GankitError, match="--features nowhere.pt: no such file"):
        api.evaluate(digits_run, features="nowhere.pt")
    (tmp_path / "junk.pt").write_text("not a module")
    with pytest.raises(GankitError, match="is not a TorchScript module"):
        api.evaluate(digits_run, metrics=["fid"], n=100, features=tmp_path / "junk.pt")


def test_unknown_or_inapplicable_metric_is_a_one_line_error(ring_run):
    result = run_gankit("eval", "--checkpoint", str(ring_run), "--metrics", "w1,nope")
    assert_one_line_error(result, "unknown metric 'nope'; choose from modes, w1, sliced_w1, parzen")
    with pytest.raises(GankitError, match="metric 'fid' does not apply to data ring8"):
        api.evaluate(ring_run, metrics=["fid"])
    with pytest.raises(GankitError, match="-n must be >= 10, got 3"):
        api.evaluate(ring_run, n=3)


def test_eval_every_writes_metric_values_into_metrics_jsonl(tmp_path):
    flags = quick_flags(eval_every=4, eval_metrics="modes,w1", eval_samples=200)
    assert main(["train", "--plugin", "wgan_clip", *flags, "--out", str(tmp_path / "on")]) == 0
    lines = [json.loads(line) for line in (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4, 6]
    assert "modes" not in lines[0] and "modes" not in lines[2]
    assert {"modes", "modes_real", "hq", "hq_real", "w1", "w1_real", "eval_time"} <= set(lines[1])
    assert lines[1]["modes_real"] == 8 and lines[1]["w1"] > lines[1]["w1_real"] > 0

    assert main(["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(tmp_path / "off")]) == 0
    off = [json.loads(line) for line in (tmp_path / "off" / "metrics.jsonl").read_text().splitlines()]
    for with_eval, without in zip(lines, off):  # evaluating does not change training
        assert with_eval["loss_critic"] == without["loss_critic"] and with_eval["loss_generator"] == without["loss_generator"]


def test_a_metric_that_draws_random_numbers_does_not_change_training(write_plugin, tmp_path):
    """A third-party metric may use the global RNG; evaluating during training still leaves the
    run's random stream (here wgan_gp's interpolation noise) as it was."""
    path = write_plugin("myplug_noisy_metric", """
        import torch
        from gankit import hookimpl
        from gankit.metrics import Metric

        def noisy(ctx):
            return {"noisy": float(torch.rand(())), "noisy_real": float(torch.rand(()))}

        @hookimpl
        def gankit_metrics():
            return [Metric("noisy", "draws from the global RNG", lambda dataset, options: True, noisy)]
    """)
    runs = {}
    for name, flags in {"on": quick_flags(eval_every=2, eval_samples=50, eval_metrics="noisy"), "off": quick_flags()}.items():
        assert main(["train", "--plugin", "wgan_gp", "--plugin", str(path), *flags, "--out", str(tmp_path / name)]) == 0
        runs[name] = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    assert "noisy" in runs["on"][0]
    for with_eval, without in zip(runs["on"], runs["off"], strict=True):
        assert with_eval["loss_critic"] == without["loss_critic"] and with_eval["loss_generator"] == without["loss_generator"]


def test_eval_options_are_checked_before_anything_is_written(tmp_path):
    with pytest.raises(GankitError, match=r"option eval_every: 3 is not a multiple of log_every \(2\)"):
        api.train(["wgan_clip"], {**QUICK, "eval_every": 3}, out=tmp_path / "a")
    with pytest.raises(GankitError, match="option eval_metrics: metric 'fid' does not apply to data ring8"):
        api.train(["wgan_clip"], {**QUICK, "eval_every": 2, "eval_metrics": "fid"}, out=tmp_path / "b")
    with pytest.raises(GankitError, match="option eval_metrics: unknown metric 'nope'"):
        api.train(["wgan_clip"], {**QUICK, "eval_metrics": "nope"}, out=tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_a_plugin_adds_a_metric_as_hooks_md_shows(write_plugin, tmp_path):
    reference = (REPO / "docs" / "hooks.md").read_text()
    section = reference[reference.index("### gankit_metrics"):]
    source = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    path = write_plugin("myplug_metric", source)
    out = tmp_path / "run"
    assert main(["train", "--plugin", "wgan_clip", "--plugin", str(path), *quick_flags(eval_every=2, eval_samples=50,
                 eval_metrics="mean_gap"), "--out", str(out)]) == 0
    assert "mean_gap_real" in json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    result = api.evaluate(out, metrics=["mean_gap"], n=50)
    assert set(result["metrics"]["mean_gap"]) == {"mean_gap", "mean_gap_real"}


def test_eval_help_and_plugins_do_not_import_torch():
    code = (
        "import sys\nfrom gankit.cli import main\n"
        "assert main(['plugins']) == 0\n"
        "assert main(['eval', '--help']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--checkpoint PATH" in result.stdout and "--features PATH" in result.stdout
    assert "metrics" in result.stdout and "evaluation" in result.stdout  # the two plugins are listed
