"""Projective (homography) sampling grid of a spatial transformer."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.layers._grid import GridGenerator, coordinate_dtype

#: theta of the identity homography, ``[h11, h12, h13, h21, h22, h23, h31, h32]`` (h33 = 1).
PROJECTIVE_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


@keras.saving.register_keras_serializable(package="keras_segattn")
class ProjectiveGridGenerator(GridGenerator):
    """Maps every output pixel to the input location it samples (projective transform).

    The projective variant of the spatial transformer's grid generator
    (Jaderberg et al., "Spatial Transformer Networks", NIPS 2015, section 3.2):
    a homography ``H`` maps the output coordinates ``(x_t, y_t, 1)`` to
    homogeneous source coordinates,

        x_s = (h11 x_t + h12 y_t + h13) / (h31 x_t + h32 y_t + h33)
        y_s = (h21 x_t + h22 y_t + h23) / (h31 x_t + h32 y_t + h33)

    ``theta`` holds the 8 free parameters ``[h11, h12, h13, h21, h22, h23, h31,
    h32]`` with ``h33 = 1`` (``(batch, 8)``), or a full ``(batch, 3, 3)``
    matrix. The identity ``[1, 0, 0, 0, 1, 0, 0, 0]`` returns the output pixel
    centres exactly. The denominator must stay away from zero over the grid
    (it does near the identity); where it does not, coordinates become
    infinite and the sampler clamps them to the border.

    Coordinates follow :class:`AffineGridGenerator` (``(x, y)`` in ``[-1, 1]``,
    ``align_corners`` convention).

    Args:
        output_size: ``(height, width)`` of the grid (positive ints).
        align_corners: coordinate convention, default True (paper).

    Input shape:
        ``theta``: ``(batch, 8)`` or ``(batch, 3, 3)``.

    Output shape:
        ``(batch, height, width, 2)`` source ``(x, y)`` (float32; float64 if
        the layer's dtype is float64).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import ProjectiveGridGenerator
        >>> theta = np.array([[1, 0, 0, 0, 1, 0, 0.5, 0]], "float32")  # x_s = x / (0.5 x + 1)
        >>> ProjectiveGridGenerator((1, 3))(theta).numpy()[0, 0, :, 0].astype(float).round(4).tolist()
        [-2.0, 0.0, 0.6667]
    """

    #: length of the flat theta.
    num_parameters = 8

    theta_shapes = ((8,), (3, 3))
    theta_meaning = "homography [h11, h12, h13, h21, h22, h23, h31, h32] with h33 = 1, or the full 3x3 matrix"

    def identity_theta(self) -> np.ndarray:
        """The flat theta of the identity homography, ``[1, 0, 0, 0, 1, 0, 0, 0]``."""
        return np.array(PROJECTIVE_IDENTITY, dtype=np.float32)

    def call(self, theta):
        shape = self._check(theta.shape)
        dtype = coordinate_dtype(self.compute_dtype)
        height, width = self.output_size
        theta = tf.cast(theta, dtype)
        if len(shape) == 2:  # h33 = 1
            theta = tf.concat([theta, tf.ones_like(theta[:, :1])], axis=1)
        matrix = tf.reshape(theta, [-1, 3, 3])
        points = tf.constant(self._homogeneous_grid(), dtype=dtype)  # (1, H W, 3)
        homogeneous = tf.matmul(points, matrix, transpose_b=True)  # (B, H W, 3)
        xy, w = tf.split(homogeneous, [2, 1], axis=-1)
        return tf.reshape(xy / w, [-1, height, width, 2])
