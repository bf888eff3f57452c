"""Fixed (weight-free) bilinear upsampling by an integer factor, optionally cropped to a reference."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_positive_int, check_rank


@keras.saving.register_keras_serializable(package="keras_segattn")
class BilinearUpsampling2D(keras.layers.Layer):
    """Upsample by ``factor`` with bilinear interpolation (half-pixel centres), then crop to a reference.

    ``keras.layers.UpSampling2D(interpolation="bilinear")`` computes the same
    values but needs static spatial sizes (it fails when a SavedModel or
    TFLite signature leaves height/width dynamic). This layer takes the size
    from the tensor at run time, keeps the channel dimension static (so the
    convolutions after it stay plain TF ops in every export), and, called on
    ``[x, reference]``, crops the result top-left to the reference's height
    and width (a map of a stride-``factor`` network with "same" pooling covers
    ``ceil(H / factor) * factor >= H`` pixels). Weight-free: the learnable,
    bilinear-initialised alternative is :class:`BilinearUpsampling2DTranspose`.

    Args:
        factor: positive int.

    Input shape:
        ``x``: ``(batch, h, w, C)``, or ``[x, reference]`` with ``reference``
        ``(batch, H, W, any)``, ``H <= h * factor``, ``W <= w * factor``.

    Output shape:
        ``(batch, h * factor, w * factor, C)``, or ``(batch, H, W, C)`` with a reference.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import BilinearUpsampling2D
        >>> BilinearUpsampling2D(4)([np.zeros((1, 3, 4, 5), "float32"), np.zeros((1, 10, 16, 3))]).shape
        TensorShape([1, 10, 16, 5])
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = check_positive_int("BilinearUpsampling2D", "factor", factor)

    def _split(self, shapes):
        if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
            if len(shapes) != 2:
                raise ValueError(
                    f"BilinearUpsampling2D: inputs must be x or a list [x, reference], received {len(shapes)} inputs."
                )
            x, ref = shapes
            check_rank("BilinearUpsampling2D", "reference", ref, 4, "(batch, height, width, channels)")
        else:
            x, ref = shapes, None
        check_rank("BilinearUpsampling2D", "x", x, 4, "(batch, height, width, channels)")
        if ref is not None:
            for axis, label in ((1, "height"), (2, "width")):
                if x[axis] is not None and ref[axis] is not None and ref[axis] > x[axis] * self.factor:
                    raise ValueError(
                        f"BilinearUpsampling2D: reference {label} {ref[axis]} is larger than the upsampled "
                        f"{label} {x[axis]} * {self.factor}; it can only crop."
                    )
        return tuple(x), None if ref is None else tuple(ref)

    def build(self, input_shape):
        self._split(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        x, ref = self._split(input_shape)
        if ref is not None:
            return (x[0], ref[1], ref[2], x[3])
        return (x[0], *(None if d is None else d * self.factor for d in x[1:3]), x[3])

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, reference = inputs
        else:
            x, reference = inputs, None
        channels = x.shape[-1]
        if self.factor > 1:
            size = tf.shape(x)[1:3] * self.factor
            # float32 in: the half-precision resize gradient mixes float types, which XLA refuses.
            x = tf.image.resize(tf.cast(x, "float32"), size, method="bilinear")
        x = tf.cast(x, self.compute_dtype)
        if reference is not None:
            ref = tf.shape(reference)
            x = x[:, : ref[1], : ref[2], :]
        x.set_shape([None, None, None, channels])
        return x

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config
