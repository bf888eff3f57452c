"""Learnable upsampling initialised to bilinear interpolation (FCN)."""

from __future__ import annotations

import keras

from keras_segattn.initializers import BilinearKernel
from keras_segattn.validation import check_bool, check_positive_int


@keras.saving.register_keras_serializable(package="keras_segattn")
class BilinearUpsampling2DTranspose(keras.layers.Layer):
    """Transposed convolution that starts as exact bilinear upsampling.

    FCN's "learnable upsampling" (Long, Shelhamer & Darrell, "Fully
    Convolutional Networks for Semantic Segmentation", CVPR 2015): a stride
    ``factor`` transposed convolution with kernel ``2 * factor - factor % 2``
    whose kernel is initialised to per-channel bilinear interpolation
    (:class:`~keras_segattn.initializers.BilinearKernel`) and may then be
    learned (or frozen with ``trainable=False``). With ``"same"`` padding the
    output is ``factor`` times the input and, at initialisation, equals
    ``tf.image.resize(x, size, "bilinear")`` except within ``factor`` pixels of
    the border, where the transposed convolution sees zero padding.

    Args:
        filters: output channels. Bilinear on the diagonal needs
            ``filters == input channels``; extra channel pairs start at zero.
        factor: positive int, the upsampling factor (stride).
        use_bias: add a bias (zero-initialised). FCN has none.
        kernel_regularizer: optional regulariser of the kernel.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height * factor, width * factor, filters)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import BilinearUpsampling2DTranspose
        >>> up = BilinearUpsampling2DTranspose(filters=3, factor=2)
        >>> up(np.ones((1, 8, 8, 3), "float32")).shape
        TensorShape([1, 16, 16, 3])
    """

    def __init__(self, filters, factor, use_bias=False, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("BilinearUpsampling2DTranspose", "filters", filters)
        self.factor = check_positive_int("BilinearUpsampling2DTranspose", "factor", factor)
        self.use_bias = check_bool("BilinearUpsampling2DTranspose", "use_bias", use_bias)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_size = 2 * self.factor - self.factor % 2
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "BilinearUpsampling2DTranspose: inputs must be (batch, height, width, channels) "
                f"with known channels, received shape {tuple(input_shape)}."
            )
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, self.filters, input_shape[-1]),
            initializer=BilinearKernel(),
            regularizer=self.kernel_regularizer,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
            if self.use_bias
            else None
        )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: input_shape[-1]})

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, self.filters)

    def call(self, inputs):
        outputs = keras.ops.conv_transpose(
            inputs, keras.ops.cast(self.kernel, inputs.dtype), strides=self.factor, padding="same"
        )
        if self.bias is not None:
            outputs = outputs + keras.ops.cast(self.bias, outputs.dtype)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "factor": self.factor,
                "use_bias": self.use_bias,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
