"""Argument handling shared by the soft-attention layers (private).

Both attention layers accept ``layer(query, values, mask=None)`` and the
list form ``layer([query, values])`` / ``layer([query, values, mask])`` (the
form Keras' own ``Attention`` layers use, and the one the shared test helper
drives). These helpers turn either form into ``(query, values, mask)``.
"""

from __future__ import annotations

import tensorflow as tf

from keras_segattn.validation import check_rank, message


def _is_shape(value) -> bool:
    return isinstance(value, (tuple, list)) and all(v is None or isinstance(v, int) for v in value)


def split_shapes(layer: str, query_shape, values_shape=None, mask_shape=None):
    """``(query, values, mask)`` shapes from either call form."""
    if values_shape is None and not _is_shape(query_shape):
        parts = list(query_shape)
        if len(parts) not in (2, 3):
            raise ValueError(
                f"{layer}: a list input must be [query, values] or [query, values, mask], "
                f"received {len(parts)} elements."
            )
        query_shape, values_shape = parts[0], parts[1]
        mask_shape = parts[2] if len(parts) == 3 else None
    if values_shape is None:
        raise ValueError(f"{layer}: values are required: call it as layer(query, values, mask=None).")
    query_shape, values_shape = tuple(query_shape), tuple(values_shape)
    if len(query_shape) not in (2, 3):
        raise ValueError(
            message(
                layer, "query", "of rank 2 (batch, query_dim) or 3 (batch, query_steps, query_dim)",
                f"shape {query_shape}",
            )
        )
    check_rank(layer, "values", values_shape, 3, "(batch, source_steps, value_dim)")
    if mask_shape is not None:
        mask_shape = check_rank(layer, "mask", mask_shape, 2, "(batch, source_steps)")
        if None not in (mask_shape[1], values_shape[1]) and mask_shape[1] != values_shape[1]:
            raise ValueError(
                f"{layer}: mask has {mask_shape[1]} source steps but values have {values_shape[1]}."
            )
    return query_shape, values_shape, mask_shape


def split_inputs(query, values, mask):
    """``(query, values, mask)`` tensors from either call form.

    Keras fills ``mask`` with the inputs' own Keras masks (a list) when the
    layer is called on a list; the values' Keras mask is then used unless an
    explicit mask is the list's third element.
    """
    keras_mask = None
    if isinstance(mask, (list, tuple)):
        keras_mask = mask[1] if len(mask) > 1 else None
        mask = None
    if values is None and isinstance(query, (list, tuple)):
        parts = list(query)
        query, values = parts[0], parts[1]
        mask = parts[2] if len(parts) == 3 else mask
    if mask is None:
        mask = keras_mask
    return query, values, mask


def output_shapes(query_shape, values_shape):
    context = (*query_shape[:-1], values_shape[-1])
    weights = (*query_shape[:-1], values_shape[1])
    return context, weights


def valid_mask(mask, dtype):
    """``mask`` (bool or numeric; nonzero = a real source position) as ``dtype``."""
    if mask.dtype == tf.bool:
        return tf.cast(mask, dtype)
    return tf.cast(tf.not_equal(mask, tf.zeros_like(mask)), dtype)


def additive_scores(query, keys, scale):
    """``v^T tanh(q_t + k_s)`` for every pair: ``(B, T, U)``, ``(B, S, U)`` -> ``(B, T, S)``.

    ``keras.layers.AdditiveAttention``'s scores, with the sum over units as a
    matmul against ``v`` (``scale``) instead of a multiply and a reduction:
    the same arithmetic, and its gradient is a matmul too, which halved the
    backward pass of the scores on CPU (``tools/benchmark.py``).
    """
    hidden = tf.tanh(tf.expand_dims(query, 2) + tf.expand_dims(keys, 1))
    return tf.tensordot(hidden, tf.cast(scale, hidden.dtype), axes=[[3], [0]])


def apply_keras_attention(attention_layer, query, values, keys, mask, scores_fn=None):
    """Run a Keras ``Attention``/``AdditiveAttention`` and enforce the masking contract.

    ``scores_fn(query, keys)``, when given, computes the layer's scores (the
    softmax and the weighted sum stay Keras' arithmetic). Without a mask this
    is Keras' layer. With one, the layer's scores are
    shifted so the best real one is 0 before padding is set to ``-1e9`` (Keras
    subtracts ``1e9``, which scores above ~1e9 overcome), so after the
    softmax the weights of padding are zero
    and the rest sums to one; multiplying by the mask makes the zeros exact
    by construction, and a row with no valid position (an empty source) gets
    all-zero weights and a zero context instead of a uniform average over
    padding.
    """
    single = len(query.shape) == 2
    if single:
        query = tf.expand_dims(query, 1)
    if mask is None and scores_fn is None:
        context, weights = attention_layer([query, values, keys], return_attention_scores=True)
    elif mask is None:
        weights = tf.nn.softmax(scores_fn(query, keys), axis=-1)
        context = tf.matmul(tf.cast(weights, values.dtype), values)
    else:
        # Keras masks by subtracting 1e9 from padded scores: once scores exceed ~1e9 (large activations)
        # a padded position wins the softmax, the real ones get weight 0 and padding leaks into the
        # context. Here the scores are first shifted so the best real one is 0 (the softmax does not
        # change), then padding is set to -1e9 (-65504 in float16), which can no longer win.
        valid = valid_mask(mask, weights_dtype(query))[:, None, :]
        real = valid > 0
        if scores_fn is None:
            scores = attention_layer._calculate_scores(query=query, key=keys)
        else:
            scores = scores_fn(query, keys)
        lowest = tf.cast(scores.dtype.min, scores.dtype)
        top = tf.stop_gradient(tf.reduce_max(tf.where(real, scores, lowest), axis=-1, keepdims=True))
        padding = tf.cast(-65504.0 if scores.dtype == tf.float16 else -1e9, scores.dtype)
        scores = tf.where(real, scores - top, padding)
        weights = tf.nn.softmax(scores, axis=-1) * tf.cast(valid, scores.dtype)
        context = tf.matmul(tf.cast(weights, values.dtype), values)
    if single:
        context, weights = context[:, 0], weights[:, 0]
    return context, weights


def weights_dtype(query):
    return query.dtype if query.dtype.is_floating else tf.float32
