"""Max pooling that also returns where each maximum came from ("switches")."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers._utils import check_rank, normalize_square_pool_size


@keras.saving.register_keras_serializable(package="keras_segattn")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """2-D max pooling returning the pooled values and their argmax "switches".

    The encoder half of DeconvNet (Noh, Hong & Han, "Learning Deconvolution
    Network for Semantic Segmentation", ICCV 2015) and SegNet records, for every
    pooling window, which element was the maximum; :class:`MaxUnpooling2D` later
    puts values back at exactly those positions.

    ``tf.nn.max_pool_with_argmax`` computes the same thing but has no XLA kernel
    and no TFLite builtin (the converter needs Flex ops that the LiteRT
    interpreter cannot run). This layer is built from ``space_to_depth``,
    comparisons and reductions, which compile under XLA and convert to TFLite
    builtins and ONNX. Windows are square and non-overlapping (stride = pool
    size). Ties pick the first maximum in row-major window order, exactly as
    ``tf.nn.max_pool_with_argmax``; the gradient flows to that element only, as
    for ``keras.layers.MaxPooling2D``.

    NaN propagates as in ``torch.nn.functional.max_pool2d``: a window holding a
    NaN pools to NaN and its switch is the index of its last NaN in row-major
    window order (torch's CPU and CUDA kernels take every NaN they meet), still
    in ``[0, pool_size**2)``, so :class:`MaxUnpooling2D` puts the NaN back where
    it was instead of a number. (``tf.nn.max_pool_with_argmax`` returns the
    NaN but an argmax outside the window.)

    Switches are window-local indices ``dy * pool_size + dx`` in
    ``[0, pool_size**2)``, int32, shaped like the pooled output. The position of
    pooled element ``(i, j)`` is ``(i * k + s // k, j * k + s % k)``.

    Args:
        pool_size: int >= 2 (or square ``(k, k)`` tuple), window size and stride.
        padding: ``"valid"`` drops trailing rows/columns that do not fill a
            window (output ``floor(H / k)``); ``"same"`` pads the bottom/right
            with ``-inf`` (the lowest value for integer dtypes) so padding
            never wins: a window's first element is real, and wins ties
            (output ``ceil(H / k)``). Both match ``tf.nn.max_pool_with_argmax``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        Two tensors ``(batch, height', width', channels)``: pooled values (input
        dtype) and switches (int32).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import MaxPoolingWithArgmax2D
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> pooled, switches = MaxPoolingWithArgmax2D(2)(x)
        >>> pooled.numpy()[0, :, :, 0].tolist(), switches.numpy()[0, :, :, 0].tolist()
        ([[5.0, 7.0], [13.0, 15.0]], [[3, 3], [3, 3]])
    """

    def __init__(self, pool_size=2, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = normalize_square_pool_size(pool_size, "MaxPoolingWithArgmax2D", minimum=2)
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise ValueError(
                f"MaxPoolingWithArgmax2D: padding must be 'valid' or 'same', received {padding!r}."
            )
        self.padding = padding
        # No InputSpec: build() checks the rank with a message naming the argument.

    def build(self, input_shape):
        check_rank(input_shape, 4, "MaxPoolingWithArgmax2D", "inputs", "(batch, height, width, channels)")
        if input_shape[-1] is None:
            raise ValueError("MaxPoolingWithArgmax2D: the channel dimension of the inputs must be known.")
        super().build(input_shape)

    def _out_size(self, size):
        if size is None:
            return None
        k = self.pool_size
        return -(-size // k) if self.padding == "same" else size // k

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        shape = (b, self._out_size(h), self._out_size(w), c)
        return shape, shape

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(inputs.shape)
        return (
            keras.KerasTensor(shape[0], dtype=self.compute_dtype),
            keras.KerasTensor(shape[1], dtype="int32"),
        )

    def call(self, inputs):
        k = self.pool_size
        channels = inputs.shape[-1]
        shape = tf.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        if self.padding == "same":
            out_h, out_w = -(-height // k), -(-width // k)
            # -inf, not dtype.min: a border window of real -inf values must pool
            # to -inf (it ties with the padding and comes first), not to dtype.min.
            lowest = float("-inf") if inputs.dtype.is_floating else inputs.dtype.min
            inputs = tf.pad(
                inputs,
                [[0, 0], [0, out_h * k - height], [0, out_w * k - width], [0, 0]],
                constant_values=lowest,
            )
        else:
            out_h, out_w = height // k, width // k
            inputs = tf.slice(inputs, [0, 0, 0, 0], [-1, out_h * k, out_w * k, -1])
        # (B, Ho, Wo, k*k*C) with depth index (dy*k + dx)*C + c, viewed as
        # (B, Ho*Wo, k*k, C): 4-D so every broadcast stays within TFLite's limits.
        windows = tf.reshape(tf.nn.space_to_depth(inputs, k), [batch, out_h * out_w, k * k, channels])
        kk = k * k
        iota = tf.reshape(tf.range(kk, dtype="int32"), [1, 1, kk, 1])
        # x != x is the NaN test that converts to a TFLite builtin (NOT_EQUAL);
        # there is no IS_NAN builtin.
        is_nan = tf.cast(tf.not_equal(windows, windows), "int32")
        is_max = tf.cast(tf.equal(windows, tf.reduce_max(windows, axis=2, keepdims=True)), "int32")
        # Rank every element so that the smallest rank is the switch: NaNs
        # first (last NaN first: torch's kernels take every NaN they meet, so
        # the last one in row-major order wins), then maxima (first one, as
        # tf.nn.max_pool_with_argmax and torch), then the rest. It does not rely
        # on reduce_max propagating NaN, which differs between TF, XLA and
        # TFLite kernels. NaN == m is false, so is_nan and is_max never both hold.
        order = iota + is_nan * (kk - 1 - 2 * iota)  # kk-1-iota for a NaN
        best = tf.reduce_min(order + kk * (2 - 2 * is_nan - is_max), axis=2)
        pos = tf.math.floormod(best, kk)
        switches = tf.where(best < kk, kk - 1 - pos, pos)
        chosen = tf.equal(iota, tf.expand_dims(switches, 2))
        pooled = tf.reduce_sum(tf.where(chosen, windows, tf.zeros_like(windows)), axis=2)
        out_shape = [batch, out_h, out_w, channels]
        return tf.reshape(pooled, out_shape), tf.reshape(switches, out_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding})
        return config
