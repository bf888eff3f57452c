"""Encoder and one-decoder-step sub-models of a trained RNNsearch (shared weights)."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.models.bahdanau_nmt.model import _output_head

__all__ = ["inference_models"]


def _has_maxout(model):
    try:
        model.get_layer("maxout")
        return True
    except ValueError:
        return False


# Registered so the encoder sub-model reloads from .keras like every other model.
@keras.saving.register_keras_serializable(package="keras_segattn")
class _NamedOutput(keras.layers.Layer):
    """Identity that names a sub-model output and drops the Keras mask (the step graph takes an explicit mask)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        return tf.identity(inputs)


def inference_models(model):
    """The encoder and one decoder step of a trained ``bahdanau_nmt`` (shared weights).

    Returns ``(encoder, decoder_step)`` Keras models:

    - ``encoder``: ``source_ids (batch, L)`` int32 -> ``[annotations (batch, L,
      2 * encoder_units), keys (batch, L, attention_units), initial_state
      (batch, decoder_units), source_mask (batch, L)]``; ``keys`` is the
      query-independent part of the attention score (``U h_j``), computed once;
    - ``decoder_step``: ``[token (batch,) int32 (y_{i-1}), state (batch,
      decoder_units) (s_{i-1}), annotations, keys, source_mask]`` ->
      ``[logits (batch, target_vocab), next_state (s_i), alignment (batch, L)
      (alpha_i)]``.

    Driving them step by step from ``[start]`` with the true previous tokens
    reproduces the training model's outputs (tested).
    """
    for layer in ("pair_split", "encoder", "decoder", "target_embedding", "output_projection"):
        try:
            model.get_layer(layer)
        except ValueError:
            raise ValueError(
                f"inference_models: {model.name!r} is not a bahdanau_nmt model (no layer {layer!r})."
            ) from None
    length = model.inputs[0].shape[-1]
    decoder = model.get_layer("decoder")
    source_ids = keras.Input((length,), dtype="int32", name="source_ids")
    source_mask = model.get_layer("padding_mask")(source_ids)
    x = model.get_layer("source_embedding")(source_ids)
    annotations, _, backward = model.get_layer("encoder")(x)
    initial_state = model.get_layer("init_state")(backward)
    keys = decoder.attention.project_keys(annotations)
    outputs = [
        _NamedOutput(name=n, dtype="float32")(t)
        for n, t in (
            ("annotations", annotations),
            ("keys", keys),
            ("initial_state", initial_state),
            ("source_mask", source_mask),
        )
    ]
    encoder = keras.Model(source_ids, outputs, name=f"{model.name}_encoder")

    token = keras.Input((), dtype="int32", name="token")
    state = keras.Input((decoder.units,), name="state")
    annotations_in = keras.Input(tuple(annotations.shape[1:]), name="annotations")
    keys_in = keras.Input(tuple(keys.shape[1:]), name="keys")
    mask_in = keras.Input((length,), name="source_mask")
    y = model.get_layer("target_embedding")(token)
    next_state, context, weights = decoder([y, annotations_in, state, mask_in, keys_in])
    logits = _output_head(next_state, y, context, True if _has_maxout(model) else None, None, layers=model)
    step_outputs = [
        keras.layers.Identity(name="logits", dtype="float32")(logits),
        keras.layers.Identity(name="next_state", dtype="float32")(next_state),
        keras.layers.Identity(name="alignment", dtype="float32")(weights),
    ]
    decoder_step = keras.Model(
        [token, state, annotations_in, keys_in, mask_in], step_outputs, name=f"{model.name}_decoder_step"
    )
    return encoder, decoder_step
