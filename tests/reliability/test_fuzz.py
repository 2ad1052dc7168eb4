"""Fuzzing ``gankit train``: whatever the arguments or the data file, the command either trains
(exit 0, and the run directory holds a loadable checkpoint of the finished run) or refuses with
exactly one ``gankit: error:`` line (exit 2) -- never an uncaught exception or a traceback.

Examples per test (hypothesis runs at most this many, each a fresh run directory):
``CLI_EXAMPLES`` argument lists and ``DATA_EXAMPLES`` data files.
"""
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from gankit.checkpoint import load_checkpoint
from gankit.cli import main

CLI_EXAMPLES = 100
DATA_EXAMPLES = 100
FUZZ = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Small, quiet and on the CPU; the fuzzed arguments come after and may override any of these.
QUICK_RUN = ["--plugin", "wgan_clip", "--data", "ring8", "--steps", "2", "--log-every", "1", "--progress", "off",
             "--device", "cpu", "--sample-count", "16", "--eval-samples", "10"]


def gankit_train(*argv):
    """Run ``gankit train`` in this process: (exit status, stderr). An exception fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["train", *argv])
    return code, err.getvalue()


def assert_trained_or_one_line_error(code, err, out):
    assert "Traceback" not in err, err
    if code == 0:
        state = load_checkpoint(out)
        assert state["step"] == state["config"]["options"]["steps"]
    else:
        errors = [line for line in err.splitlines() if line.startswith("gankit: error: ")]
        assert code == 2 and len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], (code, err)


# --- (1) argument lists ------------------------------------------------------------------------

#: Values that are wrong for most options (Python's int() takes " 2 ", "1_0" and "٣" = 3).
BAD = ["", "-1", "0", "nan", "inf", "-inf", "1e400", "1.5", "abc", "٣", " 2 ", "1_0", "0x10", "true", "-"]
#: Random text that is never a path (no / ~ .) nor long enough to be a costly number.
NOISE = st.text(alphabet="0123456789-+eEinfa _٣x", max_size=6)


def weighted(*strategies):
    """One of ``strategies``, drawn as often as it is listed."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


def value(*good, noise=True):
    """A flag's value: mostly a good one, else a known bad one or (for options that cost
    nothing) noise, so that about a third of the runs pass every check and train."""
    good, bad = st.sampled_from(good), st.sampled_from(BAD)
    return weighted(good, good, good, good, bad, NOISE if noise else bad)


#: Every flag of ``gankit train --plugin wgan_clip --help`` but --out and --progress (kept off:
#: progress lines would share stderr with an error line), with good values that keep a run short;
#: options that cost time (steps, batch size, ...) get no noise, which could be a large number.
FLAGS = {
    "--steps": value("1", "2", "3", noise=False),
    "--n-critic": value("1", "2", noise=False),
    "--batch-size": value("2", "16", "64", noise=False),
    "--latent-dim": value("1", "2", "8", noise=False),
    "--log-every": value("1", "2", "5", noise=False),
    "--sample-every": value("0", "1", noise=False),
    "--sample-count": value("0", "1", "16", noise=False),
    "--checkpoint-every": value("0", "1", noise=False),
    "--keep-checkpoints": value("1", "3", noise=False),
    "--eval-every": value("0", "1", "2", noise=False),
    "--eval-samples": value("10", "20", noise=False),
    "--seed": value("0", "7", str(2**32 - 1), str(2**32)),
    "--device": value("cpu", "cuda", "auto", "tpu"),
    "--data": st.one_of(st.sampled_from(["ring8", "grid25", "swissroll", "digits", "", "nowhere.npy"]),
                        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", max_size=8)),
    "--schedule": value("alternating", "merged"),
    "--conditioning": value("projection", "concat"),
    "--truncation": value("0", "0.5", "2"),
    "--precision": value("fp32", "bf16"),
    "--nonfinite": value("stop", "skip"),
    "--optimizer": value("rmsprop", "adam", "sgd", "adamw"),
    "--optimizer-generator": value("same", "rmsprop", "adam", "sgd"),
    "--lr-critic": value("5e-5", "1e-3", "1e30"),
    "--lr-generator": value("5e-5", "1e-3", "1e30"),
    "--beta1": value("0", "0.5", "0.99"),
    "--beta2": value("0", "0.999"),
    "--momentum": value("0", "0.9"),
    "--clip-value": value("0.01", "1", "1e-30"),
    "--best-metric": value("", "loss_critic", "wasserstein_estimate", "w1", "los"),
    "--best-mode": value("min", "max"),
    "--eval-metrics": value("", "w1", "modes,w1", "fid", "w1,"),
    "--plugin": st.sampled_from(["wgan_clip", "wgan_gp", "hinge", "nsgan", "ema", "clip", "sn", "wgan_clp", "nowhere/x.py",
                                 "", "not-a-module"]),
    "--resume": st.sampled_from(["nowhere", ""]),
    "--config": st.sampled_from(["nowhere.toml", ""]),
}
FLAG = st.sampled_from(sorted(FLAGS)).flatmap(lambda flag: FLAGS[flag].map(lambda v: [flag, v]))
#: Switches, stray tokens and flags that do not exist.
OTHER = st.one_of(
    st.sampled_from(["--conditional", "--no-conditional", "--overwrite", "--nope", "--clip-valu", "-x", "--", "--steps=3",
                     "--lr-critic=-1", "--conditional=yes", "stray", "٣"]),
    st.text(alphabet="abcxyz_", min_size=1, max_size=6),
)


@settings(FUZZ, max_examples=CLI_EXAMPLES)
@given(flags=st.lists(FLAG, max_size=5), other=st.lists(OTHER, max_size=1))
def test_any_train_arguments_train_or_give_one_error_line(flags, other):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        code, err = gankit_train(*QUICK_RUN, *[token for flag in flags for token in flag], *other, "--out", str(out))
        assert_trained_or_one_line_error(code, err, out)


# --- (2) data files ----------------------------------------------------------------------------

DTYPES = ["float16", "float32", "float64", "int8", "int64", "uint8", "bool", "complex64", "U2", "datetime64[s]", "O"]
#: Shapes of points, grey and colour images, and anything up to 5-D with empty sides.
SHAPES = st.one_of(
    st.tuples(st.integers(2, 8), st.integers(1, 3)),
    st.tuples(st.integers(2, 6), st.integers(1, 6), st.integers(1, 6)),
    st.tuples(st.integers(2, 6), st.sampled_from([1, 3]), st.integers(1, 6), st.integers(1, 6)),
    hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
)


def elements(dtype):
    """Values in [-1, 1] (valid images) or anything numpy's dtype holds, NaN and inf included."""
    if dtype == "O":
        return st.just(st.integers(-3, 3))
    if dtype.startswith("float"):
        return st.sampled_from([st.floats(-1, 1, width=int(dtype[5:])), None])
    return st.just(None)


ARRAY = st.tuples(st.sampled_from(DTYPES), SHAPES).flatmap(
    lambda spec: elements(spec[0]).flatmap(lambda values: hnp.arrays(spec[0], spec[1], elements=values))
)
LABELS = hnp.arrays(st.sampled_from(["int64", "uint8", "float64", "bool", "U1"]), st.tuples(st.integers(0, 8)))
MAGIC = st.sampled_from([b"", b"\x93NUMPY\x01\x00", b"PK\x03\x04", b"\x89PNG\r\n\x1a\n"])
RAW = st.tuples(MAGIC, st.binary(max_size=64)).map(lambda parts: parts[0] + parts[1])
MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "I", "F", "LA", "I;16"]
FORMATS = ["png", "bmp", "gif", "tif", "jpg", "webp"]


