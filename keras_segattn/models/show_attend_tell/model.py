"""Show, Attend and Tell: the captioning training graph (teacher forcing).

Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel & Bengio, "Show, Attend
and Tell: Neural Image Caption Generation with Visual Attention", ICML 2015.

The registered model takes two inputs, ``image (batch, H, W, 3)`` raw RGB in
[0, 255] and ``caption (batch, T + 1)`` int32 ids ``[start] w_1 ... w_n [end]``
(0-padded), and returns ``logits (batch, T, vocab)`` for ``w_1 ... w_n [end]``
(the targets are ``caption[:, 1:]``) and ``attention (batch, T, L)``: the
weights of the ``L = h x w`` image locations for every word. :class:`Captioner`
turns a trained model into a captioner (greedy or beam search, attention maps
per word); :mod:`keras_segattn.export.captioning` exports it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.backbones import check_backbone
from keras_segattn.backbones.vgg16 import VGG16_DEPTHS, VGG16_WIDTHS
from keras_segattn.layers import AttentionLSTMDecoder
from keras_segattn.layers.attention_lstm_decoder import ATTENTIONS
from keras_segattn.models._common import check_backbone_weights, check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_bool,
    check_int,
    check_number,
    check_optional_int,
    check_positive_int,
    message,
)

__all__ = ["show_attend_tell", "CaptionSplit", "LocationChannels", "LocationMask", "PAPER", "PAPER_DEFAULTS", "TINY", "feature_grid"]

PAPER = (
    "Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel & Bengio, Show, Attend and Tell: Neural Image "
    "Caption Generation with Visual Attention, ICML 2015"
)


@keras.saving.register_keras_serializable(package="keras_segattn")
class CaptionSplit(keras.layers.Layer):
    """``caption (batch, T + 1)`` -> ``(decoder inputs caption[:, :-1], targets caption[:, 1:])``."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2 or (input_shape[1] is not None and input_shape[1] < 2):
            raise ValueError(
                message("CaptionSplit", "caption", "of shape (batch, T + 1) with T >= 1", f"shape {tuple(input_shape)}")
            )
        steps = None if input_shape[1] is None else input_shape[1] - 1
        return (input_shape[0], steps), (input_shape[0], steps)

    def compute_output_spec(self, inputs):
        return tuple(keras.KerasTensor(s, dtype=inputs.dtype) for s in self.compute_output_shape(inputs.shape))

    def call(self, caption):
        return caption[:, :-1], caption[:, 1:]


@keras.saving.register_keras_serializable(package="keras_segattn")
class LocationMask(keras.layers.Layer):
    """``annotations (batch, L, D)`` -> ones ``(batch, L)``: every image location may be attended.

    The decoder step shares the translator's signature, whose ``source_mask``
    marks real source positions; for an image all ``L`` are real.
    """

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def call(self, annotations):
        return tf.ones(tf.shape(annotations)[:2], tf.float32)


@keras.saving.register_keras_serializable(package="keras_segattn")
class LocationChannels(keras.layers.Layer):
    """``features (batch, h, w, D)`` -> ``(batch, h, w, D + 2)``: each vector gets its cell's (row, column) in [-1, 1].

    Convolutional features say *what* is at a location but, away from the
    image border, not *where*: a decoder that attends can then find "the next
    object to the right" only if the annotation vectors carry their position
    (as CoordConv and transformer position encodings do). Averaged over the
    grid the two channels are constant, so the no-attention baseline gains
    nothing from them.
    """

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 2)

    def call(self, features):
        h, w = tf.shape(features)[1], tf.shape(features)[2]
        rows = tf.linspace(-1.0, 1.0, h)
        columns = tf.linspace(-1.0, 1.0, w)
        grid = tf.stack(tf.meshgrid(rows, columns, indexing="ij"), axis=-1)  # (h, w, 2)
        grid = tf.broadcast_to(tf.cast(grid, features.dtype)[None], tf.concat([tf.shape(features)[:3], [2]], 0))
        return tf.concat([features, grid], axis=-1)


def _default_endpoint(spec):
    # The paper's annotations are VGG's conv5 (stride 16: 14 x 14 x 512 from 224 x 224, before
    # the last pooling, so each vector still matches an image region); other backbones give
    # their stride-16 features (Inception: the last block before Reduction-B, 17 x 17 from 299).
    if spec.family == "vgg16":
        return "conv5"
    return spec.at_stride(16)


