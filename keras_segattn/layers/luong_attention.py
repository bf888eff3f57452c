"""Multiplicative (Luong) soft attention: dot, general and concat scores."""

from __future__ import annotations

import keras

from keras_segattn.layers._attention_utils import (
    apply_keras_attention,
    output_shapes,
    split_inputs,
    split_shapes,
)
from keras_segattn.validation import check_choice, check_optional_int

SCORES = ("dot", "general", "concat")


@keras.saving.register_keras_serializable(package="keras_segattn")
class LuongAttention(keras.layers.Layer):
    """Luong's global attention scores, returning context and weights.

    Luong, Pham & Manning, "Effective Approaches to Attention-based Neural
    Machine Translation", EMNLP 2015, section 3.1, with query ``s`` (a decoder
    state) and values ``h_j`` (encoder annotations):

    - ``"dot"``: ``s^T h_j`` (query and values must have the same size);
    - ``"general"``: ``s^T W_a h_j``;
    - ``"concat"``: ``v_a^T tanh(W_a [s; h_j])``, computed as
      ``v_a^T tanh(W_1 s + W_2 h_j)`` (the same thing with ``W_a`` split).

    Softmax over the source positions gives the weights; the context is the
    weighted sum of the values. The scores and softmax are Keras' own
    ``keras.layers.Attention`` (dot, general) and
    ``keras.layers.AdditiveAttention`` (concat); this layer adds the
    projections, the masking contract and the returned weights: weights over a
    masked position are exactly 0 and the rest sum to 1; a row with no valid
    position gets all-zero weights and a zero context.

    Args:
        score: ``"dot"``, ``"general"`` (default) or ``"concat"``.
        units: hidden size of the ``"concat"`` score (default: the query
            size); must be ``None`` for the other scores.

    Call arguments, returns: as :class:`BahdanauAttention`.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import LuongAttention
        >>> query = np.ones((2, 3, 6), "float32")
        >>> values = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
        >>> context, weights = LuongAttention("dot")(query, values)
        >>> context.shape, weights.shape
        (TensorShape([2, 3, 6]), TensorShape([2, 3, 5]))
    """

    def __init__(self, score="general", units=None, **kwargs):
        super().__init__(**kwargs)
        check_choice("LuongAttention", "score", score, SCORES)
        if units is not None and score != "concat":
            raise ValueError(
                f"LuongAttention: units must be None unless score='concat' (only concat has a hidden "
                f"layer), received units={units!r} with score={score!r}."
            )
        units = check_optional_int("LuongAttention", "units", units, minimum=1)
        self.score_name = score
        self.units = units
        self.query_projection = None
        self.key_projection = None
        if score == "concat":
            self.score = keras.layers.AdditiveAttention(use_scale=True, name="score")
        else:
            self.score = keras.layers.Attention(score_mode="dot", use_scale=False, name="score")
        self.supports_masking = True

    def build(self, query_shape, values_shape=None, mask_shape=None):
        query_shape, values_shape, _ = split_shapes("LuongAttention", query_shape, values_shape, mask_shape)
        query_dim, value_dim = query_shape[-1], values_shape[-1]
        if query_dim is None or value_dim is None:
            raise ValueError(
                "LuongAttention: the last dimension of query and values must be known, received "
                f"query {query_shape} and values {values_shape}."
            )
        if self.score_name == "dot" and query_dim != value_dim:
            raise ValueError(
                f"LuongAttention(score='dot'): query size {query_dim} must equal the values size "
                f"{value_dim}; use score='general' or 'concat' for different sizes."
            )
        if self.score_name == "general":
            self.key_projection = keras.layers.Dense(query_dim, use_bias=False, name="key_projection")
            self.key_projection.build(values_shape)
            key_dim = query_dim
        elif self.score_name == "concat":
            units = self.units or query_dim
            self.query_projection = keras.layers.Dense(units, use_bias=False, name="query_projection")
            self.key_projection = keras.layers.Dense(units, use_bias=False, name="key_projection")
            self.query_projection.build(query_shape)
            self.key_projection.build(values_shape)
            key_dim = units
        else:
            key_dim = value_dim
        projected = (None, None, key_dim)
        self.score.build([projected, values_shape, projected])
        self.built = True

    def compute_output_shape(self, query_shape, values_shape=None, mask_shape=None):
        query_shape, values_shape, _ = split_shapes("LuongAttention", query_shape, values_shape, mask_shape)
        return output_shapes(query_shape, values_shape)

    def compute_mask(self, *args, **kwargs):
        return None

    def project_keys(self, values):
        """The query-independent part of the score: ``W_a h_j`` (general), ``W_2 h_j`` (concat), ``h_j`` (dot)."""
        return values if self.key_projection is None else self.key_projection(values)

    def attend(self, query, values, keys, mask=None):
        """Context and weights of ``query`` given precomputed ``keys = project_keys(values)``."""
        if self.query_projection is not None:
            query = self.query_projection(query)
        return apply_keras_attention(self.score, query, values, keys, mask)

    def call(self, query, values=None, mask=None):
        query, values, mask = split_inputs(query, values, mask)
        split_shapes("LuongAttention", query.shape, values.shape, None if mask is None else mask.shape)
        return self.attend(query, values, self.project_keys(values), mask)

    def get_config(self):
        config = super().get_config()
        config.update({"score": self.score_name, "units": self.units})
        return config
