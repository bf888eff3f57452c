"""A stride-1 convolution computed as one matrix multiplication over gathered patches (im2col)."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_int_pair, check_positive_int, is_int, message


@keras.saving.register_keras_serializable(package="keras_segattn")
class MatmulConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D(filters, kernel_size)`` (stride 1) as patches times the kernel.

    FCN (Long, Shelhamer & Darrell, "Fully Convolutional Networks for
    Semantic Segmentation", CVPR 2015) turns VGG's fc6 into a 7x7
    convolution with 4096 filters over the 7x7 pool5 map of a 224x224
    image. TensorFlow's CPU kernel for that shape ran at 47 GFLOP/s where a
    dense matmul of the same machine runs at 270 (214 ms against XLA's 64
    for 10 GFLOP, measured with ``tools/benchmark.py``), most of FCN-8s'
    forward pass. Written as the matrix product it is (im2col), the same
    arithmetic runs at matmul speed: the ``kh * kw`` shifted views of the
    (padded) input are concatenated along the channels and multiplied once
    by the kernel reshaped to ``(kh * kw * C, filters)`` (its memory order, no
    copy). The patches take ``kh * kw`` times the input's memory, which is
    small where this layer pays (large kernels on small maps).

    The weights, their names, shapes and meaning, and the outputs are those
    of ``keras.layers.Conv2D`` with ``strides=1`` and no dilation, so
    weights move between the two with ``set_weights``. Converts to TFLite
    builtins (``PAD``, ``SLICE``, ``CONCATENATION``, ``FULLY_CONNECTED``) and
    ONNX; compiles under XLA.

    Args:
        filters: output channels.
        kernel_size: int or ``(kh, kw)``.
        padding: ``"valid"`` or ``"same"`` (Keras' rule: the extra row or
            column of an even kernel's padding goes after).
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint: as ``keras.layers.Conv2D``.
        strides, dilation_rate, groups, data_format: accepted only at their
            values here (1, 1, 1, ``"channels_last"``), so a saved
            configuration of the Keras layer round-trips; other values raise
            (use ``keras.layers.Conv2D``).

    Input shape:
        ``(batch, H, W, C)``.

    Output shape:
        ``(batch, H, W, filters)`` with ``"same"``, ``(batch, H - kh + 1,
        W - kw + 1, filters)`` with ``"valid"``.

    Example:
        >>> import numpy as np, keras
        >>> from keras_segattn.layers import MatmulConv2D
        >>> x = np.random.default_rng(0).normal(size=(2, 7, 7, 5)).astype("float32")
        >>> layer, reference = MatmulConv2D(6, 7, padding="same"), keras.layers.Conv2D(6, 7, padding="same")
        >>> reference.build(x.shape)
        >>> layer.build(x.shape); layer.set_weights(reference.get_weights())
        >>> tuple(layer(x).shape), bool(np.allclose(layer(x), reference(x), atol=1e-5))
        ((2, 7, 7, 6), True)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, **kwargs):
        padding = padding.lower() if isinstance(padding, str) else padding
        for argument, value, expected, ok in (
            ("strides", strides, "1 (use keras.layers.Conv2D for strided ones)", strides in (1, (1, 1), [1, 1])),
            ("padding", padding, "'valid' or 'same'", padding in ("valid", "same")),
            ("data_format", data_format, "None or 'channels_last'", data_format in (None, "channels_last")),
            ("dilation_rate", dilation_rate, "1", dilation_rate in (1, (1, 1), [1, 1])),
            ("groups", groups, "1", groups == 1),
        ):
            if not ok or isinstance(value, bool):
                raise ValueError(message("MatmulConv2D", argument, expected, value))
        filters = check_positive_int("MatmulConv2D", "filters", filters)
        if is_int(kernel_size):
            kernel_size = (kernel_size, kernel_size)
        kernel_size = check_int_pair("MatmulConv2D", "kernel_size", kernel_size)
        super().__init__(filters, kernel_size, strides=1, padding=padding, data_format="channels_last",
                         dilation_rate=1, groups=1, **kwargs)

    def call(self, inputs):
        kh, kw = self.kernel_size
        kernel = tf.cast(self.kernel, inputs.dtype)  # (kh, kw, channels, filters)
        channels = kernel.shape[2]
        if self.padding == "same":
            inputs = tf.pad(inputs, [[0, 0], [(kh - 1) // 2, kh // 2], [(kw - 1) // 2, kw // 2], [0, 0]])
        shape = tf.shape(inputs)
        out_h, out_w = shape[1] - kh + 1, shape[2] - kw + 1
        # Depth index (i * kw + j) * C + c: the kernel's own order.
        patches = tf.concat(
            [tf.slice(inputs, [0, i, j, 0], [-1, out_h, out_w, -1]) for i in range(kh) for j in range(kw)],
            axis=-1,
        )
        outputs = tf.matmul(
            tf.reshape(patches, [-1, kh * kw * channels]), tf.reshape(kernel, [kh * kw * channels, self.filters])
        )
        outputs = tf.reshape(outputs, [shape[0], out_h, out_w, self.filters])
        if self.use_bias:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