def show_attend_tell(
    vocab_size=10000,
    max_length=20,
    input_shape=(224, 224, 3),
    attention="soft",
    backbone="vgg16",
    backbone_weights=None,
    feature_endpoint=None,
    embedding_dim=512,
    units=1000,
    attention_units=512,
    doubly_stochastic=1.0,
    entropy_weight=0.01,
    reinforce_weight=1.0,
    baseline_decay=0.9,
    expected_context_rate=0.5,
    hard_inference="expectation",
    location_channels=False,
    expected_context_unit="batch",
    reward="caption",
    seed=None,
    name=None,
):
    """Show, Attend and Tell (soft or hard attention) as a teacher-forcing training graph.

    - Encoder: a registered backbone (:func:`keras_segattn.backbones.list_backbones`;
      the paper's VGG conv5 by default) gives an ``h x w x D`` feature map,
      read as ``L = h * w`` annotation vectors ``a_i``.
    - Initial state: ``h_0``, ``c_0`` = one-layer tanh MLPs of the mean
      annotation (``init_h``, ``init_c``).
    - Decoder: :class:`~keras_segattn.layers.AttentionLSTMDecoder`: at every
      word an MLP scores all ``L`` locations from the previous LSTM state;
      soft attention takes their expectation, hard attention samples one
      (REINFORCE, moving-average baseline, entropy bonus); a gating scalar
      ``beta``; initial state from the mean annotation; deep output layer;
      doubly stochastic penalty (``doubly_stochastic`` = the paper's lambda).
      ``attention="none"`` is the no-attention baseline of the same size (the
      context is the mean annotation).

    Kept from the paper: the attention model, soft and hard contexts, beta,
    the initialisation, the deep output, the doubly stochastic penalty and
    REINFORCE with a moving baseline, an entropy term and the 0.5 chance of
    using the expected context. Sizes: the authors' released code
    (``arctic-captions``: LSTM 1000, a 10k vocabulary); the word embedding
    is 512 here. Not kept: dropout and the paper's training schedule (the
    caller's); the sequence length is static (the recurrence is unrolled,
    which compiles under XLA and exports to TFLite builtins and ONNX).

    Args:
        vocab_size: decoder vocabulary including padding 0, ``[UNK]`` 1,
            ``[start]`` 2 and ``[end]`` 3.
        max_length: decoder steps ``T`` (the caption's words + ``[end]``).
        input_shape: ``(H, W, 3)``, static.
        attention: ``"soft"``, ``"hard"`` or ``"none"``.
        backbone, backbone_weights: the encoder and its weights (``None``,
            ``"imagenet"`` or a file; see the backbone).
        feature_endpoint: the backbone endpoint read as annotations
            (default: the stride-16 features, as the paper: VGG ``"conv5"``,
            Inception ``"inception_b"`` / ``"inception_resnet_b"``).
        embedding_dim, units, attention_units: word embedding, LSTM and
            ``f_att`` hidden sizes.
        doubly_stochastic, entropy_weight, reinforce_weight, baseline_decay,
        expected_context_rate, expected_context_unit, hard_inference, reward, seed:
            see the decoder.
        location_channels: append each annotation's grid (row, column) to it
            (:class:`LocationChannels`; not in the paper, whose deep VGG
            features carry position implicitly; the tiny variants read
            shallow features and need it to order objects).
        name: model name.

    Inputs: ``[image (batch, H, W, 3) float32, caption (batch, max_length + 1) int32]``.
    Outputs: ``[logits (batch, max_length, vocab_size), attention (batch,
    max_length, L)]``, float32.

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("show_attend_tell_tiny")
        >>> logits, attention = model.predict([np.zeros((1, 64, 64, 3)), np.zeros((1, 17), "int32")], verbose=0)
        >>> logits.shape, attention.shape
        ((1, 16, 16), (1, 16, 256))
    """
    label = name or "show_attend_tell"
    vocab_size = check_int(label, "vocab_size", vocab_size, minimum=5)
    max_length = check_positive_int(label, "max_length", max_length)
    input_shape = check_image_shape(input_shape, label)
    if None in input_shape[:2]:
        raise ValueError(
            message(label, "input_shape", "static (H, W, 3): the annotation grid has a fixed size", input_shape)
        )
    if attention not in ATTENTIONS:
        raise ValueError(message(label, "attention", f"one of {', '.join(map(repr, ATTENTIONS))}", attention))
    embedding_dim = check_positive_int(label, "embedding_dim", embedding_dim)
    units = check_positive_int(label, "units", units)
    attention_units = check_positive_int(label, "attention_units", attention_units)
    check_number(label, "doubly_stochastic", doubly_stochastic, minimum=0)
    location_channels = check_bool(label, "location_channels", location_channels)
    seed = check_optional_int(label, "seed", seed, minimum=0)
    spec = check_backbone(backbone, label)
    check_backbone_weights(backbone_weights, label)
    endpoint = _default_endpoint(spec) if feature_endpoint is None else feature_endpoint
    if endpoint not in spec.strides():
        raise ValueError(message(label, "feature_endpoint", f"one of {sorted(spec.strides())}", feature_endpoint))

    # Built first: its constructor checks the decoder's arguments before any weight exists.
    decoder = AttentionLSTMDecoder(
        units,
        vocab_size,
        attention=attention,
        attention_units=attention_units,
        doubly_stochastic=doubly_stochastic,
        entropy_weight=entropy_weight,
        reinforce_weight=reinforce_weight,
        baseline_decay=baseline_decay,
        expected_context_rate=expected_context_rate,
        expected_context_unit=expected_context_unit,
        hard_inference=hard_inference,
        reward=reward,
        seed=seed,
        name="decoder",
    )
    image = keras.Input(input_shape, name="image")
    caption = keras.Input((max_length + 1,), dtype="int32", name="caption")
    arch = {}
    if spec.family == "vgg16":  # only the stages up to the endpoint: later ones would be unused weights
        stage = int(endpoint[-1])
        arch = {key: tuple(spec.arch.get(key, default))[:stage] for key, default in (("widths", VGG16_WIDTHS),
                                                                                   ("depths", VGG16_DEPTHS))}
    too_small = message(label, "input_shape", f"large enough for {spec.name}'s {endpoint!r} features", input_shape)
    x = spec.preprocessing()(image)
    try:
        features = spec.apply(x, **arch)[endpoint]
    except ValueError as error:  # a pooling or valid convolution left nothing
        raise ValueError(too_small) from error
    if spec.family != "vgg16":
        # A nested backbone model (Inception): its weights are loaded whole, then only the part up to
        # the endpoint is kept, so the head owns no weights that nothing uses.
        nested = features._keras_history.operation
        spec.load_weights(nested, backbone_weights)
        features = keras.Model(nested.input, nested.output[endpoint], name=nested.name)(x)
    grid = tuple(features.shape[1:3])
    if None in grid or 0 in grid:
        raise ValueError(too_small)
    if location_channels:
        features = LocationChannels(name="location_channels")(features)
    annotations = keras.layers.Reshape((grid[0] * grid[1], features.shape[-1]), name="to_annotations")(features)
    mean = keras.layers.GlobalAveragePooling1D(name="mean_annotation")(annotations)
    initial_state = keras.layers.Concatenate(name="init_state")([
        keras.layers.Dense(units, activation="tanh", name="init_h")(mean),
        keras.layers.Dense(units, activation="tanh", name="init_c")(mean),
    ])
    decoder_ids, targets = CaptionSplit(name="caption_split")(caption)
    words = keras.layers.Embedding(vocab_size, embedding_dim, name="word_embedding")(decoder_ids)
    logits, alphas, _ = decoder([words, annotations, initial_state, targets])
    outputs = [
        keras.layers.Identity(name="logits", dtype="float32")(logits),
        keras.layers.Identity(name="attention", dtype="float32")(alphas),
    ]
    model = keras.Model([image, caption], outputs, name=label)
    if spec.family == "vgg16":
        spec.load_weights(model, backbone_weights)
    return model


