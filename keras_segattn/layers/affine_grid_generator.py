"""Affine sampling grid of a spatial transformer."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.layers._grid import GridGenerator, coordinate_dtype

#: theta of the identity transform, ``[a, b, tx, c, d, ty]``.
AFFINE_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@keras.saving.register_keras_serializable(package="keras_segattn")
class AffineGridGenerator(GridGenerator):
    """Maps every output pixel to the input location it samples (affine transform).

    The grid generator of a spatial transformer (Jaderberg, Simonyan, Zisserman
    & Kavukcuoglu, "Spatial Transformer Networks", NIPS 2015, eq. 1): for each
    output pixel with normalised coordinates ``(x_t, y_t)`` it returns the source
    coordinates

        x_s = a * x_t + b * y_t + tx
        y_s = c * x_t + d * y_t + ty

    with ``theta = [a, b, tx, c, d, ty]`` (row-major ``2 x 3`` matrix). The
    identity ``[1, 0, 0, 0, 1, 0]`` returns the output pixel centres themselves,
    so :class:`BilinearSampler` reproduces the input exactly. ``tx = 0.5``
    samples half an image width to the right: the content moves *left*.

    Coordinates are ``(x, y)`` in ``[-1, 1]``; with ``align_corners=True`` (the
    paper's convention) -1 and +1 are the centres of the corner pixels, with
    ``align_corners=False`` their outer edges. Use the same value in the
    sampler.

    The projective and thin-plate-spline transforms of the paper are the
    separate layers :class:`ProjectiveGridGenerator` and
    :class:`ThinPlateSplineGridGenerator`, because their ``theta`` has another
    size and meaning; :class:`SpatialTransformer` picks one by ``transform=``.

    Args:
        output_size: ``(height, width)`` of the grid (positive ints).
        align_corners: coordinate convention (see above), default True.

    Input shape:
        ``theta``: ``(batch, 6)`` or ``(batch, 2, 3)``.

    Output shape:
        ``(batch, height, width, 2)``: source ``(x, y)`` per output pixel
        (float32; float64 if the layer's dtype is float64).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import AffineGridGenerator
        >>> grid = AffineGridGenerator((2, 3))(np.array([[1, 0, 0, 0, 1, 0]], "float32"))
        >>> grid.numpy()[0, :, :, 0].tolist()  # x of each output pixel
        [[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]
    """

    #: length of the flat theta.
    num_parameters = 6

    theta_shapes = ((6,), (2, 3))
    theta_meaning = "affine parameters [a, b, tx, c, d, ty] mapping output to input coordinates"

    def identity_theta(self) -> np.ndarray:
        """The flat theta of the identity transform, ``[1, 0, 0, 0, 1, 0]``."""
        return np.array(AFFINE_IDENTITY, dtype=np.float32)

    def call(self, theta):
        self._check(theta.shape)
        dtype = coordinate_dtype(self.compute_dtype)
        height, width = self.output_size
        theta = tf.reshape(tf.cast(theta, dtype), [-1, 2, 3])
        # [x_t, y_t, 1] per output pixel, (1, H W, 3). One matrix product: with
        # the identity every term is exact, so the grid is exactly the pixel
        # centres; in int8 TFLite it is a single requantisation (BATCH_MATMUL).
        points = tf.constant(self._homogeneous_grid(), dtype=dtype)
        grid = tf.matmul(points, theta, transpose_b=True)  # (B, H W, 2)
        return tf.reshape(grid, [-1, height, width, 2])
