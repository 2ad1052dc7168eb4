"""Data sets: the built-in ones and user files, as float32 numpy arrays (no torch here).

Images are (N, C, H, W) in [-1, 1], the range of a Tanh generator; points are (N, D) with any
range. Built-ins are generated or bundled offline: nothing is ever downloaded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from .errors import GankitError

Kind = Literal["image", "points"]
#: numpy dtype kinds a data array may have: bool, signed and unsigned integers, floats.
_REAL_KINDS = "biuf"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
#: Samples drawn for each synthetic 2-D data set (fixed seed, so the data are the data).
SYNTHETIC_SIZE = 50_000


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about one sample."""

    shape: tuple[int, ...]  # one sample, e.g. (1, 8, 8) or (2,)
    kind: Kind
    n_classes: int | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Dataset:
    """A finite data set held in memory."""

    name: str
    x: Any  # np.ndarray float32, (N, *shape)
    kind: Kind
    y: Any = None  # np.ndarray int64 (N,), or None
    centers: Any = None  # mixture centres (K, D) for 2-D sets, used by plots and metrics
    std: float | None = None  # the mixture components' standard deviation, with centers

    def __post_init__(self) -> None:
        import numpy as np

        x = np.asarray(self.x)
        if x.dtype.kind not in _REAL_KINDS:
            raise GankitError(f"data {self.name}: expected a numeric array (bool, integer or float), got dtype {x.dtype}")
        with np.errstate(over="ignore"):
            self.x = np.ascontiguousarray(x, dtype=np.float32)
        if self.x.ndim < 2 or len(self.x) == 0 or 0 in self.x.shape:
            raise GankitError(f"data {self.name}: expected a non-empty array of samples, got shape {self.x.shape}")
        if self.kind == "image" and self.x.ndim != 4:
            raise GankitError(f"data {self.name}: images must be (N, C, H, W), got shape {self.x.shape}")
        if self.kind == "points" and self.x.ndim != 2:
            raise GankitError(f"data {self.name}: points must be (N, D), got shape {self.x.shape}")
        if not np.isfinite(self.x).all():
            if np.isfinite(x).all():
                raise GankitError(f"data {self.name}: values beyond the float32 range (±{np.finfo(np.float32).max:.3g})")
            raise GankitError(f"data {self.name}: contains NaN or infinite values")
        if self.kind == "image" and (self.x.min() < -1 or self.x.max() > 1):
            raise GankitError(f"data {self.name}: image values must lie in [-1, 1] (uint8 data is scaled for you)")
        if self.y is not None:
            self.y = self._labels(np.asarray(self.y))

    def _labels(self, y: Any) -> Any:
        """Labels as int64 (N,): one class index >= 0 per sample, or a one-line error."""
        import numpy as np

        if y.ndim == 2 and y.shape[1] == 1:  # a column vector
            y = y[:, 0]
        if y.shape != (len(self.x),):
            raise GankitError(f"data {self.name}: expected labels y of shape ({len(self.x)},), one per sample, "
                              f"got shape {y.shape}")
        integral = y.dtype.kind in "biu" or (y.dtype.kind == "f" and bool(np.all(np.isfinite(y) & (y == np.round(y)))))
        if not integral:
            raise GankitError(f"data {self.name}: labels y must be class indices (integers >= 0), got dtype {y.dtype}")
        if y.min() < 0:
            raise GankitError(f"data {self.name}: labels y must be class indices (integers >= 0), got {y.min()}")
        return y.astype(np.int64)

    @property
    def spec(self) -> DataSpec:
        n_classes = int(self.y.max()) + 1 if self.y is not None else None
        return DataSpec(tuple(int(d) for d in self.x.shape[1:]), self.kind, n_classes)

    def __len__(self) -> int:
        return len(self.x)


# --- built-in data sets --------------------------------------------------------------------


def digits(options: Mapping[str, Any]) -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), in [-1, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.reshape(-1, 1, 8, 8) / 8.0 - 1.0  # pixel values 0..16 -> [-1, 1]
    return Dataset("digits", x, "image", y=bunch.target)


def _mixture(name: str, centers: Any, std: float) -> Dataset:
    import numpy as np

    rng = np.random.default_rng(0)
    labels = rng.integers(len(centers), size=SYNTHETIC_SIZE)
    x = centers[labels] + std * rng.standard_normal((SYNTHETIC_SIZE, 2))
    return Dataset(name, x, "points", y=labels, centers=centers, std=std)


def ring8(options: Mapping[str, Any]) -> Dataset:
    """8 Gaussians at angles 2πk/8 on the unit circle, std 0.01 (VEEGAN / PacGAN protocol)."""
    import numpy as np

    angles = 2 * np.pi * np.arange(8) / 8  # not linspace(0, 2π, 8): that repeats a centre
    return _mixture("ring8", np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01)


def grid25(options: Mapping[str, Any]) -> Dataset:
    """25 Gaussians at {-4, -2, 0, 2, 4}², std 0.05 (VEEGAN / PacGAN protocol)."""
    import numpy as np

    axis = np.arange(-4.0, 5.0, 2.0)
    return _mixture("grid25", np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2), 0.05)


