"""Property-based tests of the public layers' shape contracts (hypothesis).

Random valid shapes must give the documented output shape (eager == ``compute_output_shape``);
invalid arguments must fail with the documented ``ValueError``. Every test is
derandomized (the same examples on every run: a test that can fail by chance is a bug)
and small enough that the file runs in seconds on 2 cores.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_segattn.layers import (
    AffineGridGenerator,
    BahdanauAttention,
    BilinearUpsampling2D,
    CropToReference,
    LuongAttention,
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
    PadToMultiple,
    SpatialTransformer,
)

FAST = settings(max_examples=20, deadline=None, derandomize=True, database=None)
FEW = settings(max_examples=8, deadline=None, derandomize=True, database=None)

size = st.integers(1, 9)
channels = st.integers(1, 3)
batch = st.integers(1, 2)


def _normal(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _shape(t):
    return tuple(int(d) for d in t.shape)


# ------------------------------------------------------------ argmax pooling / unpooling
@FAST
@given(b=batch, h=size, w=size, c=channels, k=st.integers(2, 3), padding=st.sampled_from(["valid", "same"]))
def test_pool_unpool_round_trip_shapes(b, h, w, c, k, padding):
    if padding == "valid" and (h < k or w < k):
        h, w = h + k, w + k  # valid pooling needs a full window
    x = _normal((b, h, w, c))
    pool = MaxPoolingWithArgmax2D(k, padding=padding)
    pooled, switches = pool(x)
    out = (lambda n: -(-n // k)) if padding == "same" else (lambda n: n // k)
    assert _shape(pooled) == _shape(switches) == (b, out(h), out(w), c)
    assert tuple(pool.compute_output_shape(x.shape)[0]) == (b, out(h), out(w), c)
    unpool = MaxUnpooling2D(k)
    assert _shape(unpool([pooled, switches])) == (b, out(h) * k, out(w) * k, c)
    restored = unpool([pooled, switches, x])
    assert _shape(restored) == x.shape
    # Every pooled maximum goes back to one position of its window, the rest are zeros.
    np.testing.assert_allclose(np.sort(np.asarray(restored)[np.asarray(restored) != 0]),
                               np.sort(np.asarray(pooled)[np.asarray(pooled) != 0]), rtol=1e-6)


@FAST
@given(pool_size=st.one_of(st.integers(-3, 1), st.tuples(st.integers(1, 3), st.integers(4, 6)), st.just(True)))
def test_invalid_pool_size_is_refused(pool_size):
    for layer in (MaxPoolingWithArgmax2D, MaxUnpooling2D):
        with pytest.raises(ValueError, match=f"{layer.__name__}: pool_size must be") as error:
            layer(pool_size)
        assert f"received {pool_size!r}" in str(error.value)


# ------------------------------------------------------------ resizing layers
@FAST
@given(b=batch, h=size, w=size, c=channels, factor=st.integers(1, 4), crop=st.booleans())
def test_bilinear_upsampling_shape(b, h, w, c, factor, crop):
    x = _normal((b, h, w, c))
    layer = BilinearUpsampling2D(factor)
    if crop:
        reference = np.zeros((b, max(1, h * factor - 1), max(1, w * factor - 1), 1), "float32")
        assert _shape(layer([x, reference])) == (b, reference.shape[1], reference.shape[2], c)
    else:
        assert _shape(layer(x)) == (b, h * factor, w * factor, c)
        assert tuple(layer.compute_output_shape(x.shape)) == (b, h * factor, w * factor, c)


@FAST
@given(b=batch, h=size, w=size, dh=st.integers(0, 4), dw=st.integers(0, 4), c=channels)
def test_crop_to_reference_shape_and_refusal(b, h, w, dh, dw, c):
    x = _normal((b, h + dh, w + dw, c))
    reference = np.zeros((b, h, w, 1), "float32")
    out = CropToReference()([x, reference])
    assert _shape(out) == (b, h, w, c)
    np.testing.assert_array_equal(np.asarray(out), x[:, :h, :w])
    if dh or dw:  # a reference larger than x cannot be cropped to
        with pytest.raises(ValueError, match="CropToReference: reference (height|width) .* is larger than x's"):
            CropToReference()([np.zeros((b, h, w, c), "float32"), np.zeros((b, h + dh, w + dw, 1), "float32")])


@FAST
@given(b=batch, h=size, w=size, c=channels, multiple=st.integers(1, 8))
def test_pad_to_multiple(b, h, w, c, multiple):
    x = _normal((b, h, w, c)) + 10.0
    out = np.asarray(PadToMultiple(multiple)(x))
    up = lambda n: -(-n // multiple) * multiple  # noqa: E731
    assert out.shape == (b, up(h), up(w), c)
    np.testing.assert_array_equal(out[:, :h, :w], x)
    assert not out[:, h:].any() and not out[:, :, w:].any()


@FAST
@given(multiple=st.one_of(st.integers(-5, 0), st.just(True), st.floats(allow_nan=True)))
def test_pad_to_multiple_refuses_invalid(multiple):
    with pytest.raises(ValueError, match="PadToMultiple: multiple must be a positive int, received"):
        PadToMultiple(multiple)


# ------------------------------------------------------------ attention
@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # a 1-step source is valid
@FAST
@given(b=batch, steps=st.one_of(st.none(), st.integers(1, 3)), source=st.integers(1, 5),
       dq=st.integers(1, 5), dv=st.integers(1, 5), units=st.integers(1, 4),
       kind=st.sampled_from(["bahdanau", "dot", "general", "concat"]))
def test_attention_output_shapes(b, steps, source, dq, dv, units, kind):
    if kind == "dot":
        dq = dv
    query = _normal((b, dq) if steps is None else (b, steps, dq), 1)
    values = _normal((b, source, dv), 2)
    layer = (BahdanauAttention(units) if kind == "bahdanau"
             else LuongAttention(kind, units=units if kind == "concat" else None))
    context, weights = layer(query, values)
    lead = (b,) if steps is None else (b, steps)
    assert _shape(context) == (*lead, dv) and _shape(weights) == (*lead, source)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, rtol=1e-5)
    expected = layer.compute_output_shape(query.shape, values.shape)
    assert tuple(expected[0]) == (*lead, dv) and tuple(expected[1]) == (*lead, source)


@FEW
@given(dq=st.integers(1, 5), dv=st.integers(1, 5))
def test_luong_dot_needs_equal_sizes(dq, dv):
    if dq == dv:
        dv += 1
    with pytest.raises(ValueError, match=rf"query size {dq} must equal the values size {dv}"):
        LuongAttention("dot")(_normal((2, dq)), _normal((2, 3, dv)))


# ------------------------------------------------------------ spatial transformer
@FEW
@given(b=batch, h=st.integers(2, 8), w=st.integers(2, 8), c=channels, oh=st.integers(1, 7), ow=st.integers(1, 7),
       transform=st.sampled_from(["affine", "projective", "tps"]))
def test_spatial_transformer_output_size(b, h, w, c, oh, ow, transform):
    import keras

    layer = SpatialTransformer((oh, ow), transform=transform, control_grid=(2, 2),
                               localization=keras.layers.GlobalAveragePooling2D())
    out = layer(_normal((b, h, w, c)))
    assert _shape(out) == (b, oh, ow, c)
    assert tuple(layer.compute_output_shape((b, h, w, c))) == (b, oh, ow, c)


@FAST
@given(oh=st.integers(1, 9), ow=st.integers(1, 9))
def test_affine_grid_output_size(oh, ow):
    grid = AffineGridGenerator((oh, ow))(np.tile(np.array([[1, 0, 0, 0, 1, 0]], "float32"), (2, 1)))
    assert _shape(grid) == (2, oh, ow, 2)
    assert float(np.abs(np.asarray(grid)).max()) <= 1.0 + 1e-6


@FAST
@given(output_size=st.one_of(st.tuples(st.integers(-3, 0), st.integers(1, 4)), st.tuples(st.integers(1, 4)),
                             st.just((True, 4)), st.just("ab")))
def test_invalid_output_size_is_refused(output_size):
    for layer in (AffineGridGenerator, SpatialTransformer):
        with pytest.raises(ValueError, match="output_size must be"):
            layer(output_size)
