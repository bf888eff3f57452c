"""Gaussian and Laplacian image pyramids (Burt & Adelson 1983) as a layer."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.validation import check_choice, check_int, check_rank

#: The 5-tap binomial filter of Burt & Adelson (a = 0.375), normalised to sum 1.
BINOMIAL_5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _level_size(size, level):
    for _ in range(level):
        size = None if size is None else -(-size // 2)
    return size


@keras.saving.register_keras_serializable(package="keras_segattn")
class ImagePyramid(keras.layers.Layer):
    """An image pyramid of ``levels`` scales, finest first.

    Gaussian level ``k + 1`` is level ``k`` blurred by the separable 5-tap
    binomial filter ``[1, 4, 6, 4, 1] / 16`` (zero padding, "same") and
    subsampled by 2 (the even pixels), so a level of size ``n`` gives one of
    size ``ceil(n / 2)``. With ``mode="laplacian"`` level ``k < levels - 1`` is
    the band-pass ``G_k - up(G_{k+1})`` (``up``: bilinear resize, half-pixel
    centres, to ``G_k``'s size) and the last level is the low-pass
    ``G_{levels-1}``, so the image is recovered exactly by
    ``G_k = L_k + up(G_{k+1})`` from the coarsest level up. Farabet et al. (2013)
    feed the three scales of such a pyramid to one shared-weight CNN.

    Args:
        levels: int >= 1, the number of scales (level 0 is the input itself).
        mode: ``"laplacian"`` or ``"gaussian"``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        a list of ``levels`` tensors ``(batch, ceil(height / 2**k), ceil(width / 2**k), channels)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import ImagePyramid
        >>> [tuple(p.shape) for p in ImagePyramid(3)(np.zeros((1, 48, 45, 3), "float32"))]
        [(1, 48, 45, 3), (1, 24, 23, 3), (1, 12, 12, 3)]
    """

    def __init__(self, levels=3, mode="laplacian", **kwargs):
        super().__init__(**kwargs)
        self.levels = check_int("ImagePyramid", "levels", levels, minimum=1)
        self.mode = check_choice("ImagePyramid", "mode", mode, ("laplacian", "gaussian"))

    def build(self, input_shape):
        check_rank("ImagePyramid", "inputs", input_shape, 4, "(batch, height, width, channels)")
        if input_shape[-1] is None:
            raise ValueError("ImagePyramid: the channel dimension of the inputs must be known, received None.")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        check_rank("ImagePyramid", "inputs", input_shape, 4, "(batch, height, width, channels)")
        b, h, w, c = input_shape
        return [(b, _level_size(h, k), _level_size(w, k), c) for k in range(self.levels)]

    def _reduce(self, x):
        channels = x.shape[-1]
        taps = tf.constant(np.outer(BINOMIAL_5, BINOMIAL_5), dtype=x.dtype)
        kernel = tf.tile(taps[:, :, None, None], [1, 1, channels, 1])
        return tf.nn.depthwise_conv2d(x, kernel, strides=[1, 2, 2, 1], padding="SAME")

    def call(self, inputs):
        gaussian = [inputs]
        for _ in range(self.levels - 1):
            gaussian.append(self._reduce(gaussian[-1]))
        if self.mode == "gaussian":
            return gaussian
        out = []
        for k in range(self.levels - 1):
            size = tf.shape(gaussian[k])[1:3]
            # float32 in: the half-precision resize gradient mixes float types, which XLA refuses.
            up = tf.image.resize(tf.cast(gaussian[k + 1], "float32"), size, method="bilinear")
            up = tf.cast(up, gaussian[k].dtype)
            out.append(gaussian[k] - up)
        out.append(gaussian[-1])
        return out

    def get_config(self):
        config = super().get_config()
        config.update(levels=self.levels, mode=self.mode)
        return config
