"""Initializers (Keras-serialisable)."""

from __future__ import annotations

import keras
import numpy as np


def bilinear_kernel_1d(size: int) -> np.ndarray:
    """1-D tent of an upsampling kernel of ``size`` taps (FCN's ``upsample_filt``).

    With ``size = 2 * f - f % 2`` and stride ``f`` it reproduces half-pixel
    bilinear interpolation (``tf.image.resize(..., "bilinear")``) away from the
    borders.
    """
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    return 1.0 - np.abs(np.arange(size) - center) / factor


@keras.saving.register_keras_serializable(package="keras_segattn")
class BilinearKernel(keras.initializers.Initializer):
    """Transposed-convolution kernel doing per-channel bilinear upsampling.

    Long, Shelhamer & Darrell (FCN, CVPR 2015) initialise their learnable
    upsampling layers to bilinear interpolation. For a kernel of shape
    ``(k, k, out_channels, in_channels)`` (Keras' transposed-convolution
    layout) channel ``i`` maps to channel ``i`` with the separable tent
    ``bilinear_kernel_1d(k)``; other channel pairs start at zero.

    Example:
        >>> from keras_segattn.initializers import BilinearKernel
        >>> BilinearKernel()((4, 4, 1, 1)).numpy()[:, 0, 0, 0].round(4).tolist()
        [0.0625, 0.1875, 0.1875, 0.0625]
    """

    def __call__(self, shape, dtype=None):
        if len(shape) != 4 or shape[0] != shape[1]:
            raise ValueError(
                "BilinearKernel: shape must be (k, k, out_channels, in_channels) with a square "
                f"kernel, received {tuple(shape)}."
            )
        k, _, out_c, in_c = shape
        tent = bilinear_kernel_1d(k)
        kernel = np.zeros(shape, dtype="float32")
        for i in range(min(out_c, in_c)):
            kernel[:, :, i, i] = np.outer(tent, tent)
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}
