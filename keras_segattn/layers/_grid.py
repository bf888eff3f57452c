"""Shared pieces of the spatial-transformer layers (private).

Coordinates are normalised: ``x`` runs along the width and ``y`` along the
height, both in ``[-1, 1]``. With ``align_corners=True`` (the STN paper's
convention and the default) -1 and +1 are the *centres* of the corner pixels,
so pixel ``j`` of a side of ``n`` pixels sits at ``-1 + 2 j / (n - 1)``. With
``align_corners=False`` they are the outer *edges* of the corner pixels and
pixel ``j`` sits at ``(2 j + 1) / n - 1`` (``torch.nn.functional.grid_sample``'s
default since PyTorch 1.3).
"""

from __future__ import annotations

import numpy as np


def normalize_output_size(output_size, layer: str) -> tuple[int, int]:
    """``(H, W)`` of positive ints, or a clear ``ValueError``."""
    try:
        size = tuple(output_size)
    except TypeError:
        size = None
    if (
        size is None
        or len(size) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in size)
    ):
        raise ValueError(
            f"{layer}: output_size must be a tuple of two positive ints (height, width), "
            f"received {output_size!r}."
        )
    if any(s < 1 for s in size):
        raise ValueError(
            f"{layer}: output_size must be positive (height, width >= 1), received {output_size!r}."
        )
    return int(size[0]), int(size[1])


def check_bool(value, layer: str, argument: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{layer}: {argument} must be True or False, received {value!r}.")
    return bool(value)


def coordinates_1d(n: int, align_corners: bool) -> np.ndarray:
    """Normalised coordinates (float64) of the ``n`` pixel centres of one side."""
    j = np.arange(n, dtype=np.float64)
    if align_corners:
        return np.zeros(1) if n == 1 else -1.0 + 2.0 * j / (n - 1)
    return (2.0 * j + 1.0) / n - 1.0


def base_grid(height: int, width: int, align_corners: bool) -> np.ndarray:
    """``(height, width, 2)`` float64 grid of the output pixel centres as ``(x, y)``."""
    ys = coordinates_1d(height, align_corners)
    xs = coordinates_1d(width, align_corners)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx, yy], axis=-1)


def coordinate_dtype(compute_dtype: str) -> str:
    """Sampling coordinates need float32 at least (float16 cannot address pixels of a 64-pixel side)."""
    return "float64" if str(compute_dtype) == "float64" else "float32"


def check_theta_shape(shape, layer: str, accepted: tuple, meaning: str):
    """``shape`` (with batch) must be one of ``(batch, *a)`` for ``a`` in ``accepted``."""
    shape = None if shape is None else tuple(shape)
    if shape is None or tuple(shape[1:]) not in [tuple(a) for a in accepted]:
        options = " or ".join(str(("batch",) + tuple(a)).replace("'", "") for a in accepted)
        raise ValueError(
            f"{layer}: theta must have shape {options} ({meaning}), received shape {shape}."
        )
    return shape
