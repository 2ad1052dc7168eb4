"""Writing samples as pictures with Pillow: image grids, and scatter plots for 2-D points."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

SCATTER_SIZE = 512


def image_grid(x: Any, nrow: int | None = None, scale: int = 4, pad: int = 2) -> Any:
    """Tile images (N, C, H, W) in [-1, 1] into one uint8 array (rows, cols[, 3]).

    Each image is enlarged ``scale`` times (nearest neighbour) so small images stay visible.
    """
    import numpy as np

    x = np.clip((np.asarray(x, dtype=np.float32) + 1.0) * 127.5, 0, 255).astype(np.uint8)
    n, c, h, w = x.shape
    x = x.repeat(scale, axis=2).repeat(scale, axis=3)  # (N, C, H*s, W*s)
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    hs, ws = h * scale, w * scale
    grid = np.full((c, pad + ncol * (hs + pad), pad + nrow * (ws + pad)), 255, dtype=np.uint8)
    for i in range(n):
        row, col = divmod(i, nrow)
        top, left = pad + row * (hs + pad), pad + col * (ws + pad)
        grid[:, top : top + hs, left : left + ws] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_image_grid(x: Any, path: str | Path, **kwargs: Any) -> None:
    from PIL import Image

    Image.fromarray(image_grid(x, **kwargs)).save(path)


def save_scatter(points: Any, path: str | Path, reference: Any = None, size: int = SCATTER_SIZE) -> None:
    """Plot the first two coordinates of ``points`` (blue), with ``reference`` points (orange) on top."""
    import numpy as np
    from PIL import Image, ImageDraw

    points = np.asarray(points, dtype=np.float64)[:, :2]
    both = points if reference is None else np.concatenate([points, np.asarray(reference)[:, :2]])
    finite = both[np.isfinite(both).all(axis=1)]
    low, high = (finite.min(0), finite.max(0)) if len(finite) else (np.zeros(2), np.ones(2))
    span = max(float((high - low).max()), 1e-6) * 1.1
    centre = (low + high) / 2

    def to_pixels(p: Any) -> Any:
        p = p[np.isfinite(p).all(axis=1)]
        return ((p - centre) / span + 0.5) * (size - 1) * np.array([1, -1]) + np.array([0, size - 1])

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, size - 1, size - 1], outline=(200, 200, 200))
    for colour, radius, cloud in (((31, 119, 180), 1.5, points), ((255, 127, 14), 1.0, reference)):
        if cloud is not None:
            for u, v in to_pixels(np.asarray(cloud, dtype=np.float64)[:, :2]):
                draw.ellipse([u - radius, v - radius, u + radius, v + radius], fill=colour)
    image.save(path)


def save_samples(x: Any, path: str | Path, reference: Any = None) -> None:
    """Images as a grid, anything else as a scatter plot of its first two coordinates."""
    if x.ndim == 4:
        save_image_grid(x, path)
    else:
        save_scatter(x, path, reference=reference)
