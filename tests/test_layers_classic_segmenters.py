"""Numerical references for the classic segmenters' layers: DilatedMaxPooling2D,
ImagePyramid, BilinearUpsampling2D, ConstantPlanes (NumPy, and the TF ops they stand for)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.layers import (
    BilinearUpsampling2D,
    ConstantPlanes,
    DilatedMaxPooling2D,
    ImagePyramid,
)
from keras_segattn.layers.image_pyramid import BINOMIAL_5
from keras_segattn.training import precision_policy


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# ---------------------------------------------------------------- NumPy references
def np_dilated_max_pool(x, k, d):
    span = (k - 1) * d
    h, w = x.shape[1] - span, x.shape[2] - span
    out = np.full((x.shape[0], h, w, x.shape[3]), -np.inf, x.dtype)
    for a in range(k):
        for b in range(k):
            out = np.maximum(out, x[:, a * d : a * d + h, b * d : b * d + w])
    return out


def np_reduce(x):
    """Blur by the separable 5-tap binomial with zero padding, keep even pixels (TF "SAME" stride 2)."""
    for axis in (1, 2):
        n = x.shape[axis]
        out_n = -(-n // 2)
        total = max((out_n - 1) * 2 + 5 - n, 0)
        pad = [(0, 0)] * 4
        pad[axis] = (total // 2, total - total // 2)
        xp = np.pad(x, pad)
        taps = [np.take(xp, np.arange(out_n) * 2 + t, axis=axis) * BINOMIAL_5[t] for t in range(5)]
        x = np.sum(taps, axis=0)
    return x


def np_resize_bilinear(x, out_h, out_w):
    """Bilinear resize with half-pixel centres (``tf.image.resize``'s convention), written out."""

    def weights(in_n, out_n):
        pos = (np.arange(out_n) + 0.5) * in_n / out_n - 0.5
        low = np.floor(pos)
        frac = pos - low
        lo = np.clip(low, 0, in_n - 1).astype(int)
        hi = np.clip(np.ceil(pos), 0, in_n - 1).astype(int)
        return lo, hi, frac

    lo, hi, f = weights(x.shape[1], out_h)
    x = x[:, lo] * (1 - f)[None, :, None, None] + x[:, hi] * f[None, :, None, None]
    lo, hi, f = weights(x.shape[2], out_w)
    return x[:, :, lo] * (1 - f)[None, None, :, None] + x[:, :, hi] * f[None, None, :, None]


# ---------------------------------------------------------------- DilatedMaxPooling2D
@pytest.mark.parametrize("k,d,shape", [(2, 1, (2, 7, 9, 3)), (2, 4, (1, 13, 10, 2)), (3, 2, (2, 11, 12, 1))])
def test_dilated_max_pooling_matches_numpy_and_tf_pool(k, d, shape):
    x = _normal(k * 10 + d, shape)
    out = DilatedMaxPooling2D(k, dilation_rate=d)(x).numpy()
    np.testing.assert_array_equal(out, np_dilated_max_pool(x, k, d))
    natural = tf.nn.pool(x, [k, k], "MAX", padding="VALID", dilations=[d, d]).numpy()
    np.testing.assert_array_equal(out, natural)


def test_dilated_max_pooling_dilation_one_is_stride_one_max_pool():
    x = _normal(3, (2, 6, 5, 4))
    expected = keras.layers.MaxPooling2D(2, strides=1)(x).numpy()
    np.testing.assert_array_equal(DilatedMaxPooling2D(2)(x).numpy(), expected)


def test_dilated_max_pooling_errors():
    with pytest.raises(ValueError, match=r"DilatedMaxPooling2D: dilation_rate must be a positive int, received 0\."):
        DilatedMaxPooling2D(2, dilation_rate=0)
    with pytest.raises(ValueError, match=r"DilatedMaxPooling2D: input height must be > \(pool_size - 1\) \* dilation_rate = 4, received 4\."):
        DilatedMaxPooling2D(2, dilation_rate=4)(np.zeros((1, 4, 9, 1), "float32"))
    with pytest.raises(ValueError, match=r"DilatedMaxPooling2D: inputs must be of rank 4"):
        DilatedMaxPooling2D(2)(np.zeros((4, 9, 1), "float32"))


# ---------------------------------------------------------------- ImagePyramid
@pytest.mark.parametrize("size", [(16, 16), (15, 22), (9, 7)])
def test_gaussian_pyramid_matches_numpy(size):
    x = _normal(1, (2, *size, 3))
    levels = [p.numpy() for p in ImagePyramid(3, mode="gaussian")(x)]
    expected = [x]
    for _ in range(2):
        expected.append(np_reduce(expected[-1]))
    assert [p.shape for p in levels] == [e.shape for e in expected]
    for got, want in zip(levels, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_array_equal(levels[0], x)  # level 0 is the image itself


@pytest.mark.parametrize("size", [(16, 16), (15, 22)])
def test_laplacian_pyramid_band_pass_and_exact_reconstruction(size):
    x = _normal(2, (1, *size, 3))
    gauss = [np.asarray(p) for p in ImagePyramid(3, mode="gaussian")(x)]
    lap = [np.asarray(p) for p in ImagePyramid(3, mode="laplacian")(x)]
    np.testing.assert_array_equal(lap[-1], gauss[-1])  # the coarsest level is the low-pass
    for k in range(2):
        up = np_resize_bilinear(gauss[k + 1], *gauss[k].shape[1:3])
        np.testing.assert_allclose(lap[k], gauss[k] - up, atol=1e-5)
    # Reconstruct the image from the Laplacian levels alone, coarsest first.
    image = lap[-1]
    for k in (1, 0):
        image = lap[k] + np_resize_bilinear(image, *lap[k].shape[1:3])
    np.testing.assert_allclose(image, x, atol=1e-4)
    # A constant image has no band-pass content (away from the zero-padded border).
    flat = np.asarray(ImagePyramid(2)(np.full((1, 32, 32, 1), 5.0, "float32"))[0])
    np.testing.assert_allclose(flat[0, 8:-8, 8:-8], 0.0, atol=1e-5)


def test_image_pyramid_errors():
    with pytest.raises(ValueError, match=r"ImagePyramid: mode must be one of 'laplacian', 'gaussian', received 'steerable'\."):
        ImagePyramid(3, mode="steerable")
    with pytest.raises(ValueError, match=r"ImagePyramid: levels must be a positive int, received 0\."):
        ImagePyramid(0)


# ---------------------------------------------------------------- BilinearUpsampling2D
@pytest.mark.parametrize("factor", [1, 2, 4])
def test_bilinear_upsampling_matches_numpy_and_keras_upsampling(factor):
    x = _normal(factor, (2, 3, 5, 4))
    out = BilinearUpsampling2D(factor)(x).numpy()
    np.testing.assert_allclose(out, np_resize_bilinear(x, 3 * factor, 5 * factor), atol=1e-5)
    if factor > 1:
        natural = keras.layers.UpSampling2D(factor, interpolation="bilinear")(x).numpy()
        np.testing.assert_allclose(out, natural, atol=1e-6)
    ref = np.zeros((2, 3 * factor - factor + 1, 5 * factor - 1, 1), "float32")
    cropped = BilinearUpsampling2D(factor)([x, ref]).numpy()
    np.testing.assert_array_equal(cropped, out[:, : ref.shape[1], : ref.shape[2]])


def test_bilinear_upsampling_runs_with_dynamic_sizes_in_a_graph():
    # keras.layers.UpSampling2D(interpolation="bilinear") cannot trace this signature.
    layer = BilinearUpsampling2D(4)
    fn = tf.function(lambda x, r: layer([x, r]), input_signature=[
        tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((None, None, None, 1))])
    out = fn(_normal(0, (1, 3, 4, 3)), np.zeros((1, 10, 13, 1), "float32"))
    assert out.shape == (1, 10, 13, 3)
    assert fn.get_concrete_function().structured_outputs.shape[-1] == 3  # channels stay static


def test_bilinear_upsampling_errors():
    with pytest.raises(ValueError, match=r"BilinearUpsampling2D: factor must be a positive int, received 0\."):
        BilinearUpsampling2D(0)
    with pytest.raises(ValueError, match=r"BilinearUpsampling2D: reference width 13 is larger than the upsampled width 3 \* 4; it can only crop\."):
        BilinearUpsampling2D(4)([keras.Input((3, 3, 2)), keras.Input((12, 13, 1))])


# ---------------------------------------------------------------- ConstantPlanes
def test_constant_planes_values_shape_dtype():
    x = _normal(0, (2, 5, 7, 3))
    out = ConstantPlanes(4, value=0.25)(x).numpy()
    assert out.shape == (2, 5, 7, 4)
    np.testing.assert_array_equal(out, np.full((2, 5, 7, 4), 0.25, "float32"))
    with precision_policy("mixed_float16"):
        assert ConstantPlanes(2)(x).dtype == "float16"


def test_constant_planes_errors():
    with pytest.raises(ValueError, match=r"ConstantPlanes: channels must be a positive int, received 0\."):
        ConstantPlanes(0)
    with pytest.raises(ValueError, match=r"ConstantPlanes: value must be a finite number, received nan\."):
        ConstantPlanes(2, value=float("nan"))
