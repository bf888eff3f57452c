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
        shape = tf.shape(inputs)
        height, width = shape[1], shape[2]
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
        # One pass per window element, in row-major window order, keeping the
        # running maximum and its index: the scan of torch's max_pool2d kernel.
        # A strictly greater value takes over, so the first maximum wins ties
        # (as tf.nn.max_pool_with_argmax); a NaN always takes over, so a window
        # with NaNs pools to NaN with the index of its last NaN (torch), and it
        # does not rely on reduce_max propagating NaN, which differs between
        # TF, XLA and TFLite kernels. x != x is the NaN test that converts to a
        # TFLite builtin (NOT_EQUAL; there is no IS_NAN). The strided slices
        # and selects are TFLite builtins and compile under XLA; without XLA
        # this is 3 cheap ops per element on quarter-size tensors, where a
        # space_to_depth + reductions formulation took 4x longer on CPU.
        # The gradient of the selects goes to the chosen element only.
        # space_to_depth's depth index is (dy*k + dx)*C + c: one contiguous
        # block per window element (strided slices of the image are 2x slower).
        channels = inputs.shape[-1]
        windows = tf.reshape(tf.nn.space_to_depth(inputs, k), [-1, out_h, out_w, k * k, channels])
        elements = tf.unstack(windows, axis=3)
        pooled = elements[0]
        switches = tf.zeros_like(pooled, "int32")
        for s, candidate in enumerate(elements[1:], start=1):
            takes = tf.greater(candidate, pooled)
            if inputs.dtype.is_floating:
                takes = tf.logical_or(takes, tf.not_equal(candidate, candidate))
            pooled = tf.where(takes, candidate, pooled)
            switches = tf.where(takes, tf.constant(s, "int32"), switches)
        return pooled, switches

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding})
        return config
