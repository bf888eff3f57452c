"""Stride-1 max pooling over a dilated window (the "a trous" form of a strided max-pool)."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_positive_int, check_rank


@keras.saving.register_keras_serializable(package="keras_segattn")
class DilatedMaxPooling2D(keras.layers.Layer):
    """Max over a ``pool_size x pool_size`` window whose taps are ``dilation_rate`` apart, stride 1, valid.

    ``y[i, j] = max_{a, b < pool_size} x[i + a * dilation_rate, j + b * dilation_rate]``.

    This is how a network with strided max-pooling runs densely (every output
    pixel, no stride) with the same weights: each ``pool_size``-strided pool
    becomes a stride-1 pool dilated by the product of the strides before it,
    and every later convolution is dilated likewise (Giusti et al. 2013's
    "max-pooling fragments"; the "filter rarefaction" of Long et al. 2015,
    section 3.2, equivalent to shift-and-stitch). ``tf.nn.pool`` with a
    ``dilation_rate`` computes the same but lowers to ``SpaceToBatchND`` with
    shape-dependent paddings; this layer is a maximum of shifted slices
    (rows, then columns), which every target (TFLite builtins, int8, ONNX) runs.

    Args:
        pool_size: positive int, the window's taps per axis.
        dilation_rate: positive int, the distance between taps.

    Input shape:
        ``(batch, height, width, channels)`` with
        ``height, width > (pool_size - 1) * dilation_rate``.

    Output shape:
        ``(batch, height - (pool_size - 1) * dilation_rate, width - (pool_size - 1) * dilation_rate, channels)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import DilatedMaxPooling2D
        >>> DilatedMaxPooling2D(2, dilation_rate=4)(np.zeros((1, 20, 20, 3), "float32")).shape
        TensorShape([1, 16, 16, 3])
    """

    def __init__(self, pool_size=2, dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = check_positive_int("DilatedMaxPooling2D", "pool_size", pool_size)
        self.dilation_rate = check_positive_int("DilatedMaxPooling2D", "dilation_rate", dilation_rate)

    @property
    def span(self):
        """How many rows/columns the window adds: ``(pool_size - 1) * dilation_rate``."""
        return (self.pool_size - 1) * self.dilation_rate

    def _check(self, input_shape):
        check_rank("DilatedMaxPooling2D", "inputs", input_shape, 4, "(batch, height, width, channels)")
        for axis, label in ((1, "height"), (2, "width")):
            size = input_shape[axis]
            if size is not None and size <= self.span:
                raise ValueError(
                    f"DilatedMaxPooling2D: input {label} must be > (pool_size - 1) * dilation_rate = {self.span}, "
                    f"received {size}."
                )

    def build(self, input_shape):
        self._check(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        b, h, w, c = input_shape
        return (b, None if h is None else h - self.span, None if w is None else w - self.span, c)

    def call(self, inputs):
        # Separable: the max over the window's rows, then over its columns
        # (2 * pool_size slices instead of pool_size**2). tf.slice, not Python
        # slicing: StridedSlice's gradient is ~5x slower on CPU. The static
        # channel dimension is restored so later convolutions stay plain ops.
        shape = tf.shape(inputs)
        height, width = shape[1] - self.span, shape[2] - self.span
        rows = None
        for a in range(self.pool_size):
            tap = tf.slice(inputs, [0, a * self.dilation_rate, 0, 0], tf.stack([-1, height, -1, -1]))
            rows = tap if rows is None else tf.maximum(rows, tap)
        out = None
        for b in range(self.pool_size):
            tap = tf.slice(rows, [0, 0, b * self.dilation_rate, 0], tf.stack([-1, -1, width, -1]))
            out = tap if out is None else tf.maximum(out, tap)
        out.set_shape([None, None, None, inputs.shape[-1]])
        return out

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, dilation_rate=self.dilation_rate)
        return config
