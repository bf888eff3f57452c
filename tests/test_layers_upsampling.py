"""BilinearUpsampling2DTranspose, PadToMultiple and CropToReference.

The shared layer helper runs on them in tests/test_layers_sweep.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.initializers import BilinearKernel, bilinear_kernel_1d
from keras_segattn.layers import BilinearUpsampling2DTranspose, CropToReference, PadToMultiple


def bilinear_weight(i, size):
    """The bilinear formula written out: 1 - |i - c| / f for a kernel of ``size`` taps."""
    f = np.ceil(size / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    return 1 - abs(i / f - c)


@pytest.mark.parametrize("factor", [2, 3, 4, 8, 32])
def test_kernel_is_the_bilinear_formula(factor):
    size = 2 * factor - factor % 2
    expected = np.array([bilinear_weight(i, size) for i in range(size)])
    np.testing.assert_allclose(bilinear_kernel_1d(size), expected, atol=1e-12)
    kernel = BilinearKernel()((size, size, 3, 2)).numpy()
    np.testing.assert_allclose(kernel[:, :, 1, 1], np.outer(expected, expected), atol=1e-6)
    assert not kernel[:, :, 0, 1].any() and not kernel[:, :, 2, :].any()


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_upsamples_smooth_image_like_bilinear_resize(factor):
    h, w = 12, 10
    yy, xx = np.mgrid[0:h, 0:w].astype("float32")
    image = np.stack([np.sin(yy / 3) + np.cos(xx / 4), 0.1 * yy * xx], -1)[None]
    up = BilinearUpsampling2DTranspose(2, factor)(image).numpy()
    ref = tf.image.resize(image, (h * factor, w * factor), "bilinear").numpy()
    assert up.shape == ref.shape
    m = 2 * factor  # border pixels see the transposed convolution's zero padding
    np.testing.assert_allclose(up[:, m:-m, m:-m], ref[:, m:-m, m:-m], atol=1e-5)


def test_constant_image_stays_constant_inside():
    up = BilinearUpsampling2DTranspose(1, 4)(np.full((1, 8, 8, 1), 5.0, "float32")).numpy()
    np.testing.assert_allclose(up[0, 4:-4, 4:-4, 0], 5.0, atol=1e-5)


def test_pad_and_crop_roundtrip():
    x = np.random.default_rng(1).normal(size=(2, 50, 37, 3)).astype("float32")
    padded = PadToMultiple(16)(x).numpy()
    assert padded.shape == (2, 64, 48, 3)
    np.testing.assert_array_equal(padded[:, :50, :37], x)
    assert not padded[:, 50:].any() and not padded[:, :, 37:].any()
    np.testing.assert_array_equal(CropToReference()([padded, x]).numpy(), x)


def test_errors():
    with pytest.raises(ValueError, match="factor must be a positive int, received 0"):
        BilinearUpsampling2DTranspose(3, 0)
    with pytest.raises(ValueError, match="filters must be a positive int, received -1"):
        BilinearUpsampling2DTranspose(-1, 2)
    with pytest.raises(ValueError, match="multiple must be a positive int, received 2.5"):
        PadToMultiple(2.5)
    with pytest.raises(ValueError, match="reference height 9 is larger than x's 8; it can only crop"):
        CropToReference()([np.zeros((1, 8, 8, 1)), np.zeros((1, 9, 8, 1))])
    with pytest.raises(ValueError, match="BilinearKernel: shape must be"):
        BilinearKernel()((3, 4, 1, 1))