def swissroll(options: Mapping[str, Any]) -> Dataset:
    """scikit-learn's swiss roll, 2-D (x, z) columns scaled by 1/7.5, noise 0.25 (as gan_toy.py)."""
    from sklearn.datasets import make_swiss_roll

    points, _ = make_swiss_roll(n_samples=SYNTHETIC_SIZE, noise=0.25, random_state=0)
    return Dataset("swissroll", points[:, [0, 2]] / 7.5, "points")


BUILTIN: dict[str, Callable[[Mapping[str, Any]], Dataset]] = {
    "digits": digits,
    "ring8": ring8,
    "grid25": grid25,
    "swissroll": swissroll,
}


# --- user files ------------------------------------------------------------------------------


def load_dataset(
    name_or_path: str, loaders: Mapping[str, Callable[[Mapping[str, Any]], Dataset]], options: Mapping[str, Any]
) -> Dataset:
    """Load a named data set (from ``loaders``) or a folder / ``.npy`` / ``.npz`` path."""
    if name_or_path in loaders:
        dataset = loaders[name_or_path](options)
        if not isinstance(dataset, Dataset):
            raise GankitError(f"data set '{name_or_path}': its loader returned {type(dataset).__name__}, not a gankit Dataset")
        return dataset
    if not name_or_path:
        raise GankitError(f"data: expected a named data set ({', '.join(sorted(loaders))}), a folder or a .npy/.npz file, got ''")
    try:
        path = Path(name_or_path).expanduser()
        is_dir, is_file, exists = path.is_dir(), path.is_file(), path.exists()
    except (OSError, RuntimeError) as exc:  # a name too long, an unknown ~user
        raise GankitError(f"data {name_or_path!r} cannot be accessed: {exc}") from None
    if is_dir:
        return load_image_folder(path)
    if path.suffix in (".npy", ".npz"):
        if not is_file:
            raise GankitError(f"data file {path} does not exist")
        return load_array_file(path)
    if exists:
        raise GankitError(f"data {path}: expected a folder of images or a .npy/.npz file")
    raise GankitError(
        f"data '{name_or_path}' is neither a known data set ({', '.join(sorted(loaders))}) nor an existing path"
    )


def load_array_file(path: Path) -> Dataset:
    """``.npy``: samples. ``.npz``: array ``x`` (or its only array) and optional labels ``y``.

    (N, D) are points; (N, H, W) and (N, C, H, W) with C in {1, 3} are images. uint8 images
    are scaled from [0, 255] to [-1, 1]; float images must already lie in [-1, 1].
    """
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):  # its arrays are read on access
            with loaded:
                keys = list(loaded.keys())
                name = "x" if "x" in keys else keys[0] if len(keys) == 1 else None
                x = loaded[name] if name is not None else None
                y = loaded["y"] if name == "x" and "y" in keys else None
        else:
            x, y = loaded, None
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for bad files
        raise GankitError(f"data file {path} cannot be read: {type(exc).__name__}: {exc}") from None
    if x is None:
        found = ", ".join(keys) or "no arrays"
        raise GankitError(f"data file {path}: expected an array named x (and optionally y), found {found}")
    if x.dtype.kind not in _REAL_KINDS:
        raise GankitError(f"data file {path}: expected a numeric array (bool, integer or float), got dtype {x.dtype}")
    if x.ndim == 2:
        kind: Kind = "points"
    elif x.ndim == 3:
        x, kind = x[:, None], "image"
    elif x.ndim == 4 and x.shape[1] in (1, 3):
        kind = "image"
    else:
        raise GankitError(
            f"data file {path}: expected shape (N, D), (N, H, W) or (N, C, H, W) with C in 1 or 3, got {x.shape}"
        )
    if kind == "image" and x.dtype == np.uint8:
        x = x.astype(np.float32) / 127.5 - 1.0
    return Dataset(path.name, x, kind, y=y)


def load_image_folder(path: Path) -> Dataset:
    """A folder of images (Pillow), all of one size. Images in subfolders get the subfolder's
    index (sorted by name) as their label; images directly in ``path`` are unlabelled."""
    import numpy as np
    from PIL import Image

    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GankitError(f"data folder {path} contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    classes = sorted({f.parent for f in files} - {path})
    labelled = len(classes) > 0 and all(f.parent != path for f in files)
    images, size, grey = [], None, True
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                grey = grey and image.mode in ("1", "L")
                images.append(image.copy())
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
            raise GankitError(f"data folder {path}: cannot read image {file.name}: {type(exc).__name__}: {exc}") from None
        if size is None:
            size = images[-1].size
        elif images[-1].size != size:
            raise GankitError(
                f"data folder {path}: images differ in size ({size[0]}x{size[1]} and "
                f"{images[-1].size[0]}x{images[-1].size[1]} in {file.name}); resize them to one size"
            )
    mode = "L" if grey else "RGB"
    x = np.stack([np.asarray(image.convert(mode), dtype=np.float32) for image in images])
    x = x[:, None] if grey else x.transpose(0, 3, 1, 2)  # (N, H, W[, C]) -> (N, C, H, W)
    y = [classes.index(f.parent) for f in files] if labelled else None
    return Dataset(path.name, x / 127.5 - 1.0, "image", y=y)
