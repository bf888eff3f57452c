"""Maxout: the maximum over groups of consecutive units."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_segattn")
class Maxout(keras.layers.Layer):
    """Maxout units: ``out_j = max_k x_{j * pieces + k}`` over the last axis.

    Goodfellow et al., "Maxout Networks", ICML 2013. RNNsearch (Bahdanau et
    al., ICLR 2015, appendix A.2.2) puts a maxout hidden layer ("deep output")
    between the decoder and the softmax: ``t_i = [max(t~_{i,2j-1}, t~_{i,2j})]``,
    i.e. ``pieces=2`` over consecutive pairs. Reshape + reduce-max: builtin
    ops in TFLite (``RESHAPE``, ``REDUCE_MAX``) and ONNX.

    Args:
        pieces: group size (the paper: 2).

    Input shape: ``(..., units)`` with ``units`` a multiple of ``pieces``.
    Output shape: ``(..., units // pieces)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import Maxout
        >>> Maxout(2)(np.array([[1, 5, 3, 2]], "float32")).numpy().tolist()
        [[5.0, 3.0]]
    """

    def __init__(self, pieces=2, **kwargs):
        super().__init__(**kwargs)
        self.pieces = check_positive_int("Maxout", "pieces", pieces)
        self.supports_masking = True

    def _check(self, input_shape):
        units = input_shape[-1]
        if units is None or units % self.pieces:
            raise ValueError(
                f"Maxout: the last dimension must be a known multiple of pieces={self.pieces}, "
                f"received shape {tuple(input_shape)}."
            )
        return units

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self._check(input_shape) // self.pieces)

    def call(self, inputs):
        units = inputs.shape[-1]
        shape = tf.concat([tf.shape(inputs)[:-1], [units // self.pieces, self.pieces]], axis=0)
        return tf.reduce_max(tf.reshape(inputs, shape), axis=-1)

    def get_config(self):
        config = super().get_config()
        config["pieces"] = self.pieces
        return config
