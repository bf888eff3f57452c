"""DRAW's Gaussian filterbank, read and write against a direct NumPy transcription of eqs. 19-29."""

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.layers import GaussianFilterbank, GaussianRead, GaussianWrite


def numpy_filterbank(params, n, height, width):
    """Gregor et al. 2015, eqs. 21-26, one example and one filter at a time."""
    fx = np.zeros((len(params), n, width))
    fy = np.zeros((len(params), n, height))
    gammas = np.zeros((len(params), 1))
    for b, (gx_, gy_, log_sigma2, log_delta_, log_gamma) in enumerate(np.asarray(params, np.float64)):
        gx = (width + 1) / 2 * (gx_ + 1)
        gy = (height + 1) / 2 * (gy_ + 1)
        delta = (max(height, width) - 1) / (n - 1) * np.exp(log_delta_)
        sigma2 = np.exp(log_sigma2)
        for i in range(1, n + 1):
            mu_x = gx + (i - n / 2 - 0.5) * delta
            mu_y = gy + (i - n / 2 - 0.5) * delta
            row_x = [np.exp(-((a - mu_x) ** 2) / (2 * sigma2)) for a in range(1, width + 1)]
            row_y = [np.exp(-((y - mu_y) ** 2) / (2 * sigma2)) for y in range(1, height + 1)]
            fx[b, i - 1] = np.array(row_x) / sum(row_x)
            fy[b, i - 1] = np.array(row_y) / sum(row_y)
        gammas[b, 0] = np.exp(log_gamma)
    return fx, fy, gammas


PARAMS = np.array(
    [[0.0, 0.0, 0.0, 0.0, 0.0], [0.3, -0.6, 1.2, -0.4, 0.5], [-0.8, 0.9, -1.5, 0.3, -0.7]], np.float32
)


@pytest.mark.parametrize("n, height, width", [(3, 9, 9), (5, 12, 7), (2, 6, 11)])
def test_filterbank_matches_the_equations(n, height, width):
    got = GaussianFilterbank(n, (height, width))(PARAMS)
    for g, r, what in zip(got, numpy_filterbank(PARAMS, n, height, width), ("Fx", "Fy", "gamma")):
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-5, atol=1e-6, err_msg=what)


def test_centre_of_zero_params_is_the_image_centre():
    fx, fy, _ = (np.asarray(t) for t in GaussianFilterbank(1, (9, 9))(np.zeros((1, 5), np.float32)))
    # one filter with sigma 1 on pixels 1..9: its mean is pixel 5 (index 4), the centre
    assert fx[0, 0].argmax() == 4 and fy[0, 0].argmax() == 4
    np.testing.assert_allclose((fx[0, 0] * np.arange(1, 10)).sum(), 5.0, atol=1e-5)


def test_unit_stride_tiny_variance_reads_the_image_back():
    # delta~ = 1 spaces N = 8 filters 1 pixel apart over an 8-pixel image; sigma^2 = e^-9 makes them pixels.
    image = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    params = np.array([[0.0, 0.0, -9.0, 0.0, 0.0]] * 2, np.float32)
    filters = GaussianFilterbank(8, (8, 8))(params)
    np.testing.assert_allclose(np.asarray(GaussianRead()([image, *filters])), image, atol=1e-5)
    np.testing.assert_allclose(np.asarray(GaussianWrite()([image, *filters])), image, atol=1e-5)


def test_read_and_write_match_the_equations_and_are_adjoint():
    rng = np.random.default_rng(1)
    n, height, width = 4, 10, 7
    fx, fy, gamma = numpy_filterbank(PARAMS, n, height, width)
    image = rng.normal(size=(3, height, width)).astype(np.float32)
    patch = rng.normal(size=(3, n, n)).astype(np.float32)
    filters = GaussianFilterbank(n, (height, width))(PARAMS)
    read = np.asarray(GaussianRead()([image, *filters]))
    write = np.asarray(GaussianWrite()([patch, *filters]))
    expected_read = np.stack([gamma[b, 0] * fy[b] @ image[b] @ fx[b].T for b in range(3)])  # eq. 27
    expected_write = np.stack([fy[b].T @ patch[b] @ fx[b] / gamma[b, 0] for b in range(3)])  # eq. 29
    np.testing.assert_allclose(read, expected_read, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(write, expected_write, rtol=1e-4, atol=1e-5)
    # <read(x), w> = gamma^2 <x, write(w)>: write is read's transpose up to the intensities
    lhs = (read * patch).sum(axis=(1, 2))
    rhs = gamma[:, 0] ** 2 * (image * write).sum(axis=(1, 2))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


def test_channels_are_read_with_the_same_filters():
    rng = np.random.default_rng(2)
    image = rng.normal(size=(3, 6, 6, 2)).astype(np.float32)
    filters = GaussianFilterbank(3, (6, 6))(PARAMS)
    both = np.asarray(GaussianRead()([image, *filters]))
    for c in range(2):
        np.testing.assert_allclose(both[..., c], np.asarray(GaussianRead()([image[..., c], *filters])), atol=1e-6)


def test_extreme_params_give_finite_filters_and_gradients():
    params = tf.constant([[50.0, -50.0, 80.0, 80.0, 80.0], [0.0, 0.0, -80.0, -80.0, -80.0], [1e4, 1e4, 0, 0, 0]])
    image = tf.ones((3, 6, 6))
    with tf.GradientTape() as tape:
        tape.watch(params)
        filters = GaussianFilterbank(3, (6, 6))(params)
        out = GaussianRead()([image, *filters]) + tf.reduce_sum(GaussianWrite()([tf.ones((3, 3, 3)), *filters]))
    assert np.all(np.isfinite(out.numpy()))
    assert np.all(np.isfinite(tape.gradient(out, params).numpy()))


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda: GaussianFilterbank(0, (6, 6)), "glimpse_size"),
        (lambda: GaussianFilterbank(3, (6, 0)), "image_size"),
        (lambda: GaussianFilterbank(3, (6, 6))(np.zeros((2, 4), np.float32)), "params"),
        (lambda: GaussianRead()([np.zeros((1, 5, 6), np.float32), *GaussianFilterbank(3, (6, 6))(np.zeros((1, 5), np.float32))]),
         "images"),
        (lambda: GaussianWrite()([np.zeros((1, 2, 2), np.float32), *GaussianFilterbank(3, (6, 6))(np.zeros((1, 5), np.float32))]),
         "patch"),
        (lambda: GaussianRead()([np.zeros((1, 6, 6), np.float32)]), "inputs"),
    ],
)
def test_bad_input_names_the_argument(call, expected):
    with pytest.raises(ValueError, match=expected):
        call()
