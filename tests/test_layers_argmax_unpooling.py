"""MaxPoolingWithArgmax2D / MaxUnpooling2D against tf.nn.max_pool_with_argmax.

The shared layer helper runs on them in tests/test_layers_sweep.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D


def reference_unpool(x, padding):
    """Unpooling built on the op we replace: scatter the pooled values at TF's argmax."""
    pooled, argmax = tf.nn.max_pool_with_argmax(
        x, ksize=2, strides=2, padding=padding.upper(), include_batch_in_index=True
    )
    flat = tf.scatter_nd(
        tf.reshape(argmax, [-1, 1]), tf.reshape(pooled, [-1]), [int(np.prod(x.shape))]
    )
    return pooled.numpy(), argmax.numpy(), tf.reshape(flat, x.shape).numpy()


def switches_to_tf_argmax(switches, input_shape, k=2):
    """Our window-local switches -> TF's flat ((b*H + y)*W + x)*C + c indices."""
    b, h, w, c = input_shape
    bi, yi, xi, ci = np.indices(switches.shape)
    y = yi * k + switches // k
    x = xi * k + switches % k
    return ((bi * h + y) * w + x) * c + ci


INPUTS = {
    "random": lambda rng, s: rng.normal(size=s).astype("float32"),
    "ties": lambda rng, s: rng.integers(0, 2, size=s).astype("float32"),
    "constant": lambda rng, s: np.ones(s, "float32"),
}


@pytest.mark.parametrize("kind", sorted(INPUTS))
@pytest.mark.parametrize(
    "shape,padding",
    [((2, 8, 8, 3), "valid"), ((2, 7, 9, 4), "valid"), ((2, 7, 9, 4), "same"), ((1, 1, 1, 2), "same")],
)
def test_matches_tf_max_pool_with_argmax(kind, shape, padding):
    rng = np.random.default_rng(0)
    x = INPUTS[kind](rng, shape)
    pooled_ref, argmax_ref, unpooled_ref = reference_unpool(x, padding)
    pooled, switches = MaxPoolingWithArgmax2D(2, padding=padding)(x)
    np.testing.assert_array_equal(pooled.numpy(), pooled_ref)
    np.testing.assert_array_equal(switches_to_tf_argmax(switches.numpy(), shape), argmax_ref)
    unpooled = MaxUnpooling2D(2)([pooled, switches, x]).numpy()
    np.testing.assert_array_equal(unpooled, unpooled_ref)
    assert switches.dtype == tf.int32


def test_odd_sizes_documented_behaviour():
    x = np.arange(1, 50, dtype="float32").reshape(1, 7, 7, 1)
    # valid: the last row/column is never pooled; with a reference it comes back as zeros.
    pooled, switches = MaxPoolingWithArgmax2D(2, padding="valid")(x)
    assert pooled.shape == (1, 3, 3, 1)
    assert MaxUnpooling2D(2)([pooled, switches]).shape == (1, 6, 6, 1)
    restored = MaxUnpooling2D(2)([pooled, switches, x]).numpy()
    assert restored.shape == (1, 7, 7, 1)
    assert not restored[0, 6, :, 0].any() and not restored[0, :, 6, 0].any()
    # same: the padding never wins and is cropped away by the reference.
    pooled, switches = MaxPoolingWithArgmax2D(2, padding="same")(x)
    assert pooled.shape == (1, 4, 4, 1)
    restored = MaxUnpooling2D(2)([pooled, switches, x]).numpy()
    assert restored[0, 6, 6, 0] == 49.0


def test_larger_pool_size_roundtrip():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9, 9, 3)).astype("float32")
    pooled, switches = MaxPoolingWithArgmax2D(3)(x)
    expected = tf.nn.max_pool2d(x, 3, 3, "VALID").numpy()
    np.testing.assert_array_equal(pooled.numpy(), expected)
    unpooled = MaxUnpooling2D(3)([pooled, switches]).numpy()
    windows = unpooled.reshape(2, 3, 3, 3, 3, 3)
    # Exactly one position per window holds the pooled value, the rest are zeros.
    assert ((windows != 0).sum(axis=(2, 4)) <= 1).all()
    np.testing.assert_array_equal(windows.sum(axis=(2, 4)), expected)


def test_gradient_goes_to_the_switch_like_max_pool():
    x = tf.constant(np.array([[1, 3], [3, 0]], "float32").reshape(1, 2, 2, 1))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = MaxPoolingWithArgmax2D(2)(x)[0]
        ref = tf.nn.max_pool2d(x, 2, 2, "VALID")
    np.testing.assert_array_equal(tape.gradient(ours, x).numpy(), tape.gradient(ref, x).numpy())


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_xla_equals_eager(padding):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=(2, 10, 11, 3)).astype("float32")
    pool, unpool = MaxPoolingWithArgmax2D(2, padding=padding), MaxUnpooling2D(2)

    def fn(t):
        p, s = pool(t)
        return unpool([p, s, t])

    np.testing.assert_array_equal(tf.function(fn, jit_compile=True)(x).numpy(), reference_unpool(x, padding)[2])


@pytest.mark.export
def test_tflite_builtins_only_and_litert_parity(tmp_path):
    from keras_segattn.export import tflite

    inp = keras.Input((None, None, 3))
    pooled, switches = MaxPoolingWithArgmax2D(2)(inp)
    x = keras.layers.Conv2D(3, 3, padding="same")(pooled)
    model = keras.Model(inp, MaxUnpooling2D(2)([x, switches, inp]))
    from keras_segattn.export.signature import input_specs, serving_function

    specs = input_specs(model, spatial=(30, 34))
    content = tflite.convert(model, serving_function(model, specs), specs)
    ops = tflite.op_set(content)
    assert ops["flex"] == [] and ops["custom"] == []
    x = np.random.default_rng(5).normal(size=(3, 30, 34, 3)).astype("float32")
    got = tflite.run(content, {specs[0].name: x})
    out = next(iter(got.values()))
    assert np.abs(out - model(x).numpy()).max() <= 1e-5


def test_errors():
    with pytest.raises(ValueError, match=r"pool_size must be an int or a square \(k, k\) tuple, received \(2, 3\)"):
        MaxPoolingWithArgmax2D((2, 3))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same', received 'full'"):
        MaxPoolingWithArgmax2D(2, padding="full")
    with pytest.raises(ValueError, match=r"inputs must be of rank 4 \(batch, height, width, channels\), received shape \(2, 4, 4\)"):
        MaxPoolingWithArgmax2D(2)(np.zeros((2, 4, 4), "float32"))
    with pytest.raises(ValueError, match=r"switches must have the shape of pooled, received pooled \(2, 2, 2, 3\) and switches \(2, 2, 2, 4\)"):
        MaxUnpooling2D(2)([np.zeros((2, 2, 2, 3), "float32"), np.zeros((2, 2, 2, 4), "int32")])
    with pytest.raises(ValueError, match=r"inputs must be a list \[pooled, switches\]"):
        MaxUnpooling2D(2)(np.zeros((2, 2, 2, 3), "float32"))
    with pytest.raises(TypeError, match="switches must be an integer tensor, received dtype float32"):
        MaxUnpooling2D(2)([np.zeros((1, 2, 2, 3), "float32"), np.zeros((1, 2, 2, 3), "float32")])
