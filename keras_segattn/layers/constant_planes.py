"""Planes of a constant value, shaped like an image: an "empty label map"."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_number, check_positive_int, check_rank


@keras.saving.register_keras_serializable(package="keras_segattn")
class ConstantPlanes(keras.layers.Layer):
    """``channels`` planes filled with ``value``, with the batch and spatial size of the input.

    The first pass of a recurrent segmenter (Pinheiro & Collobert 2014) has no
    previous prediction; it gets an empty label map (``value=0``) of the shape
    later passes' probability planes have. Only the input's shape is read, so no
    gradient flows to it.

    Args:
        channels: positive int, the number of planes.
        value: the fill value (a finite number).

    Input shape:
        ``(batch, height, width, any)``.

    Output shape:
        ``(batch, height, width, channels)``, in the layer's compute dtype.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import ConstantPlanes
        >>> ConstantPlanes(4)(np.ones((2, 5, 6, 3), "float32")).shape
        TensorShape([2, 5, 6, 4])
    """

    def __init__(self, channels, value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.channels = check_positive_int("ConstantPlanes", "channels", channels)
        self.value = check_number("ConstantPlanes", "value", value)

    def build(self, input_shape):
        check_rank("ConstantPlanes", "inputs", input_shape, 4, "(batch, height, width, channels)")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        check_rank("ConstantPlanes", "inputs", input_shape, 4, "(batch, height, width, channels)")
        return (*tuple(input_shape)[:3], self.channels)

    def call(self, inputs):
        shape = tf.shape(inputs)
        planes = tf.fill(tf.stack([shape[0], shape[1], shape[2], self.channels]), tf.cast(self.value, self.compute_dtype))
        planes.set_shape([None, None, None, self.channels])  # static channels: later convolutions stay plain ops
        return planes

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, value=self.value)
        return config
