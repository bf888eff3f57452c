"""Losses and attention stay finite for extreme logits, parameters and activations.

Every loss the library defines (segmentation and translation cross-entropy, DRAW's
Bernoulli NLL, the mixture density loss) and every attention layer's weights
(Bahdanau, Luong dot/general/concat, the GRU and LSTM decoders' attention, the Graves
window, DRAW's Gaussian filterbank) at magnitudes 1e4, 1e30, float32's max and tiny
values: no NaN anywhere, no infinity in a gradient, and a loss that is infinite only
where the exact value (NumPy, float64) exceeds float32's range. Pooling and metrics
NaN handling is tests/test_nan_safety.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import log_softmax

from keras_segattn.layers import (
    AttentionGRUDecoder,
    AttentionLSTMDecoder,
    BahdanauAttention,
    GaussianFilterbank,
    GravesAttentionWindow,
    LuongAttention,
)
from keras_segattn.layers.mixture_density_output import mixture_density_nll
from keras_segattn.training import segmentation_loss
from keras_segattn.training.mixture_density import MixtureDensityLoss
from keras_segattn.training.translation import translation_loss
from keras_segattn.training.variational import BernoulliNLL, bernoulli_nll

F32_MAX = float(np.finfo(np.float32).max)
MAGNITUDES = [1e4, 1e30, F32_MAX, 1e-30, 1e-45]
SIGNED = [s * m for m in MAGNITUDES for s in (1.0, -1.0)]


def value_and_grad(fn, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = fn(x)
        total = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32)) for o in (out if isinstance(out, (list, tuple)) else [out])])
    return out, tape.gradient(total, x)


def assert_matches_float64(loss, per_element):
    """``loss`` (the mean of ``per_element``, float64 references) is within float32 rounding of it, or +inf
    where an element's exact value exceeds float32's range (the per-element loss itself overflows then)."""
    loss, per_element = float(loss), np.asarray(per_element, np.float64)
    assert not np.isnan(loss)
    if np.all(per_element <= F32_MAX):
        np.testing.assert_allclose(loss, per_element.mean(), rtol=1e-5, atol=1e-6)
    else:
        assert loss == np.inf


def all_finite(*values):
    return all(np.isfinite(np.asarray(v)).all() for v in values)


# ------------------------------------------------------------------ losses


@pytest.mark.parametrize("make", [segmentation_loss, translation_loss], ids=["segmentation", "translation"])
@pytest.mark.parametrize("v", SIGNED)
def test_sparse_cross_entropy_losses_match_float64_log_softmax(make, v):
    logits = np.array([[[v, 0.0, -v], [0.0, v, -v], [-v, -v, v], [v, v, v]]], np.float32)
    labels = np.array([[2, 1, 2, 1]])  # no 0: the translation loss ignores it (padding)
    loss, grad = value_and_grad(lambda x: make()(labels, x), logits)
    per_pixel = -np.take_along_axis(log_softmax(logits.astype(np.float64), axis=-1), labels[..., None], -1)[..., 0]
    assert_matches_float64(loss, per_pixel)
    assert all_finite(grad)


@pytest.mark.parametrize("v", SIGNED)
def test_bernoulli_nll_matches_the_float64_reference(v):
    images = np.array([[1.0, 0.0, 1.0, 0.0]], np.float32).reshape(1, 2, 2, 1)
    logits = np.array([[v, -v, -v, v]], np.float32).reshape(1, 2, 2, 1)
    loss, grad = value_and_grad(lambda x: BernoulliNLL()(images, x), logits)
    assert_matches_float64(loss, bernoulli_nll(images, logits))
    assert all_finite(grad)


M = 2
TARGETS = np.array([[[0.5, -0.3, 1.0], [0.1, 0.2, 0.0], [0.0, 0.0, -1.0]]], np.float32)  # last row: padding


SLOTS = ["eos", "pi", "mu_x", "mu_y", "log_sigma_x", "log_sigma_y", "rho", "all"]


def test_mixture_density_loss_finite_for_extreme_parameters():
    # One batch row per (slot, value) case. Before the offset clip, mu at +-1e30 or float32's max
    # gave NaN gradients, all parameters at 1e30 a NaN loss, and at -1e30 an infinite one.
    cases = [(slot, v) for slot in SLOTS for v in SIGNED]
    params = np.zeros((len(cases), 3, 6 * M + 1), np.float32)
    order = ["pi", "mu_x", "mu_y", "log_sigma_x", "log_sigma_y", "rho"]
    for row, (slot, v) in enumerate(cases):
        if slot == "eos":
            params[row, :, 0] = v
        elif slot == "all":
            params[row] = v
        else:
            params[row, :, 1 + order.index(slot) * M] = v  # the first component; the second stays ordinary
    targets = np.repeat(TARGETS, len(cases), axis=0)
    (nll, loss), grad = value_and_grad(
        lambda x: (mixture_density_nll(targets, x, M), MixtureDensityLoss()(targets, x)), params
    )
    bad = [cases[i] for i in range(len(cases))
           if not all_finite(np.asarray(nll)[i], np.asarray(grad)[i])]
    assert not bad and all_finite(loss)


@pytest.mark.parametrize("v", SIGNED)
def test_mixture_density_loss_finite_for_extreme_targets(v):
    targets = TARGETS.copy()
    targets[0, :2, :2] = [[v, -v], [v, v]]
    params = np.random.RandomState(0).normal(size=(1, 3, 6 * M + 1)).astype(np.float32)
    loss, grad = value_and_grad(lambda x: MixtureDensityLoss()(targets, x), params)
    assert all_finite(loss, grad)


def test_mixture_density_clip_leaves_ordinary_offsets_exact():
    # The offset clip (1e6) is far outside any real pen offset: values there are unchanged.
    rng = np.random.RandomState(1)
    params = rng.normal(size=(4, 6 * M + 1)).astype(np.float32)
    params[:, 1 + M : 1 + 3 * M] = 5e5  # means half a million units away: inside the bound
    targets = np.array([[3.0, -2.0, 0.0]] * 4, np.float32)
    nll = mixture_density_nll(targets, params, M).numpy()
    lx = np.clip(params[:, 1 + 3 * M : 1 + 4 * M], -7, 7).astype(np.float64)
    ly = np.clip(params[:, 1 + 4 * M : 1 + 5 * M], -7, 7).astype(np.float64)
    rho = 0.9999 * np.tanh(params[:, 1 + 5 * M :].astype(np.float64))
    zx = (3.0 - params[:, 1 + M : 1 + 2 * M]) / np.exp(lx)
    zy = (-2.0 - params[:, 1 + 2 * M : 1 + 3 * M]) / np.exp(ly)
    z = zx**2 + zy**2 - 2 * rho * zx * zy
    log_n = -np.log(2 * np.pi) - lx - ly - 0.5 * np.log(1 - rho**2) - z / (2 * (1 - rho**2))
    log_pi = log_softmax(params[:, 1 : 1 + M].astype(np.float64), -1)
    eos = np.logaddexp(0, params[:, 0].astype(np.float64))  # -log(1 - sigmoid(e)) for eos = 0
    reference = -np.logaddexp.reduce(log_pi + log_n, axis=-1) + eos
    np.testing.assert_allclose(nll, reference, rtol=1e-5)


# ------------------------------------------------------------------ attention

ATTENTIONS = {
    "bahdanau": lambda: BahdanauAttention(6),
    "luong_dot": lambda: LuongAttention("dot"),
    "luong_general": lambda: LuongAttention("general"),
    "luong_concat": lambda: LuongAttention("concat"),
}
MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], bool)


def _check_weights(weights, mask):
    weights = np.asarray(weights)
    assert all_finite(weights)
    assert np.all(weights[..., ~mask] == 0.0) if weights.ndim == 2 else True
    rows = mask.any(-1)
    np.testing.assert_allclose(weights[rows].sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[~rows] == 0.0)


@pytest.mark.parametrize("name", list(ATTENTIONS))
def test_attention_weights_finite_and_masked_for_huge_scores(name):
    # Scores reach ~1e31 at scale 1e15 (dot): finite, so the softmax must stay exact. Before the
    # fix, scores above ~1e9 beat Keras' "- 1e9" mask: padding won the softmax and leaked into the context.
    layer = ATTENTIONS[name]()
    for scale in [1e-45, 1.0, 1e4, 1e8, 1e15]:
        rng = np.random.RandomState(0)
        query = (rng.normal(size=(3, 4)) * scale).astype(np.float32)
        values = (rng.normal(size=(3, 5, 4)) * scale).astype(np.float32)
        (context, weights), grad = value_and_grad(lambda v, q=query: layer(q, v, mask=MASK), values)
        _check_weights(weights, MASK)
        assert all_finite(context, grad), scale
        expected = np.einsum("bs,bsd->bd", np.asarray(weights, np.float64), values.astype(np.float64))
        np.testing.assert_allclose(np.asarray(context), expected, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("scale", [1e4, 1e15])
def test_luong_dot_weights_match_a_float64_softmax(scale):
    rng = np.random.RandomState(2)
    query = (rng.normal(size=(3, 4)) * scale).astype(np.float32)
    values = (rng.normal(size=(3, 5, 4)) * scale).astype(np.float32)
    _, weights = LuongAttention("dot")(query, values, mask=MASK)
    scores = np.einsum("bd,bsd->bs", query.astype(np.float64), values.astype(np.float64))
    scores = np.where(MASK, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        reference = np.nan_to_num(np.exp(log_softmax(scores, axis=-1)))
    np.testing.assert_allclose(np.asarray(weights), reference, atol=1e-6)


def test_a_padded_position_with_a_huge_score_never_leaks_into_the_context():
    # The failing case measured before the fix: weights [0, 0, 0] and the padding's 3e5 as context.
    query = np.array([[1e5, 0.0]], np.float32)
    values = np.array([[[1e5, 0.0], [1e5, 0.0], [3e5, 0.0]]], np.float32)
    context, weights = LuongAttention("dot")(query, values, mask=np.array([[1, 1, 0]], bool))
    np.testing.assert_allclose(np.asarray(weights), [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(np.asarray(context), [[1e5, 0.0]])


def test_bahdanau_scores_are_bounded_for_any_finite_values_up_to_1e30():
    # tanh bounds the additive score; float32's max itself overflows the key projection (a Dense
    # layer) before any score is formed, so it is left out.
    layer = BahdanauAttention(6)
    for v in [s * m for m in (1e4, 1e30, 1e-30, 1e-45) for s in (1.0, -1.0)]:
        values = np.full((3, 5, 4), v, np.float32) * np.linspace(0.5, 1.0, 5, dtype=np.float32)[None, :, None]
        query = np.full((3, 4), v, np.float32)
        (context, weights), grad = value_and_grad(lambda x, q=query: layer(q, x, mask=MASK), values)
        _check_weights(weights, MASK)
        assert all_finite(context, grad), v


@pytest.mark.parametrize("score", ["dot", "general"])
def test_gru_decoder_alignments_with_huge_annotations(score):
    rng = np.random.RandomState(3)
    x = rng.normal(size=(3, 2, 3)).astype(np.float32)
    annotations = (rng.normal(size=(3, 5, 6)) * 1e10).astype(np.float32)
    decoder = AttentionGRUDecoder(6, attention="luong", score=score)
    (states, contexts, alignments), grad = value_and_grad(
        lambda a: decoder([x, a, np.zeros((3, 6), np.float32), MASK.astype(np.float32)]), annotations
    )
    for step in range(2):
        _check_weights(np.asarray(alignments)[:, step], MASK)
    assert all_finite(states, contexts, grad)


def test_lstm_decoder_attention_with_huge_annotations():
    rng = np.random.RandomState(4)
    annotations = (rng.normal(size=(3, 5, 6)) * 1e30).astype(np.float32)
    decoder = AttentionLSTMDecoder(8, vocab_size=7)
    word = rng.normal(size=(3, 4)).astype(np.float32)
    probe = rng.normal(size=(3, 5)).astype(np.float32)
    def step(a):
        return decoder([word, a, np.zeros((3, 16), np.float32), MASK.astype(np.float32)])

    _, _, alpha = step(annotations)
    _, grad = value_and_grad(lambda a: step(a)[2] * probe, annotations)
    _check_weights(alpha, MASK)
    assert all_finite(grad)


# ------------------------------------------------------------------ Graves window, DRAW filterbank


@pytest.mark.parametrize("v", SIGNED)
def test_graves_window_finite_for_extreme_parameters(v):
    chars = np.eye(4, dtype=np.float32)[None, [0, 1, 2, 3]]
    mask = np.ones((1, 4), np.float32)
    layer = GravesAttentionWindow(2)
    (window, kappa, phi), grad = value_and_grad(
        lambda p: layer([p, np.zeros((1, 2), np.float32), chars, mask]), np.full((1, 6), v, np.float32)
    )
    assert all_finite(window, kappa, phi, grad)


@pytest.mark.parametrize("v", [1e4, -1e4, 1e30, -1e30])
def test_graves_window_finite_for_extreme_previous_locations(v):
    # kappa starts at 0 and only grows, by at most exp(10) a step: +-float32's max is not reachable
    # (at -float32's max the gradient is 0 * inf = NaN; not guarded, see the report).
    chars = np.eye(4, dtype=np.float32)[None, [0, 1, 2, 3]]
    layer = GravesAttentionWindow(2)
    (window, kappa, phi), grad = value_and_grad(
        lambda k: layer([np.zeros((1, 6), np.float32), k, chars, np.ones((1, 4), np.float32)]),
        np.full((1, 2), v, np.float32),
    )
    assert all_finite(window, phi, grad)


def test_filterbank_rows_are_finite_distributions_for_extreme_parameters():
    # One row per (parameter, value). Before the centre clip, |g~| = 1e30 or float32's max
    # overflowed (pixel - mu)^2: NaN filters and gradients.
    cases = [(slot, v) for slot in range(5) for v in SIGNED]
    params = np.zeros((len(cases), 5), np.float32)
    for row, (slot, v) in enumerate(cases):
        params[row, slot] = v
    layer = GaussianFilterbank(3, (8, 10))
    (fx, fy, gamma), grad = value_and_grad(lambda p: layer(p), params)
    assert all_finite(fx, fy, gamma, grad)
    np.testing.assert_allclose(np.asarray(fx).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(fy).sum(-1), 1.0, atol=1e-5)
