"""Additive (Bahdanau) soft attention that returns its alignment weights."""

from __future__ import annotations

import keras

from keras_segattn.layers._attention_utils import (
    additive_scores,
    apply_keras_attention,
    output_shapes,
    split_inputs,
    split_shapes,
)
from keras_segattn.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_segattn")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention ``e_j = v^T tanh(W s + U h_j)``, returning context and weights.

    Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to
    Align and Translate", ICLR 2015 (the alignment model ``a(s_{i-1}, h_j)``
    of section 3.1 and appendix A.1.2): the query ``s`` (a decoder state) and
    every value ``h_j`` (an encoder annotation) are projected to ``units``
    dimensions by ``W`` and ``U`` (no biases, as in the paper), the score is
    ``v^T tanh(W s + U h_j)``, the weights are the softmax of the scores over
    the source positions, and the context is the weighted sum of the values.

    ``v`` is the ``scale`` vector of a ``keras.layers.AdditiveAttention``
    sublayer, whose scores this layer computes with the sum over units as a
    matmul (the same arithmetic, a faster gradient on CPU); it adds the two
    projections, the masking contract and the returned weights. Weights over a masked
    (padded) position are exactly 0 and the rest sum to 1; a row whose
    positions are all masked (an empty source) gets all-zero weights and a
    zero context.

    ``U h_j`` does not depend on the query, so a decoder computes it once per
    sentence with :meth:`project_keys` and calls :meth:`attend` at every step
    (the paper's appendix A.1.2 notes the same saving).

    Args:
        units: size of the alignment model's hidden layer (the paper: 1000).

    Call arguments:
        query: ``(batch, query_dim)`` (one decoder step) or ``(batch, steps,
            query_dim)`` (all steps at once).
        values: ``(batch, source_steps, value_dim)``.
        mask: optional ``(batch, source_steps)``, bool or numeric, true/nonzero
            at real source positions. The list form ``layer([query, values,
            mask])`` is accepted too.

    Returns:
        ``(context, weights)``: ``(batch, [steps,] value_dim)`` and
        ``(batch, [steps,] source_steps)``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import BahdanauAttention
        >>> query = np.ones((2, 8), "float32")
        >>> values = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
        >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
        >>> context, weights = BahdanauAttention(4)(query, values, mask=mask)
        >>> context.shape, weights.shape
        (TensorShape([2, 6]), TensorShape([2, 5]))
        >>> weights.numpy()[0, 3:].tolist(), round(float(weights.numpy()[0].sum()), 5)
        ([0.0, 0.0], 1.0)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("BahdanauAttention", "units", units)
        self.query_projection = keras.layers.Dense(self.units, use_bias=False, name="query_projection")
        self.key_projection = keras.layers.Dense(self.units, use_bias=False, name="key_projection")
        self.score = keras.layers.AdditiveAttention(use_scale=True, name="score")
        self.supports_masking = True

    def build(self, query_shape, values_shape=None, mask_shape=None):
        query_shape, values_shape, _ = split_shapes("BahdanauAttention", query_shape, values_shape, mask_shape)
        if query_shape[-1] is None or values_shape[-1] is None:
            raise ValueError(
                "BahdanauAttention: the last dimension of query and values must be known, received "
                f"query {query_shape} and values {values_shape}."
            )
        self.query_projection.build(query_shape)
        self.key_projection.build(values_shape)
        projected = (None, None, self.units)
        self.score.build([projected, values_shape, projected])
        self.built = True

    def compute_output_shape(self, query_shape, values_shape=None, mask_shape=None):
        query_shape, values_shape, _ = split_shapes("BahdanauAttention", query_shape, values_shape, mask_shape)
        return output_shapes(query_shape, values_shape)

    def compute_mask(self, *args, **kwargs):
        return None

    def project_keys(self, values):
        """``U h_j`` for every source position: ``(batch, source_steps, units)``."""
        return self.key_projection(values)

    def attend(self, query, values, keys, mask=None):
        """Context and weights of ``query`` given precomputed ``keys = project_keys(values)``."""
        return apply_keras_attention(
            self.score, self.query_projection(query), values, keys, mask, scores_fn=self._scores
        )

    def _scores(self, query, keys):
        return additive_scores(query, keys, self.score.scale)

    def call(self, query, values=None, mask=None):
        query, values, mask = split_inputs(query, values, mask)
        split_shapes("BahdanauAttention", query.shape, values.shape, None if mask is None else mask.shape)
        return self.attend(query, values, self.project_keys(values), mask)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
