"""Every bad input to ``gankit train`` is one line on stderr starting ``gankit: error:``, exit
status 2, no traceback, and leaves a previous run's directory byte for byte as it was, even
when the bad command points ``--out`` at it with ``--overwrite``."""
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import assert_one_line_error, quick_flags, run_gankit
from gankit.cli import main


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("previous") / "run"
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(), "--out", str(run)]) == 0
    return run


def snapshot(run):
    return {p.relative_to(run): p.read_bytes() if p.is_file() else None for p in sorted(run.rglob("*"))}


def one_line_error(capsys, *argv):
    code = main([str(arg) for arg in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("gankit: error: "), (code, err)
    return err


# --- the catalogue: each entry makes its input in a folder and returns the extra arguments ---


def flags(*args):
    return lambda folder: list(args)


def npy(array):
    def make(folder):
        np.save(folder / "data.npy", array, allow_pickle=True)
        return ["--data", folder / "data.npy"]

    return make


def npz(**arrays):
    def make(folder):
        np.savez(folder / "data.npz", **arrays)
        return ["--data", folder / "data.npz"]

    return make


def raw_file(name, data):
    def make(folder):
        (folder / name).write_bytes(data)
        return ["--data", folder / name]

    return make


def image_folder(*images):
    """``images``: (file name, Pillow image or bytes)."""

    def make(folder):
        (folder / "images").mkdir()
        for name, image in images:
            if isinstance(image, bytes):
                (folder / "images" / name).write_bytes(image)
            else:
                image.save(folder / "images" / name)
        return ["--data", folder / "images"]

    return make


def truncated_png():
    buffer = io.BytesIO()
    Image.effect_noise((32, 32), 50).save(buffer, "PNG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def config_file(text):
    def make(folder):
        (folder / "run.toml").write_text(text)
        return ["--config", folder / "run.toml"]

    return make


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
POINTS = np.zeros((100, 2))

BAD_TRAIN_INPUTS = [
    # plugins
    pytest.param(flags("--plugin", "wgan_clp"), "unknown plugin 'wgan_clp'; did you mean wgan_clip", id="unknown plugin"),
    pytest.param(flags("--plugin", "nsgan"), "plugins 'wgan_clip' and 'nsgan' both provide gankit_loss; select only one",
                 id="two loss plugins"),
    pytest.param(flags("--plugin", "nowhere/plugin.py"), "plugin file nowhere/plugin.py does not exist", id="missing plugin file"),
    # option values
    pytest.param(flags("--lr-critic", "-1"), "option lr_critic: expected a number > 0, got '-1'", id="negative lr"),
    pytest.param(flags("--lr-generator=-inf"), "option lr_generator: expected a number > 0, got '-inf'", id="-inf lr"),
    pytest.param(flags("--lr-critic", "nan"), "option lr_critic: expected a number > 0, got 'nan'", id="nan lr"),
    pytest.param(flags("--lr-critic", "fast"), "option lr_critic: expected a number > 0, got 'fast'", id="lr not a number"),
    pytest.param(flags("--clip-value", "0"), "option clip_value: expected a number > 0, got '0'", id="clip_value 0"),
    pytest.param(flags("--clip-value", "-0.01"), "option clip_value: expected a number > 0, got '-0.01'", id="negative clip_value"),
    pytest.param(flags("--clip-value", "inf"), "option clip_value: expected a number > 0, got 'inf'", id="inf clip_value"),
    pytest.param(flags("--n-critic", "0"), "option n_critic: expected an integer >= 1, got '0'", id="n_critic 0"),
    pytest.param(flags("--n-critic", "2.5"), "option n_critic: expected an integer >= 1, got '2.5'", id="fractional n_critic"),
    pytest.param(flags("--steps", "0"), "option steps: expected an integer >= 1, got '0'", id="steps 0"),
    pytest.param(flags("--steps", "-5"), "option steps: expected an integer >= 1, got '-5'", id="negative steps"),
    pytest.param(flags("--steps", "1e3"), "option steps: expected an integer >= 1, got '1e3'", id="steps as a float"),
    pytest.param(flags("--steps", ""), "option steps: expected an integer >= 1, got ''", id="empty steps"),
    pytest.param(flags("--steps"), "argument --steps: expected one argument", id="steps without a value"),
    pytest.param(flags("--batch-size", "50001"), "option batch_size: 50001 is larger than data ring8 (50000 samples)",
                 id="batch larger than the data"),
    pytest.param(flags("--batch-size", "1"), "option batch_size: expected an integer >= 2, got '1'", id="batch of 1 for batch norm"),
    pytest.param(flags("--latent-dim", "0"), "option latent_dim: expected an integer >= 1, got '0'", id="latent_dim 0"),
    pytest.param(flags("--log-every", "-1"), "option log_every: expected an integer >= 1, got '-1'", id="negative log_every"),
    pytest.param(flags("--seed", "-1"), "option seed: expected an integer >= 0 and <= 4294967295, got '-1'", id="negative seed"),
    pytest.param(flags("--seed", str(2**32)), "option seed: expected an integer >= 0 and <= 4294967295, got '4294967296'",
                 id="seed beyond numpy's range"),
    pytest.param(flags("--beta1", "1"), "option beta1: expected a number >= 0 and < 1, got '1'", id="beta1 1"),
    pytest.param(flags("--momentum", "-0.5"), "option momentum: expected a number >= 0, got '-0.5'", id="negative momentum"),
    pytest.param(flags("--truncation", "nan"), "option truncation: expected a number >= 0, got 'nan'", id="nan truncation"),
    pytest.param(flags("--sample-count", "-1"), "option sample_count: expected an integer >= 0, got '-1'", id="negative sample_count"),
    pytest.param(flags("--keep-checkpoints", "0"), "option keep_checkpoints: expected an integer >= 1, got '0'",
                 id="keep_checkpoints 0"),
    pytest.param(flags("--optimizer", "adamw"), "option optimizer: expected one of rmsprop, adam, sgd, got 'adamw'",
                 id="unknown optimizer"),
    pytest.param(flags("--progress", "loud"), "option progress: expected one of auto, bar, lines, off, got 'loud'",
                 id="unknown progress"),
    pytest.param(flags("--conditional=yes"), "ignored explicit argument 'yes'", id="value for a switch"),
    pytest.param(flags("--conditional", "--data", "swissroll"), "option conditional: data swissroll has no labels",
                 id="conditional without labels"),
    pytest.param(flags("--eval-every", "3"), "option eval_every: 3 is not a multiple of log_every (2)",
                 id="eval_every off the log steps"),
    pytest.param(flags("--eval-every", "2", "--eval-metrics", "fid2"), "option eval_metrics: unknown metric 'fid2'",
                 id="unknown eval metric"),
    pytest.param(flags("--best-metric", "los"), "option best_metric: 'los' is not a training metric", id="unknown best metric"),
    pytest.param(flags("--clip-valu", "1"), "unknown option --clip-valu; did you mean --clip-value", id="misspelled flag"),
    pytest.param(flags("stray"), "unexpected argument 'stray'", id="stray argument"),
    pytest.param(flags("--device", "tpu"), "option device: expected one of auto, cpu, cuda, got 'tpu'", id="unknown device"),
    pytest.param(flags("--device", "cuda"), "device cuda: CUDA is not available", id="cuda without CUDA", marks=NO_CUDA),
    # config files
    pytest.param(config_file("[options]\nn_critic = 0\n"), "option n_critic: expected an integer >= 1, got 0",
                 id="bad value in config"),
    pytest.param(config_file("[options]\nlr_critic = \"fast\"\n"), "option lr_critic: expected a number > 0, got 'fast'",
                 id="string for a number in config"),
    pytest.param(config_file("plugins = [\n"), "is not valid TOML", id="config not TOML"),
    # --data: paths
    pytest.param(flags("--data", "nowhere.npy"), "data file nowhere.npy does not exist", id="missing npy"),
    pytest.param(flags("--data", "nowhere"), "data 'nowhere' is neither a known data set (digits, grid25, ring8, swissroll) nor",
                 id="missing path"),
    pytest.param(flags("--data", ""), "data: expected a named data set (digits, grid25, ring8, swissroll), a folder or a .npy/.npz",
                 id="empty data"),
    pytest.param(flags("--data", "x" * 300 + ".npy"), "cannot be accessed: [Errno 36] File name too long", id="name too long"),
    pytest.param(raw_file("points.csv", b"1,2\n3,4\n"), "points.csv: expected a folder of images or a .npy/.npz file",
                 id="unknown suffix"),
    # --data: image folders
    pytest.param(image_folder(), "contains no images (.bmp, .gif", id="empty folder"),
    pytest.param(image_folder(("a.png", b"\x89PNG garbage")), "cannot read image a.png: UnidentifiedImageError",
                 id="garbage png"),
    pytest.param(image_folder(("a.png", truncated_png())), "cannot read image a.png: OSError", id="truncated png"),
    pytest.param(image_folder(("a.png", Image.new("L", (4, 4))), ("b.png", Image.new("L", (5, 4)))),
                 "images differ in size (4x4 and 5x4 in b.png); resize them to one size", id="mixed sizes"),
    pytest.param(image_folder(*[(f"{i}.png", Image.new("L", (4, 4))) for i in range(3)]),
                 "option batch_size: 64 is larger than data images (3 samples)", id="fewer images than a batch"),
    # --data: arrays
    pytest.param(npy(np.zeros(10)), "expected shape (N, D), (N, H, W) or (N, C, H, W) with C in 1 or 3, got (10,)", id="1-D array"),
    pytest.param(npy(np.zeros((4, 1, 2, 2, 2))), "got (4, 1, 2, 2, 2)", id="5-D array"),
    pytest.param(npy(np.zeros((4, 2, 8, 8))), "with C in 1 or 3, got (4, 2, 8, 8)", id="2 channels"),
    pytest.param(npy(np.zeros((0, 2))), "data data.npy: expected a non-empty array of samples, got shape (0, 2)", id="0 samples"),
    pytest.param(npy(np.zeros((100, 0))), "expected a non-empty array of samples, got shape (100, 0)", id="0 features"),
    pytest.param(npy(np.array([[0.0, np.nan]] * 100)), "data data.npy: contains NaN or infinite values", id="NaN in npy"),
    pytest.param(npz(x=np.full((100, 2), np.inf)), "data data.npz: contains NaN or infinite values", id="inf in npz"),
    pytest.param(npy(np.full((100, 2), 1e300)), "data data.npy: values beyond the float32 range", id="beyond float32"),
    pytest.param(npy(np.full((100, 8, 8), 2.0)), "image values must lie in [-1, 1]", id="image values out of range"),
    pytest.param(npz(a=POINTS, b=POINTS), "expected an array named x (and optionally y), found a, b", id="npz without x"),
    pytest.param(npz(), "expected an array named x (and optionally y), found no arrays", id="empty npz"),
    pytest.param(npy(np.full((100, 2), "a")), "expected a numeric array (bool, integer or float), got dtype <U1", id="strings"),
    pytest.param(npy(np.zeros((100, 2), complex)), "got dtype complex128", id="complex numbers"),
    pytest.param(npy(np.zeros((100, 2), "datetime64[s]")), "got dtype datetime64[s]", id="dates"),
    pytest.param(npy(np.zeros((100, 2), "timedelta64[s]")), "got dtype timedelta64[s]", id="durations"),
    pytest.param(npy(np.array([[1, None]] * 100)), "data.npy cannot be read: ValueError: Object arrays cannot be loaded",
                 id="pickled objects"),
    pytest.param(raw_file("data.npy", b"not numpy"), "data.npy cannot be read: ValueError", id="garbage npy"),
    pytest.param(raw_file("data.npz", b"PK\x03\x04 not a zip"), "data.npz cannot be read: BadZipFile", id="garbage npz"),
    pytest.param(raw_file("data.npy", b""), "data.npy cannot be read: EOFError", id="empty npy"),
    pytest.param(npz(x=POINTS, y=np.zeros(3)), "expected labels y of shape (100,), one per sample, got shape (3,)",
                 id="too few labels"),
    pytest.param(npz(x=POINTS, y=-np.ones(100, int)), "labels y must be class indices (integers >= 0), got -1",
                 id="negative labels"),
    pytest.param(npz(x=POINTS, y=np.full(100, 0.5)), "labels y must be class indices (integers >= 0), got dtype float64",
                 id="fractional labels"),
    pytest.param(npz(x=POINTS, y=np.full(100, np.nan)), "labels y must be class indices", id="NaN labels"),
    pytest.param(npz(x=POINTS, y=np.full(100, "cat")), "labels y must be class indices (integers >= 0), got dtype <U3",
                 id="string labels"),
]


@pytest.mark.parametrize("make, fragment", BAD_TRAIN_INPUTS)
def test_a_bad_input_is_one_line_and_even_overwrite_leaves_the_previous_run(capsys, tmp_path, previous_run, make, fragment):
    before = snapshot(previous_run)
    extra = make(tmp_path)
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", *quick_flags(), *extra, "--out", previous_run, "--overwrite")
    assert fragment in err
    assert snapshot(previous_run) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_data_folder_is_one_line(capsys, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    Image.new("L", (4, 4)).save(folder / "a.png")
    folder.chmod(0)
    try:
        assert "data folder" in one_line_error(capsys, "train", "--plugin", "wgan_clip", *quick_flags(data=folder))
    finally:
        folder.chmod(0o700)


# --- commands aimed at the previous run itself -----------------------------------------------

RUN_COMMANDS = [
    pytest.param(lambda run: ["train", "--plugin", "wgan_clip", *quick_flags(), "--out", run],
                 "already holds a run; continue it with --resume", id="--out at a run without --resume"),
    pytest.param(lambda run: ["train", "--plugin", "wgan_clip", *quick_flags(), "--out", run / "config.toml"],
                 "config.toml exists and is not a directory", id="--out at a file of the run"),
    pytest.param(lambda run: ["train", "--plugin", "wgan_clip", *quick_flags(), "--out", run / "checkpoint.pt" / "new"],
                 "Not a directory", id="--out under a file of the run"),
    pytest.param(lambda run: ["train", "--resume", run], "already done 6 of 6 steps; pass --steps N", id="resume a finished run"),
    pytest.param(lambda run: ["train", "--resume", run, "--steps", "0"], "option steps: expected an integer >= 1, got '0'",
                 id="resume with steps 0"),
    pytest.param(lambda run: ["train", "--resume", run, "--steps", "many"], "option steps: expected an integer >= 1, got 'many'",
                 id="resume with steps not a number"),
    pytest.param(lambda run: ["train", "--resume", run, "--lr-critic", "1"], "only --steps may be given (got --lr-critic)",
                 id="resume with another option"),
    pytest.param(lambda run: ["train", "--resume", run / "nowhere"], "no such run directory", id="resume a missing run"),
]


@pytest.mark.parametrize("command, fragment", RUN_COMMANDS)
def test_a_command_aimed_at_a_run_it_must_not_touch_leaves_it_byte_for_byte(capsys, previous_run, command, fragment):
    before = snapshot(previous_run)
    assert fragment in one_line_error(capsys, *command(previous_run))
    assert snapshot(previous_run) == before


# --- third-party plugins that raise inside a hook --------------------------------------------

HOOKS = {
    "gankit_options": "def gankit_options():",
    "gankit_option_defaults": "def gankit_option_defaults():",
    "gankit_datasets": "def gankit_datasets():",
    "gankit_constraints": "def gankit_constraints(options):",
    "gankit_setup": "def gankit_setup(trainer):",
    "gankit_train_start": "def gankit_train_start(trainer):",
    "gankit_step_end": "def gankit_step_end(trainer, step):",
    "gankit_log": "def gankit_log(trainer, step, metrics):",
    "gankit_train_end": "def gankit_train_end(trainer, status):",
}


@pytest.mark.parametrize("hook", HOOKS)
def test_a_plugin_raising_in_a_hook_is_named_with_the_hook(capsys, write_plugin, previous_run, hook):
    path = write_plugin(f"myplug_{hook}", f"from gankit import hookimpl\n\n@hookimpl\n{HOOKS[hook]}\n"
                                          "    raise RuntimeError('boom')\n")
    before = snapshot(previous_run)
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", "--plugin", path, *quick_flags(steps=2),
                         "--out", previous_run.parent / f"next-{hook}")
    assert err == f"gankit: error: plugin '{path}' failed in {hook}: RuntimeError: boom"
    assert snapshot(previous_run) == before


def test_a_loss_plugin_raising_in_gankit_loss_is_named(capsys, write_plugin, previous_run):
    path = write_plugin("myplug_loss", "from gankit import hookimpl\n\n@hookimpl\ndef gankit_loss(options):\n    1 / 0\n")
    before = snapshot(previous_run)
    err = one_line_error(capsys, "train", "--plugin", path, *quick_flags(), "--out", previous_run, "--overwrite")
    assert err == f"gankit: error: plugin '{path}' failed in gankit_loss: ZeroDivisionError: division by zero"
    assert snapshot(previous_run) == before


def test_a_loss_object_raising_inside_the_training_step_is_named_with_the_step(capsys, write_plugin):
    path = write_plugin("myplug_broken_loss", """
        from gankit import hookimpl
        from gankit.losses import WassersteinLoss

        class Broken(WassersteinLoss):
            def critic_loss(self, critic, real, fake):
                raise ValueError("my loss is broken")

        @hookimpl
        def gankit_loss(options):
            return Broken()
    """)
    err = one_line_error(capsys, "train", "--plugin", "clip", "--plugin", path, *quick_flags())
    assert err == f"gankit: error: plugin '{path}' failed in step 1: ValueError: my loss is broken"


def test_a_plugin_exiting_in_a_hook_is_named_with_the_hook(capsys, write_plugin):
    path = write_plugin("myplug_exit", "import sys\nfrom gankit import hookimpl\n\n@hookimpl\n"
                                       "def gankit_step_end(trainer, step):\n    sys.exit(4)\n")
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", "--plugin", path, *quick_flags(steps=1))
    assert err == f"gankit: error: plugin '{path}' failed in gankit_step_end: SystemExit: 4"


def test_a_multi_line_message_from_a_plugin_becomes_one_line(capsys, write_plugin):
    path = write_plugin("myplug_lines", "from gankit import hookimpl\n\n@hookimpl\n"
                                        "def gankit_train_start(trainer):\n    raise ValueError('first\\nsecond')\n")
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", "--plugin", path, *quick_flags())
    assert err == f"gankit: error: plugin '{path}' failed in gankit_train_start: ValueError: first second"


@pytest.mark.parametrize("x, y, fragment", [
    ("np.zeros((100, 2), complex)", "None", "data waves: expected a numeric array (bool, integer or float), got dtype complex128"),
    ("np.zeros((100, 2))", "-np.ones(100)", "data waves: labels y must be class indices (integers >= 0), got -1.0"),
    ("np.zeros((100, 2))", "np.zeros((100, 3))", "data waves: expected labels y of shape (100,), one per sample, got shape (100, 3)"),
])
def test_a_plugin_data_set_with_bad_arrays_is_one_line(capsys, write_plugin, previous_run, x, y, fragment):
    path = write_plugin("myplug_data", f"""
        import numpy as np
        from gankit import hookimpl
        from gankit.data import Dataset

        @hookimpl
        def gankit_datasets():
            return {{"waves": lambda options: Dataset("waves", {x}, "points", y={y})}}
    """)
    before = snapshot(previous_run)
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", "--plugin", path, *quick_flags(data="waves"),
                         "--out", previous_run, "--overwrite")
    assert fragment in err
    assert snapshot(previous_run) == before


# --- the same in a real process: no traceback ------------------------------------------------


@pytest.mark.parametrize("make", [
    pytest.param(image_folder(("a.png", b"garbage")), id="garbage image"),
    pytest.param(npy(np.array([[np.inf, 0.0]] * 100)), id="inf in npy"),
    pytest.param(flags("--clip-value", "0"), id="clip_value 0"),
])
def test_a_bad_input_in_a_real_process_is_one_line(tmp_path, previous_run, make):
    before = snapshot(previous_run)
    extra = [str(arg) for arg in make(tmp_path)]
    result = run_gankit("train", "--plugin", "wgan_clip", *quick_flags(), *extra, "--out", str(previous_run), "--overwrite")
    assert_one_line_error(result)
    assert snapshot(previous_run) == before
