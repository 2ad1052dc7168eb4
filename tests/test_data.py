"""Built-in data sets (geometry from REFERENCES.md §3) and user data files, with their errors."""
import numpy as np
import pytest
from PIL import Image

from gankit import GankitError
from gankit.data import BUILTIN, grid25, load_dataset, ring8


def load(name_or_path):
    return load_dataset(str(name_or_path), BUILTIN, {})


def test_digits_are_8x8_in_minus_one_to_one_with_labels():
    data = load("digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.kind == "image"
    assert data.x.min() == -1.0 and data.x.max() == 1.0
    assert data.spec.n_classes == 10 and data.spec.size == 64


def test_ring8_has_eight_distinct_centres_at_2pi_k_over_8():
    data = ring8({})
    angles = np.sort(np.mod(np.arctan2(data.centers[:, 1], data.centers[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(data.centers, axis=1), 1.0)
    residual = data.x - data.centers[data.y]
    assert residual.std() == pytest.approx(0.01, rel=0.02)


def test_grid25_centres_and_std():
    data = grid25({})
    assert sorted(set(data.centers[:, 0])) == [-4, -2, 0, 2, 4]
    assert len({tuple(c) for c in data.centers}) == 25
    assert (data.x - data.centers[data.y]).std() == pytest.approx(0.05, rel=0.02)


def test_builtins_are_the_same_every_time():
    assert np.array_equal(load("swissroll").x, load("swissroll").x)
    assert load("swissroll").x.shape == (50_000, 2)


def test_npy_points_and_images(tmp_path):
    np.save(tmp_path / "pts.npy", np.random.default_rng(0).normal(size=(100, 3)))
    assert load(tmp_path / "pts.npy").spec.shape == (3,)
    np.save(tmp_path / "img.npy", np.zeros((10, 16, 16), dtype=np.uint8))
    data = load(tmp_path / "img.npy")
    assert data.spec.shape == (1, 16, 16) and data.kind == "image" and data.x.min() == -1.0


def test_npz_with_labels(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 2)), y=np.arange(5))
    assert list(load(tmp_path / "d.npz").y) == [0, 1, 2, 3, 4]


def test_image_folder_grey_and_labelled_subfolders(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((6, 5), 255 * i // 2, dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    data = load(tmp_path)
    assert data.x.shape == (6, 1, 6, 5) and list(data.y) == [0, 0, 0, 1, 1, 1]
    assert data.x.min() == -1.0 and data.x.max() == 1.0


def test_image_folder_rgb(tmp_path):
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "r.png")
    data = load(tmp_path)
    assert data.x.shape == (1, 3, 4, 4) and data.y is None
    assert data.x[0, 0].max() == 1.0 and data.x[0, 1].max() == -1.0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.npy", "does not exist"),
        (lambda p: p, "contains no images"),
        (lambda p: (p / "bad.png").write_text("not a png") and p, "cannot read image bad.png"),
        (lambda p: np.save(p / "x.npy", np.zeros((4, 2, 3, 5, 5))) or p / "x.npy", "expected shape (N, D)"),
        (lambda p: np.save(p / "x.npy", np.array([[0.0, np.nan]])) or p / "x.npy", "contains NaN"),
        (lambda p: np.save(p / "x.npy", np.full((3, 4, 4), 5.0)) or p / "x.npy", "must lie in [-1, 1]"),
        (lambda p: np.save(p / "x.npy", np.array(["a", "b"])) or p / "x.npy", "expected a numeric array"),
        (lambda p: (p / "x.npy").write_bytes(b"garbage") and p / "x.npy", "cannot be read"),
        (lambda p: np.savez(p / "d.npz", a=np.zeros(2), b=np.zeros(2)) or p / "d.npz", "expected an array named x"),
        (lambda p: (p / "notes.txt").write_text("hi") and p / "notes.txt", "expected a folder of images or a .npy/.npz"),
        (lambda p: np.save(p / "x.npy", np.zeros((0, 2))) or p / "x.npy", "non-empty"),
    ],
)
def test_bad_data_gets_one_clear_line(tmp_path, make, message):
    with pytest.raises(GankitError) as info:
        load(make(tmp_path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_mixed_image_sizes_are_named(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    Image.new("L", (5, 4)).save(tmp_path / "b.png")
    with pytest.raises(GankitError, match=r"images differ in size \(4x4 and 5x4 in b.png\)"):
        load(tmp_path)
