"""Crop a feature map to the spatial size of another tensor."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_rank


@keras.saving.register_keras_serializable(package="keras_segattn")
class CropToReference(keras.layers.Layer):
    """Crop ``x`` (top-left aligned) to the height and width of ``reference``.

    The counterpart of :class:`PadToMultiple`: FCN's Caffe models end with a
    ``Crop`` layer that cuts the upsampled scores back to the input size.
    ``x`` must be at least as large as ``reference``.

    Input shape:
        ``[x, reference]``: ``(batch, H, W, C)`` and ``(batch, h, w, C_any)``
        with ``h <= H``, ``w <= W``.

    Output shape:
        ``(batch, h, w, C)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import CropToReference
        >>> CropToReference()([np.zeros((1, 64, 64, 5)), np.zeros((1, 50, 60, 3))]).shape
        TensorShape([1, 50, 60, 5])
    """

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2:
            raise ValueError(
                f"CropToReference: inputs must be a list [x, reference], received {shapes!r}."
            )
        for name, shape in zip(("x", "reference"), shapes):
            check_rank("CropToReference", name, shape, 4, "(batch, height, width, channels)")
        for axis, label in ((1, "height"), (2, "width")):
            big, small = shapes[0][axis], shapes[1][axis]
            if big is not None and small is not None and small > big:
                raise ValueError(
                    f"CropToReference: reference {label} {small} is larger than x's {big}; "
                    "it can only crop."
                )

    def build(self, input_shape):
        self._check(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        x, ref = input_shape
        return (x[0], ref[1], ref[2], x[3])

    def call(self, inputs):
        x, reference = inputs
        ref = tf.shape(reference)
        return tf.slice(x, [0, 0, 0, 0], [-1, ref[1], ref[2], -1])
