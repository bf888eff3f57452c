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

import keras
import numpy as np

from keras_segattn.validation import check_bool, check_int_pair, hint, message


def normalize_output_size(output_size, layer: str) -> tuple[int, int]:
    """``(H, W)`` of positive ints, or a ``ValueError`` in the one format."""
    with hint("It is the (height, width) of the output."):
        return check_int_pair(layer, "output_size", output_size)


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
        raise ValueError(message(layer, "theta", f"of shape {options} ({meaning})", f"shape {shape}"))
    return shape


class GridGenerator(keras.layers.Layer):
    """What the grid generators share: output size, coordinate convention, theta shape checks.

    Subclasses set ``theta_shapes`` (accepted theta shapes without the batch
    axis) and ``theta_meaning`` (for error messages), and implement ``call``.
    """

    theta_shapes: tuple = ()
    theta_meaning: str = ""

    def __init__(self, output_size, align_corners=True, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.output_size = normalize_output_size(output_size, name)
        self.align_corners = check_bool(name, "align_corners", align_corners)
        self._grid = base_grid(*self.output_size, self.align_corners)

    def _homogeneous_grid(self) -> np.ndarray:
        """``(1, H W, 3)`` rows ``[x_t, y_t, 1]`` of the output pixel centres (float64)."""
        points = self._grid.reshape(-1, 2)
        return np.concatenate([points, np.ones((len(points), 1))], axis=1)[None]

    def _check(self, shape):
        return check_theta_shape(shape, type(self).__name__, self.theta_shapes, self.theta_meaning)

    def build(self, input_shape):
        self._check(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0], *self.output_size, 2)

    def compute_output_spec(self, theta):
        shape = self.compute_output_shape(theta.shape)
        return keras.KerasTensor(shape, dtype=coordinate_dtype(self.compute_dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": self.output_size, "align_corners": self.align_corners})
        return config
