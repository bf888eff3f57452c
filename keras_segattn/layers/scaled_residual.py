"""Residual sum with a scaled branch: ``shortcut + scale * residual``."""

from __future__ import annotations

import keras

from keras_segattn.validation import check_number, check_rank


@keras.saving.register_keras_serializable(package="keras_segattn")
class ScaledResidual(keras.layers.Layer):
    """``shortcut + scale * residual``: Inception-ResNet's scaled residual connection.

    Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the
    Impact of Residual Connections on Learning", AAAI 2017, section 3.3: with
    more than about 1000 filters the residual variants "died" early in
    training unless the residual branch was scaled down by 0.1-0.3 before the
    addition. Keras Applications' ``InceptionResNetV2`` uses an unregistered
    private layer for this; this one is serialisable, so models that use it
    reload from ``.keras`` files and the scale is an argument.

    Args:
        scale: factor applied to the residual branch (a finite float;
            Inception-ResNet-v2 uses 0.17, 0.1 and 0.2 for its three block types).

    Input shape:
        ``[shortcut, residual]``, two tensors of the same shape.

    Output shape:
        the shape of ``shortcut``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import ScaledResidual
        >>> ScaledResidual(0.1)([np.ones((1, 2, 2, 3)), np.full((1, 2, 2, 3), 10.0)]).numpy()[0, 0, 0]
        array([2., 2., 2.], dtype=float32)
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_number("ScaledResidual", "scale", scale)

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2:
            raise ValueError(
                f"ScaledResidual: inputs must be a list [shortcut, residual], received {shapes!r}."
            )
        shortcut, residual = (tuple(s) for s in shapes)
        check_rank("ScaledResidual", "residual", residual, len(shortcut), f"the rank of shortcut {shortcut}")
        for a, b in zip(shortcut[1:], residual[1:]):
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"ScaledResidual: shortcut and residual must have the same shape, received "
                    f"{shortcut} and {residual}."
                )

    def build(self, input_shape):
        self._check(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(input_shape[0])

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + keras.ops.cast(self.scale, residual.dtype) * residual

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
