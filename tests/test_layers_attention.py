"""Soft attention layers (Bahdanau, Luong), Maxout and the attention GRU decoder.

Checked against NumPy re-implementations of the papers' equations, against
Keras' own ``AdditiveAttention`` / ``Attention`` where the math coincides. The
shared layer helper runs on them in tests/test_layers_sweep.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.layers import (
    AttentionGRUDecoder,
    BahdanauAttention,
    LuongAttention,
    Maxout,
)


# ------------------------------------------------------------------ references
def np_softmax_masked(scores, mask):
    """Softmax over the last axis restricted to ``mask``; all-masked rows -> zeros."""
    scores = np.asarray(scores, np.float64)
    if mask is None:
        mask = np.ones(scores.shape[-1:], bool)
    mask = np.broadcast_to(mask.astype(bool), scores.shape)
    shifted = np.where(mask, scores, -np.inf)
    top = np.max(shifted, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.where(mask, np.exp(shifted - top), 0.0)
    total = exp.sum(-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def np_bahdanau(query, values, mask, W, U, v):
    """e_ij = v^T tanh(W s_i + U h_j); alpha = masked softmax_j; c_i = sum_j alpha_ij h_j."""
    q = np.atleast_3d(query[:, None] if query.ndim == 2 else query) @ W  # (B, Tq, A)
    k = values @ U  # (B, S, A)
    scores = np.tanh(q[:, :, None, :] + k[:, None, :, :]) @ v  # (B, Tq, S)
    m = None if mask is None else mask[:, None, :]
    weights = np_softmax_masked(scores, m)
    context = weights @ values
    if query.ndim == 2:
        return context[:, 0], weights[:, 0]
    return context, weights


def np_luong(query, values, mask, score, Wa=None, W1=None, W2=None, v=None):
    q = query[:, None] if query.ndim == 2 else query
    if score == "dot":
        scores = q @ values.transpose(0, 2, 1)
    elif score == "general":
        scores = q @ (values @ Wa).transpose(0, 2, 1)
    else:
        scores = np.tanh((q @ W1)[:, :, None, :] + (values @ W2)[:, None, :, :]) @ v
    m = None if mask is None else mask[:, None, :]
    weights = np_softmax_masked(scores, m)
    context = weights @ values
    if query.ndim == 2:
        return context[:, 0], weights[:, 0]
    return context, weights


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gru_step(x, h, kernel, recurrent, bias):
    """Keras GRUCell with reset_after=False (the paper's GRU): gates z, r, candidate."""
    units = h.shape[-1]
    xz, xr, xh = np.split(x @ kernel + bias, 3, axis=-1)
    uz, ur, uh = np.split(recurrent, 3, axis=-1)
    z = np_sigmoid(xz + h @ uz)
    r = np_sigmoid(xr + h @ ur)
    cand = np.tanh(xh + (r * h) @ uh)
    assert cand.shape[-1] == units
    return z * h + (1 - z) * cand


# ---------------------------------------------------------------------- data
def make_inputs(batch=3, steps=None, query_dim=5, source=6, value_dim=4, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, query_dim) if steps is None else (batch, steps, query_dim)
    query = rng.normal(size=shape).astype("float32")
    values = rng.normal(size=(batch, source, value_dim)).astype("float32")
    lengths = rng.integers(1, source + 1, batch)
    lengths[0] = 2
    mask = (np.arange(source)[None] < lengths[:, None]).astype("float32")
    return query, values, mask


def weights_of(layer, name):
    for w in layer.weights:
        if w.path.endswith(name):
            return w.numpy().astype(np.float64)
    raise KeyError(f"{name} not in {[w.path for w in layer.weights]}")


# ------------------------------------------------------------------ Bahdanau
@pytest.mark.parametrize("steps", [None, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_bahdanau_matches_numpy(steps, masked):
    query, values, mask = make_inputs(steps=steps)
    layer = BahdanauAttention(7)
    context, weights = layer(query, values, mask=mask if masked else None)
    W = weights_of(layer, "query_projection/kernel")
    U = weights_of(layer, "key_projection/kernel")
    v = weights_of(layer, "score/scale")
    ref_context, ref_weights = np_bahdanau(query, values, mask if masked else None, W, U, v)
    np.testing.assert_allclose(weights.numpy(), ref_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context.numpy(), ref_context, rtol=1e-5, atol=1e-6)


def test_bahdanau_equals_keras_additive_attention_with_identity_projections():
    """With W = U = I the score is Keras' AdditiveAttention: v^T tanh(q + k)."""
    query, values, mask = make_inputs(steps=4, query_dim=4, value_dim=4)
    keras_layer = keras.layers.AdditiveAttention(use_scale=True)
    expected, expected_weights = keras_layer(
        [query, values], mask=[None, mask.astype(bool)], return_attention_scores=True
    )
    layer = BahdanauAttention(4)
    layer(query, values)
    layer.query_projection.kernel.assign(np.eye(4, dtype="float32"))
    layer.key_projection.kernel.assign(np.eye(4, dtype="float32"))
    layer.score.scale.assign(keras_layer.scale.numpy())
    context, weights = layer(query, values, mask=mask)
    np.testing.assert_allclose(weights.numpy(), expected_weights.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(context.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------- Luong
@pytest.mark.parametrize("score", ["dot", "general", "concat"])
@pytest.mark.parametrize("steps", [None, 3])
def test_luong_matches_numpy(score, steps):
    dim = 4 if score == "dot" else 5
    query, values, mask = make_inputs(steps=steps, query_dim=dim, value_dim=4)
    layer = LuongAttention(score, units=6 if score == "concat" else None)
    context, weights = layer(query, values, mask=mask)
    kwargs = {}
    if score == "general":
        kwargs["Wa"] = weights_of(layer, "key_projection/kernel")  # (value_dim, query_dim)
    if score == "concat":
        kwargs.update(
            W1=weights_of(layer, "query_projection/kernel"),
            W2=weights_of(layer, "key_projection/kernel"),
            v=weights_of(layer, "score/scale"),
        )
    ref_context, ref_weights = np_luong(query, values, mask, score, **kwargs)
    np.testing.assert_allclose(weights.numpy(), ref_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context.numpy(), ref_context, rtol=1e-5, atol=1e-6)


def test_luong_dot_equals_keras_attention():
    query, values, mask = make_inputs(steps=3, query_dim=4, value_dim=4)
    expected, expected_weights = keras.layers.Attention(score_mode="dot")(
        [query, values], mask=[None, mask.astype(bool)], return_attention_scores=True
    )
    context, weights = LuongAttention("dot")(query, values, mask=mask)
    np.testing.assert_allclose(weights.numpy(), expected_weights.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(context.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_luong_general_with_identity_is_dot():
    query, values, mask = make_inputs(steps=3, query_dim=4, value_dim=4)
    general = LuongAttention("general")
    general(query, values)
    general.key_projection.kernel.assign(np.eye(4, dtype="float32"))
    a = general(query, values, mask=mask)
    b = LuongAttention("dot")(query, values, mask=mask)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------- mask contract
def _layers():
    return {
        "bahdanau": lambda: BahdanauAttention(6),
        "luong_dot": lambda: LuongAttention("dot"),
        "luong_general": lambda: LuongAttention("general"),
        "luong_concat": lambda: LuongAttention("concat", units=5),
    }


@pytest.mark.parametrize("kind", sorted(_layers()))
def test_masked_weights_exactly_zero_rest_sums_to_one(kind):
    rng = np.random.default_rng(3)
    query = rng.normal(size=(8, 2, 4)).astype("float32") * 4.0  # sharp scores
    values = rng.normal(size=(8, 9, 4)).astype("float32")
    mask = rng.integers(0, 2, (8, 9)).astype(bool)
    mask[0] = False  # an empty source: no valid position
    mask[1] = [True] + [False] * 8
    context, weights = _layers()[kind]()(query, values, mask=mask)
    weights, context = weights.numpy(), context.numpy()
    assert np.all(weights[np.broadcast_to(~mask[:, None, :], weights.shape)] == 0.0)
    sums = weights.sum(-1)
    np.testing.assert_allclose(sums[1:], 1.0, atol=1e-6)
    assert np.all(sums[0] == 0.0) and np.all(context[0] == 0.0)
    np.testing.assert_allclose(weights[1, :, 0], 1.0, atol=1e-7)
    np.testing.assert_allclose(context[1], np.repeat(values[1:2, 0], 2, axis=0), atol=1e-6)
    assert np.all(np.isfinite(context))


def test_mask_accepts_bool_int_float_and_padding_gradient_is_zero():
    query, values, mask = make_inputs(steps=2)
    layer = BahdanauAttention(5)
    outs = [layer(query, values, mask=m)[1].numpy() for m in (mask.astype(bool), mask.astype("int32"), mask)]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    values_t = tf.constant(values)
    with tf.GradientTape() as tape:
        tape.watch(values_t)
        context, _ = layer(query, values_t, mask=mask)
        total = tf.reduce_sum(context**2)
    grad = tape.gradient(total, values_t).numpy()
    assert np.all(grad[mask == 0] == 0.0), "padded values must not influence the context"
    assert np.abs(grad[mask == 1]).sum() > 0


def test_list_call_and_keras_mask_from_embedding():
    """layer([query, values]) uses the values' Keras mask (e.g. Embedding(mask_zero=True))."""
    ids = keras.Input((None,), dtype="int32")
    query_in = keras.Input((3, 5))
    values = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    context, weights = BahdanauAttention(6)([query_in, values])
    model = keras.Model([ids, query_in], [context, weights])
    token_ids = np.array([[3, 4, 0, 0], [1, 2, 3, 0]], "int32")
    q = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    _, w = model([token_ids, q])
    assert np.all(w.numpy()[token_ids[:, None, :].repeat(3, 1) == 0] == 0.0)
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0, atol=1e-6)


# -------------------------------------------------------------------- Maxout
# The shared check_layer runs on every layer in tests/test_layers_sweep.py.
def test_maxout_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    out = Maxout(2)(x).numpy()
    np.testing.assert_array_equal(out, np.maximum(x[..., 0::2], x[..., 1::2]))
    np.testing.assert_array_equal(Maxout(4)(x).numpy(), x.reshape(2, 3, 2, 4).max(-1))


# ------------------------------------------------------------------ decoder
def decoder_inputs(batch=3, steps=4, input_dim=3, source=5, annotation_dim=6, units=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, steps, input_dim)).astype("float32")
    annotations = rng.normal(size=(batch, source, annotation_dim)).astype("float32")
    state = rng.normal(size=(batch, units)).astype("float32") * 0.5
    lengths = np.array([source, 2, 1] + [source] * (batch - 3))[:batch]
    mask = (np.arange(source)[None] < lengths[:, None]).astype("float32")
    return x, annotations, state, mask


@pytest.mark.parametrize("attention,score", [("bahdanau", "general"), ("luong", "general"), ("luong", "concat")])
def test_decoder_matches_numpy_recurrence(attention, score):
    x, annotations, state, mask = decoder_inputs()
    layer = AttentionGRUDecoder(8, attention=attention, score=score, attention_units=None)
    states, contexts, alignments = [t.numpy() for t in layer([x, annotations, state, mask])]
    kernel = weights_of(layer, "cell/kernel")
    recurrent = weights_of(layer, "cell/recurrent_kernel")
    bias = weights_of(layer, "cell/bias")
    att = layer.attention
    h = state.astype(np.float64)
    for t in range(x.shape[1]):
        if attention == "bahdanau":
            c, a = np_bahdanau(
                h, annotations, mask,
                weights_of(att, "query_projection/kernel"),
                weights_of(att, "key_projection/kernel"),
                weights_of(att, "score/scale"),
            )
        elif score == "general":
            c, a = np_luong(h, annotations, mask, "general", Wa=weights_of(att, "key_projection/kernel"))
        else:
            c, a = np_luong(
                h, annotations, mask, "concat",
                W1=weights_of(att, "query_projection/kernel"),
                W2=weights_of(att, "key_projection/kernel"),
                v=weights_of(att, "score/scale"),
            )
        np.testing.assert_allclose(alignments[:, t], a, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(contexts[:, t], c, rtol=1e-4, atol=1e-5)
        h = np_gru_step(np.concatenate([x[:, t], c], -1), h, kernel, recurrent, bias)
        np.testing.assert_allclose(states[:, t], h, rtol=1e-4, atol=1e-5)


def test_decoder_unrolled_while_loop_and_single_steps_agree():
    x, annotations, state, mask = decoder_inputs(steps=5)
    layer = AttentionGRUDecoder(8)
    unrolled = [t.numpy() for t in layer([x, annotations, state, mask])]
    dynamic = tf.function(
        lambda a, b, c, d: layer([a, b, c, d]),
        input_signature=[
            tf.TensorSpec([None, None, 3]),
            tf.TensorSpec([None, None, 6]),
            tf.TensorSpec([None, 8]),
            tf.TensorSpec([None, None]),
        ],
    )
    looped = [t.numpy() for t in dynamic(x, annotations, state, mask)]
    for a, b in zip(unrolled, looped):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    keys = layer.attention.project_keys(annotations)
    s = state
    for t in range(x.shape[1]):
        s, c, a = layer([x[:, t], annotations, s, mask, keys])
        np.testing.assert_allclose(s.numpy(), unrolled[0][:, t], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(c.numpy(), unrolled[1][:, t], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(a.numpy(), unrolled[2][:, t], rtol=1e-6, atol=1e-6)
    empty = dynamic(x[:, :0], annotations, state, mask)
    assert [tuple(t.shape) for t in empty] == [(3, 0, 8), (3, 0, 6), (3, 0, 5)]


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "factory,message",
    [
        (lambda: BahdanauAttention(0), "BahdanauAttention: units must be a positive int, received 0"),
        (lambda: LuongAttention("cosine"), "LuongAttention: score must be one of 'dot', 'general', 'concat', received 'cosine'"),
        (lambda: LuongAttention("dot", units=4), "units must be None unless score='concat'"),
        (lambda: AttentionGRUDecoder(8, attention="hard"), "AttentionGRUDecoder: attention must be one of 'bahdanau', 'luong', received 'hard'"),
        (lambda: AttentionGRUDecoder(8, attention="luong", attention_units=3), "attention_units applies to"),
        (lambda: Maxout(0), "Maxout: pieces must be a positive int, received 0"),
    ],
)
def test_bad_arguments_raise_clear_errors(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_bad_shapes_raise_clear_errors():
    query, values, mask = make_inputs()
    with pytest.raises(ValueError, match=r"BahdanauAttention: values must be of rank 3 \(batch, source_steps, value_dim\), received shape \(3, 4\)"):
        BahdanauAttention(4)(query, values[:, 0])
    with pytest.raises(ValueError, match="mask has 3 source steps but values have 6"):
        BahdanauAttention(4)(query, values, mask=mask[:, :3])
    with pytest.raises(ValueError, match=r"score='dot'\): query size 5 must equal the values size 4"):
        LuongAttention("dot")(query, values)
    with pytest.raises(ValueError, match="multiple of pieces=3"):
        Maxout(3)(np.zeros((1, 4), "float32"))
    x, annotations, state, mask = decoder_inputs()
    with pytest.raises(ValueError, match="initial_state must have 9 units"):
        AttentionGRUDecoder(9)([x, annotations, state, mask])
    with pytest.raises(ValueError, match="inputs must be a list"):
        AttentionGRUDecoder(8)([x, annotations])