def feature_grid(model) -> tuple[int, int]:
    """``(h, w)`` of a ``show_attend_tell`` model's annotation grid (``L = h * w``)."""
    try:
        layer = model.get_layer("to_annotations")
    except ValueError:
        raise ValueError(f"feature_grid: {model.name!r} is not a show_attend_tell model (no 'to_annotations' layer).") from None
    shape = layer.input.shape
    return int(shape[1]), int(shape[2])


PAPER_DEFAULTS = dict(vocab_size=10000, max_length=20, input_shape=(224, 224, 3), embedding_dim=512, units=1000,
                      attention_units=512)


def _tiny_defaults():
    from keras_segattn.data.shape_captions import VOCABULARY, caption_length

    return dict(
        vocab_size=len(VOCABULARY) + 2,  # + padding and [UNK]
        max_length=caption_length(4) + 1,
        input_shape=(64, 64, 3),
        backbone="vgg16_tiny",
        # Stride 4 (a 16 x 16 grid, 4 x 4 locations per board cell) and a 27-pixel receptive field:
        # away from the border the features say what, not where, so the annotations carry their
        # position (measured with conv4's 60-pixel field instead: the no-attention baseline learned
        # the boards as well as soft attention, token accuracy 0.99 after 1,400 steps).
        feature_endpoint="conv3",
        location_channels=True,
        embedding_dim=64,
        units=192,
        attention_units=96,
    )


#: The tiny variants: sized for the embedded shape-captions data (64 x 64 boards).
TINY = _tiny_defaults()

# Measured on show_attend_tell_tiny (32 embedded test boards, teacher forcing).
_INT8_UNSUPPORTED = (
    "full-integer int8 of the attention and LSTM decoder misses the gate: argmax-word agreement 0.93 for "
    "show_attend_tell_tiny and 0.79 for show_attend_tell_hard_tiny after the export matrix's quick training (gate: "
    "0.95; the 16 unrolled steps requantise the LSTM state and the softmax over 256 locations at every word). "
    "Use quantize='dynamic' (int8 weights, float activations): agreement 0.996 and 0.973, it passes the gate."
)
register_model(
    "show_attend_tell",
    family="show_attend_tell",
    task="captioning",
    paper=PAPER,
    export_unsupported={"tflite_int8": _INT8_UNSUPPORTED},
)(show_attend_tell)
register_variant("show_attend_tell_tiny", "show_attend_tell", tiny=True, **TINY)
register_variant("show_attend_tell_hard_tiny", "show_attend_tell", tiny=True, **TINY, attention="hard")
