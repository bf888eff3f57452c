"""Unpooling that puts each value back where its maximum came from."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers._utils import normalize_square_pool_size


@keras.saving.register_keras_serializable(package="keras_segattn")
class MaxUnpooling2D(keras.layers.Layer):
    """Inverse of :class:`MaxPoolingWithArgmax2D` ("unpooling" with switches).

    DeconvNet (Noh, Hong & Han, ICCV 2015) reconstructs object boundaries by
    placing every activation back at the position its max-pooling recorded,
    with zeros elsewhere, before densifying the sparse map with transposed
    convolutions. This layer does that with one-hot masks and
    ``depth_to_space``: it compiles under XLA and converts to TFLite builtins
    and ONNX (no ``scatter_nd``, no Flex ops).

    Call it on ``[pooled, switches]`` to get a ``(batch, h * k, w * k, C)``
    tensor, or on ``[pooled, switches, reference]`` to get the spatial size of
    ``reference`` (the tensor that was pooled): trailing rows/columns are
    zero-filled (``padding="valid"`` pooling of odd sizes) or cropped
    (``padding="same"``), so odd sizes round-trip.

    Only the switch position receives the value; the other positions are
    exact zeros even when the value is NaN or infinite (a multiplication by a
    one-hot mask would spread ``NaN`` and turn ``inf * 0`` into ``NaN``).

    Switches outside ``[0, pool_size**2)`` raise a ``ValueError`` when the
    layer runs eagerly. Inside a traced graph (``tf.function``, ``model.fit``
    and ``predict``, XLA, SavedModel/TFLite/ONNX exports) nothing is checked,
    to keep the graph free of assertions that XLA and TFLite cannot run: an
    out-of-range switch matches no position and its window comes out as
    zeros.

    Args:
        pool_size: int >= 2 (or square tuple); must equal the pooling layer's.

    Input shape:
        ``pooled``: ``(batch, h, w, C)``; ``switches``: same shape, integer
        window-local indices in ``[0, pool_size**2)``; optional ``reference``:
        ``(batch, H, W, C_any)``.

    Output shape:
        ``(batch, h * k, w * k, C)``, or ``(batch, H, W, C)`` with a reference.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
        >>> x = np.array([[1, 2], [4, 3]], "float32").reshape(1, 2, 2, 1)
        >>> pooled, switches = MaxPoolingWithArgmax2D(2)(x)
        >>> MaxUnpooling2D(2)([pooled, switches]).numpy()[0, :, :, 0].tolist()
        [[0.0, 0.0], [4.0, 0.0]]
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = normalize_square_pool_size(pool_size, "MaxUnpooling2D", minimum=2)

    def _check_inputs(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) not in (2, 3):
            raise ValueError(
                "MaxUnpooling2D: inputs must be a list [pooled, switches] or "
                f"[pooled, switches, reference], received {shapes!r}."
            )
        names = ("pooled", "switches", "reference")
        for name, shape in zip(names, shapes):
            if shape is None or len(shape) != 4:
                raise ValueError(
                    f"MaxUnpooling2D: {name} must have rank 4 (batch, height, width, channels), "
                    f"received shape {shape}."
                )
        pooled, switches = shapes[0], shapes[1]
        for a, b in zip(pooled[1:], switches[1:]):
            if a is not None and b is not None and a != b:
                raise ValueError(
                    "MaxUnpooling2D: switches must have the shape of pooled, received "
                    f"pooled {tuple(pooled)} and switches {tuple(switches)}."
                )

    def build(self, input_shape):
        self._check_inputs(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        b, h, w, c = input_shape[0]
        if len(input_shape) == 3:
            return (b, input_shape[2][1], input_shape[2][2], c)
        k = self.pool_size
        return (b, None if h is None else h * k, None if w is None else w * k, c)

    def call(self, inputs):
        pooled, switches = inputs[0], inputs[1]
        if not switches.dtype.is_integer:
            raise TypeError(
                f"MaxUnpooling2D: switches must be an integer tensor, received dtype {switches.dtype.name}."
            )
        k = self.pool_size
        if tf.executing_eagerly():
            self._check_switch_range(switches)
        channels = pooled.shape[-1]
        shape = tf.shape(pooled)
        batch, height, width = shape[0], shape[1], shape[2]
        iota = tf.reshape(tf.range(k * k, dtype="int32"), [1, 1, k * k, 1])
        switches = tf.reshape(tf.cast(switches, "int32"), [batch, height * width, 1, channels])
        pooled = tf.reshape(pooled, [batch, height * width, 1, channels])
        # Select, not multiply: NaN * 0 and inf * 0 are NaN.
        values = tf.where(tf.equal(iota, switches), pooled, tf.zeros_like(pooled))
        out = tf.nn.depth_to_space(tf.reshape(values, [batch, height, width, k * k * channels]), k)
        if len(inputs) == 3:
            ref = tf.shape(inputs[2])
            out_h, out_w = ref[1], ref[2]
            pad_h = tf.maximum(out_h - height * k, 0)
            pad_w = tf.maximum(out_w - width * k, 0)
            out = tf.pad(out, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
            out = tf.slice(out, [0, 0, 0, 0], [-1, out_h, out_w, -1])
        return out

    def _check_switch_range(self, switches):
        if tf.size(switches) == 0:
            return
        low, high = int(tf.reduce_min(switches)), int(tf.reduce_max(switches))
        kk = self.pool_size * self.pool_size
        if low < 0 or high >= kk:
            raise ValueError(
                f"MaxUnpooling2D: switches must be in [0, {kk}) for pool_size={self.pool_size}, "
                f"received values in [{low}, {high}]."
            )

    def get_config(self):
        config = super().get_config()
        config["pool_size"] = self.pool_size
        return config
