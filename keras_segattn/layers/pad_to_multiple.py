"""Zero-pad the bottom/right of an image so its size is a multiple of a stride."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_positive_int, check_rank


@keras.saving.register_keras_serializable(package="keras_segattn")
class PadToMultiple(keras.layers.Layer):
    """Pad height and width at the bottom/right up to a multiple of ``multiple``.

    Fully convolutional networks downsample by a total stride (32 for VGG16) and
    fuse maps of several strides; padding the input to a multiple of that stride
    lets them accept any image size (FCN's Caffe models pad by 100 pixels and
    crop for the same reason). Pair it with :class:`CropToReference` to crop the
    output back to the input size. Works with dynamic shapes, converts to a
    TFLite ``PAD``.

    Args:
        multiple: positive int.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, ceil(height / multiple) * multiple, ceil(width / multiple) * multiple, channels)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import PadToMultiple
        >>> PadToMultiple(32)(np.zeros((1, 50, 64, 3), "float32")).shape
        TensorShape([1, 64, 64, 3])
    """

    def __init__(self, multiple, **kwargs):
        super().__init__(**kwargs)
        self.multiple = check_positive_int("PadToMultiple", "multiple", multiple)

    def build(self, input_shape):
        # Instead of an InputSpec, whose message names neither the layer's argument nor its format.
        check_rank("PadToMultiple", "inputs", input_shape, 4, "(batch, height, width, channels)")
        super().build(input_shape)

    def _padded(self, size):
        return None if size is None else -(-size // self.multiple) * self.multiple

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, self._padded(h), self._padded(w), c)

    def call(self, inputs):
        m = self.multiple
        shape = tf.shape(inputs)
        pad_h = (-shape[1]) % m
        pad_w = (-shape[2]) % m
        return tf.pad(inputs, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])

    def get_config(self):
        config = super().get_config()
        config["multiple"] = self.multiple
        return config