def write_npy(folder, array):
    np.save(folder / "data.npy", array, allow_pickle=True)
    return folder / "data.npy"


def write_npz(folder, arrays):
    np.savez(folder / "data.npz", **arrays)
    return folder / "data.npz"


def write_raw(folder, name, data):
    (folder / name).write_bytes(data)
    return folder / name


def write_images(folder, size, images, odd_one, layout, garbage):
    """An image folder: ``images`` (mode, format) of one size, perhaps one of another size,
    all in the folder, all in labelled subfolders, or half and half; perhaps a garbage file."""
    root = folder / "images"
    root.mkdir()
    for i, (mode, suffix) in enumerate(images + [("L", "png")] * odd_one):
        sub = {"flat": root, "labelled": root / f"class{i % 2}", "mixed": root / ("a" if i % 2 else "")}[layout]
        sub.mkdir(exist_ok=True)
        image = Image.new(mode, (size[0] + (i == len(images)), size[1]), i * 40)
        try:
            image.save(sub / f"{i}.{suffix}")
        except (OSError, ValueError, KeyError):  # a mode the format cannot hold
            image.convert("RGB").save(sub / f"{i}.{suffix}")
    if garbage is not None:
        (root / "garbage.png").write_bytes(garbage)
    return root


DATA_FILE = st.one_of(
    ARRAY.map(lambda array: lambda folder: write_npy(folder, array)),
    st.fixed_dictionaries({}, optional={"x": ARRAY, "y": LABELS, "a": ARRAY}).map(
        lambda arrays: lambda folder: write_npz(folder, arrays)),
    st.tuples(st.sampled_from(["data.npy", "data.npz", "data.png", "data.csv"]), RAW).map(
        lambda raw: lambda folder: write_raw(folder, *raw)),
    st.tuples(
        st.tuples(st.integers(1, 6), st.integers(1, 6)),
        st.lists(st.tuples(st.sampled_from(MODES), st.sampled_from(FORMATS)), max_size=4),
        st.integers(0, 1),
        st.sampled_from(["flat", "labelled", "mixed"]),
        st.none() | RAW,
    ).map(lambda spec: lambda folder: write_images(folder, *spec)),
)


@settings(FUZZ, max_examples=DATA_EXAMPLES)
@given(write=DATA_FILE)
def test_any_data_file_trains_or_gives_one_error_line(write):
    with tempfile.TemporaryDirectory() as folder:
        data = write(Path(folder))
        out = Path(folder) / "run"
        code, err = gankit_train("--plugin", "wgan_clip", "--data", str(data), "--steps", "1", "--n-critic", "1",
                                 "--batch-size", "2", "--progress", "off", "--device", "cpu", "--sample-count", "4",
                                 "--out", str(out))
        assert_trained_or_one_line_error(code, err, out)
