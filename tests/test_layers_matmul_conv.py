"""MatmulConv2D / MatmulConv2DTranspose against the Keras convolutions they replace (same weights)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.layers import MatmulConv2D, MatmulConv2DTranspose


def _pair(ours, reference, shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype("float32")
    reference.build(x.shape)
    reference.set_weights([rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()])
    ours.build(x.shape)
    ours.set_weights(reference.get_weights())
    return x


def _assert_same_outputs_and_gradients(ours, reference, x):
    results = []
    for layer in (ours, reference):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        results.append((y, *tape.gradient(loss, [x, *layer.trainable_weights])))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "shape, kernel, padding",
    [((2, 7, 7, 5), 7, "same"), ((1, 9, 6, 3), (4, 3), "same"), ((3, 6, 8, 4), (2, 3), "valid"), ((1, 5, 5, 2), 1, "same")],
)
def test_matmul_conv2d_equals_conv2d_and_its_gradients(shape, kernel, padding):
    ours = MatmulConv2D(6, kernel, padding=padding, activation="relu")
    reference = keras.layers.Conv2D(6, kernel, padding=padding, activation="relu")
    x = tf.constant(_pair(ours, reference, shape, 0))
    _assert_same_outputs_and_gradients(ours, reference, x)


@pytest.mark.parametrize("shape, kernel", [((2, 1, 1, 8), (7, 5)), ((2, 3, 4, 5), 3), ((3, 6, 2, 4), (2, 3))])
def test_matmul_conv2d_transpose_equals_conv2d_transpose_and_its_gradients(shape, kernel):
    ours = MatmulConv2DTranspose(6, kernel, activation="relu")
    reference = keras.layers.Conv2DTranspose(6, kernel, activation="relu")
    x = tf.constant(_pair(ours, reference, shape, 1))
    _assert_same_outputs_and_gradients(ours, reference, x)


def test_a_keras_layers_config_round_trips():
    for cls, base in ((MatmulConv2D, keras.layers.Conv2D), (MatmulConv2DTranspose, keras.layers.Conv2DTranspose)):
        config = base(3, 2).get_config()
        layer = cls.from_config(config)
        assert layer.get_config()["kernel_size"] == (2, 2) and layer.filters == 3


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: MatmulConv2D(3, 3, strides=2), ["MatmulConv2D", "strides", "received 2"]),
        (lambda: MatmulConv2D(3, 3, dilation_rate=2), ["MatmulConv2D", "dilation_rate", "received 2"]),
        (lambda: MatmulConv2DTranspose(3, 3, padding="same"), ["MatmulConv2DTranspose", "padding", "'same'"]),
        (lambda: MatmulConv2DTranspose(0, 3), ["MatmulConv2DTranspose", "filters", "received 0"]),
    ],
)
def test_other_settings_are_refused_by_name(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value)
