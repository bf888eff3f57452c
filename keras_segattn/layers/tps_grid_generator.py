"""Thin-plate-spline sampling grid of a spatial transformer."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.layers._grid import GridGenerator, coordinate_dtype
from keras_segattn.validation import check_int_pair, hint


def _check_control_grid(control_grid, layer):
    with hint("It is the (rows, columns) of control points."):
        return check_int_pair(layer, "control_grid", control_grid, minimum=2)


def regular_control_points(control_grid) -> np.ndarray:
    """``(rows * cols, 2)`` float64 ``(x, y)`` of a regular control grid spanning ``[-1, 1]``, row-major."""
    rows, cols = control_grid
    yy, xx = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, cols), indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _radial(d2):
    """TPS kernel U(r) = r^2 log(r^2) from squared distances, U(0) = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d2 > 0, d2 * np.log(np.where(d2 > 0, d2, 1.0)), 0.0)


def tps_matrix(points: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """``(P, K)`` matrix ``M`` with ``f(points) = M @ targets`` for the TPS through ``controls -> targets``.

    Bookstein's thin-plate spline: ``f(p) = a0 + a1 x + a2 y + sum_k w_k U(|p - c_k|)``
    with ``[w; a] = L^-1 [targets; 0]``, ``L = [[U(|c_i - c_j|), P], [P^T, 0]]``
    and ``P = [1, x, y]``. Computed in float64.
    """
    k = len(controls)
    d2 = ((controls[:, None, :] - controls[None, :, :]) ** 2).sum(-1)
    poly = np.concatenate([np.ones((k, 1)), controls], axis=1)
    system = np.zeros((k + 3, k + 3))
    system[:k, :k] = _radial(d2)
    system[:k, k:] = poly
    system[k:, :k] = poly.T
    inverse = np.linalg.inv(system)[:, :k]  # (K + 3, K): only the targets are non-zero
    p2 = ((points[:, None, :] - controls[None, :, :]) ** 2).sum(-1)
    features = np.concatenate([_radial(p2), np.ones((len(points), 1)), points], axis=1)
    return features @ inverse


@keras.saving.register_keras_serializable(package="keras_segattn")
class ThinPlateSplineGridGenerator(GridGenerator):
    """Maps every output pixel to the input location it samples (thin-plate spline).

    The thin-plate-spline (TPS) variant of the spatial transformer's grid
    generator (Jaderberg et al., "Spatial Transformer Networks", NIPS 2015,
    section 3.2; Bookstein 1989). A regular ``rows x cols`` grid of control
    points spans the output image from corner to corner; ``theta`` gives, for
    each control point, the source location it samples. Every other output
    pixel follows the smoothest (minimum bending energy) interpolating spline.

    ``theta`` is ``(batch, 2 K)`` as ``[x_0, y_0, x_1, y_1, ...]`` or
    ``(batch, K, 2)``, ``K = rows * cols``, control points in row-major order
    (see :meth:`control_points`). The identity is ``theta = control_points``.
    The spline is linear in theta, so the layer precomputes the ``(H W, K)``
    matrix ``M`` (float64, then cast) and returns ``base + M (theta -
    control_points)``: an exact identity and a single matrix product per
    batch, which exports to TFLite and ONNX as a plain ``BATCH_MATMUL``/``MatMul``.
    ``M`` is a constant of ``H * W * K`` floats (60x60 output, 4x4 controls:
    225 KB).

    Coordinates follow :class:`AffineGridGenerator` (``(x, y)`` in ``[-1, 1]``,
    ``align_corners`` convention for the output pixel centres; control points
    always span ``[-1, 1]``).

    Args:
        output_size: ``(height, width)`` of the grid (positive ints).
        control_grid: ``(rows, cols)`` of control points, each >= 2 (the
            paper's MNIST experiments use 16 points, ``(4, 4)``, the default).
        align_corners: coordinate convention, default True (paper).

    Input shape:
        ``theta``: ``(batch, 2 K)`` or ``(batch, K, 2)``.

    Output shape:
        ``(batch, height, width, 2)`` source ``(x, y)`` (float32; float64 if
        the layer's dtype is float64).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import ThinPlateSplineGridGenerator
        >>> layer = ThinPlateSplineGridGenerator((3, 3), control_grid=(2, 2))
        >>> theta = layer.identity_theta()[None] * 0.5  # shrink: sample the central half
        >>> (layer(theta).numpy()[0, :, :, 0].round(4) + 0.0).tolist()
        [[-0.5, 0.0, 0.5], [-0.5, 0.0, 0.5], [-0.5, 0.0, 0.5]]
    """

    def __init__(self, output_size, control_grid=(4, 4), align_corners=True, **kwargs):
        super().__init__(output_size, align_corners, **kwargs)
        self.control_grid = _check_control_grid(control_grid, "ThinPlateSplineGridGenerator")
        self._controls = regular_control_points(self.control_grid)
        self._matrix = tps_matrix(self._grid.reshape(-1, 2), self._controls)

    @property
    def num_control_points(self) -> int:
        return self.control_grid[0] * self.control_grid[1]

    @property
    def num_parameters(self) -> int:
        """Length of the flat theta, ``2 K``."""
        return 2 * self.num_control_points

    def control_points(self) -> np.ndarray:
        """``(K, 2)`` ``(x, y)`` of the control points (row-major, float32)."""
        return self._controls.astype(np.float32)

    def identity_theta(self) -> np.ndarray:
        """The flat theta of the identity: the control points themselves, ``(2 K,)``."""
        return self._controls.reshape(-1).astype(np.float32)

    @property
    def theta_shapes(self):
        k = self.num_control_points
        return ((2 * k,), (k, 2))

    @property
    def theta_meaning(self):
        return f"source (x, y) of the {self.control_grid[0]}x{self.control_grid[1]} control points"

    def call(self, theta):
        self._check(theta.shape)
        dtype = coordinate_dtype(self.compute_dtype)
        height, width = self.output_size
        k = self.num_control_points
        theta = tf.reshape(tf.cast(theta, dtype), [-1, k, 2])
        delta = theta - tf.constant(self._controls[None], dtype=dtype)  # exactly 0 at the identity
        offsets = tf.matmul(tf.constant(self._matrix[None], dtype=dtype), delta)  # (B, H W, 2)
        base = tf.constant(self._grid.reshape(1, -1, 2), dtype=dtype)
        return tf.reshape(base + offsets, [-1, height, width, 2])

    def get_config(self):
        config = super().get_config()
        config["control_grid"] = self.control_grid
        return config
