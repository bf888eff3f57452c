"""DRAW's attentive read: an N x N glimpse through a Gaussian filterbank."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import message


def _check_filters(layer, fx, fy, gamma):
    if len(fx) != 3 or len(fy) != 3 or fx[1] != fy[1] or tuple(gamma)[1:] != (1,):
        raise ValueError(
            message(layer, "[Fx, Fy, gamma]", "Fx (batch, N, W), Fy (batch, N, H) with the same N and gamma (batch, 1) "
                    "(GaussianFilterbank's outputs)", f"shapes {tuple(fx)}, {tuple(fy)}, {tuple(gamma)}")
        )


@keras.saving.register_keras_serializable(package="keras_segattn")
class GaussianRead(keras.layers.Layer):
    """Reads an ``N x N`` glimpse: ``gamma * Fy x Fx^T`` (weight-free).

    Gregor et al., "DRAW: A Recurrent Neural Network For Image Generation",
    ICML 2015, eq. 27: every glimpse pixel ``(j, i)`` is the image weighted by
    the outer product of the ``j``-th vertical and ``i``-th horizontal
    Gaussian of :class:`GaussianFilterbank`, times the intensity ``gamma``.
    A trailing channel axis of the image is kept (each channel is read with
    the same filters).

    Call arguments:
        ``[images, Fx, Fy, gamma]``: ``images (batch, H, W)`` or
        ``(batch, H, W, C)``; ``Fx (batch, N, W)``, ``Fy (batch, N, H)``,
        ``gamma (batch, 1)``.

    Returns:
        ``(batch, N, N)`` or ``(batch, N, N, C)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import GaussianFilterbank, GaussianRead
        >>> image = np.arange(16, dtype="float32").reshape(1, 4, 4)
        >>> # delta~ = 1, a tiny variance and N = 4: the filters are the pixels themselves
        >>> filters = GaussianFilterbank(4, (4, 4))(np.array([[0, 0, -9, 0, 0]], "float32"))
        >>> np.allclose(GaussianRead()([image, *filters]), image)
        True
    """

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 4:
            raise ValueError(message("GaussianRead", "inputs", "a list [images, Fx, Fy, gamma]", shapes))
        images, fx, fy, gamma = (tuple(s) for s in shapes)
        _check_filters("GaussianRead", fx, fy, gamma)
        if len(images) not in (3, 4) or (images[1] is not None and fy[2] is not None and images[1] != fy[2]) or (
            images[2] is not None and fx[2] is not None and images[2] != fx[2]
        ):
            raise ValueError(
                message("GaussianRead", "images", f"shape (batch, H, W) or (batch, H, W, C) with H = {fy[2]} and "
                        f"W = {fx[2]} (the filterbank's image_size)", f"shape {images}")
            )
        return images, fx

    def build(self, input_shape):
        # Checked here, before call() unpacks the inputs, so a wrong count names the argument.
        self._check(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        images, fx, fy, gamma = inputs
        shape, _ = self._check([x.shape for x in inputs])
        images = tf.cast(images, self.compute_dtype)
        fx, fy, gamma = (tf.cast(t, self.compute_dtype) for t in (fx, fy, gamma))
        if len(shape) == 3:
            glimpse = tf.matmul(tf.matmul(fy, images), fx, transpose_b=True)
            return gamma[:, :, None] * glimpse
        # channels into the batch of the matrix product: (B, C, H, W)
        planes = tf.transpose(images, [0, 3, 1, 2])
        glimpse = tf.matmul(tf.matmul(fy[:, None], planes), fx[:, None], transpose_b=True)  # (B, C, N, N)
        return gamma[:, :, None, None] * tf.transpose(glimpse, [0, 2, 3, 1])

    def compute_output_shape(self, input_shape):
        images, fx = self._check(input_shape)
        n = fx[1]
        return (images[0], n, n) + tuple(images[3:])


__all__ = ["GaussianRead"]
