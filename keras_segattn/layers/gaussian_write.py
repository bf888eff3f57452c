"""DRAW's attentive write: an N x N patch spread onto the canvas through a Gaussian filterbank."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers.gaussian_read import _check_filters
from keras_segattn.validation import message


@keras.saving.register_keras_serializable(package="keras_segattn")
class GaussianWrite(keras.layers.Layer):
    """Writes an ``N x N`` patch onto a ``H x W`` canvas: ``(1 / gamma) Fy^T w Fx`` (weight-free).

    Gregor et al., "DRAW: A Recurrent Neural Network For Image Generation",
    ICML 2015, eq. 29: the transpose of :class:`GaussianRead`, with the
    reciprocal intensity. A trailing channel axis of the patch is kept.

    Call arguments:
        ``[patch, Fx, Fy, gamma]``: ``patch (batch, N, N)`` or
        ``(batch, N, N, C)``; ``Fx (batch, N, W)``, ``Fy (batch, N, H)``,
        ``gamma (batch, 1)`` from :class:`GaussianFilterbank`.

    Returns:
        ``(batch, H, W)`` or ``(batch, H, W, C)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import GaussianFilterbank, GaussianWrite
        >>> filters = GaussianFilterbank(2, (6, 6))(np.zeros((1, 5), "float32"))
        >>> tuple(GaussianWrite()([np.ones((1, 2, 2), "float32"), *filters]).shape)
        (1, 6, 6)
    """

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 4:
            raise ValueError(message("GaussianWrite", "inputs", "a list [patch, Fx, Fy, gamma]", shapes))
        patch, fx, fy, gamma = (tuple(s) for s in shapes)
        _check_filters("GaussianWrite", fx, fy, gamma)
        n = fx[1]
        if len(patch) not in (3, 4) or any(p is not None and n is not None and p != n for p in patch[1:3]):
            raise ValueError(
                message("GaussianWrite", "patch", f"shape (batch, N, N) or (batch, N, N, C) with N = {n} (the "
                        "filterbank's glimpse_size)", f"shape {patch}")
            )
        return patch, fx, fy

    def build(self, input_shape):
        # Checked here, before call() unpacks the inputs, so a wrong count names the argument.
        self._check(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        patch, fx, fy, gamma = inputs
        shape, _, _ = self._check([x.shape for x in inputs])
        patch = tf.cast(patch, self.compute_dtype)
        fx, fy, gamma = (tf.cast(t, self.compute_dtype) for t in (fx, fy, gamma))
        if len(shape) == 3:
            canvas = tf.matmul(tf.matmul(fy, patch, transpose_a=True), fx)
            return canvas / gamma[:, :, None]
        planes = tf.transpose(patch, [0, 3, 1, 2])  # (B, C, N, N)
        canvas = tf.matmul(tf.matmul(fy[:, None], planes, transpose_a=True), fx[:, None])  # (B, C, H, W)
        return tf.transpose(canvas, [0, 2, 3, 1]) / gamma[:, :, None, None]

    def compute_output_shape(self, input_shape):
        patch, fx, fy = self._check(input_shape)
        return (patch[0], fy[2], fx[2]) + tuple(patch[3:])


__all__ = ["GaussianWrite"]
