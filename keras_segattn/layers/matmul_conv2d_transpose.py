"""A stride-1, valid transposed convolution computed as one matrix multiplication."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_int_pair, check_positive_int, is_int, message


@keras.saving.register_keras_serializable(package="keras_segattn")
class MatmulConv2DTranspose(keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose(filters, kernel_size)`` (stride 1, ``"valid"``) as a matmul.

    DeconvNet (Noh, Hong & Han, "Learning Deconvolution Network for Semantic
    Segmentation", ICCV 2015) mirrors fc6 with "deconv-fc6": a 7x7 transposed
    convolution that turns the 1x1x4096 fc7 activation back into the 7x7x512
    pool5 map. Its kernel holds 103M weights, and TensorFlow's CPU kernel for
    it (``Conv2DBackpropInput``) spent 137 ms of DeconvNet's 430 ms forward
    pass at 224x224 on 0.2 GFLOP (measured by ``tools/benchmark.py``'s
    profile), while the same arithmetic as one matrix product streams the
    kernel once.

    Each input pixel ``x[b, y, x, :]`` contributes ``x . K[i, j, f, :]`` to
    output pixel ``(y + i, x + j)``: the layer computes all ``kh * kw * filters``
    products of every pixel with one ``matmul`` against the kernel as stored
    (no transposed copy), then adds the ``kh * kw`` shifted planes (a 1x1
    input, DeconvNet's case, needs only a reshape). The weights, their names,
    shapes and meaning, and the outputs are those of
    ``keras.layers.Conv2DTranspose`` with ``strides=1`` and
    ``padding="valid"``, so weights move between the two with
    ``set_weights``. Converts to TFLite builtins (``FULLY_CONNECTED`` or
    ``BATCH_MATMUL``, ``PAD``, ``ADD``) and ONNX; compiles under XLA.

    Args:
        filters: output channels.
        kernel_size: int or ``(kh, kw)``.
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint: as ``keras.layers.Conv2DTranspose``.
        strides, padding, dilation_rate, data_format: accepted only at
            their values here (1, ``"valid"``, 1, ``"channels_last"``), so a
            saved configuration of the Keras layer round-trips; other values
            raise (use ``keras.layers.Conv2DTranspose``).

    Input shape:
        ``(batch, H, W, C)``.

    Output shape:
        ``(batch, H + kh - 1, W + kw - 1, filters)``.

    Example:
        >>> import numpy as np, keras
        >>> from keras_segattn.layers import MatmulConv2DTranspose
        >>> x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
        >>> layer = MatmulConv2DTranspose(6, 3)
        >>> reference = keras.layers.Conv2DTranspose(6, 3)
        >>> reference.build(x.shape)
        >>> layer.build(x.shape); layer.set_weights(reference.get_weights())
        >>> tuple(layer(x).shape), bool(np.allclose(layer(x), reference(x), atol=1e-5))
        ((2, 5, 6, 6), True)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 data_format=None, **kwargs):
        for argument, value, expected, ok in (
            ("strides", strides, "1 (use keras.layers.Conv2DTranspose for strided ones)",
             strides in (1, (1, 1), [1, 1])),
            ("padding", padding, "'valid'", isinstance(padding, str) and padding.lower() == "valid"),
            ("dilation_rate", dilation_rate, "1", dilation_rate in (1, (1, 1), [1, 1])),
            ("data_format", data_format, "None or 'channels_last'", data_format in (None, "channels_last")),
        ):
            if not ok or isinstance(value, bool):
                raise ValueError(message("MatmulConv2DTranspose", argument, expected, value))
        filters = check_positive_int("MatmulConv2DTranspose", "filters", filters)
        if is_int(kernel_size):
            kernel_size = (kernel_size, kernel_size)
        kernel_size = check_int_pair("MatmulConv2DTranspose", "kernel_size", kernel_size)
        super().__init__(filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                         data_format="channels_last", **kwargs)

    def call(self, inputs):
        kh, kw = self.kernel_size
        kernel = tf.cast(self.kernel, inputs.dtype)  # (kh, kw, filters, channels)
        channels = kernel.shape[-1]
        shape = tf.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        # (B*H*W, C) x (kh*kw*F, C)^T: the kernel's own memory order, no copy.
        columns = tf.matmul(
            tf.reshape(inputs, [-1, channels]), tf.reshape(kernel, [kh * kw * self.filters, channels]),
            transpose_b=True,
        )
        if inputs.shape[1] == 1 and inputs.shape[2] == 1:
            outputs = tf.reshape(columns, [batch, kh, kw, self.filters])
        else:
            columns = tf.reshape(columns, [batch, height, width, kh * kw, self.filters])
            planes = tf.unstack(columns, axis=3)
            outputs = None
            for index, plane in enumerate(planes):
                i, j = divmod(index, kw)
                shifted = tf.pad(plane, [[0, 0], [i, kh - 1 - i], [j, kw - 1 - j], [0, 0]])
                outputs = shifted if outputs is None else outputs + shifted
        if self.use_bias:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
