"""RNNsearch: neural machine translation with soft attention, and its Translator.

Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to
Align and Translate", ICLR 2015; Luong, Pham & Manning, "Effective
Approaches to Attention-based Neural Machine Translation", EMNLP 2015 for the
multiplicative scores.

The registered model is the training graph (teacher forcing through
``model.fit``). Its single input packs a sentence pair as token ids,
``tokens (batch, 2, L)``: row 0 the source, row 1 the decoder input ``[start]
y_1 ... y_n`` (0-padded). It returns ``logits (batch, L, target_vocab)`` for
``y_1 ... y_n [end]`` and the alignment matrix ``alignment (batch, L, L)``
(``alignment[b, i, j]`` = weight of source token ``j`` for output token ``i``).
One packed input (rather than two) keeps the model usable by every tool that
feeds a single array (the shared test helper, ``export()``, the CLI).

:class:`Translator` turns the trained model into a translator of raw strings:
``keras.layers.TextVectorization`` in front, greedy or beam search (beam
width, length penalty) behind, returning translations with their alignment
matrices. :mod:`keras_segattn.export.seq2seq` exports it: a SavedModel with a
``translate(strings)`` signature, and the encoder and one decoder step (explicit
state) as separate TFLite/ONNX files with a reference decode loop.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.layers import AttentionGRUDecoder, Maxout
from keras_segattn.layers.attention_gru_decoder import ATTENTIONS
from keras_segattn.layers.luong_attention import SCORES
from keras_segattn.models._beam_search import beam_search
from keras_segattn.registry import register_model, register_variant

__all__ = [
    "bahdanau_nmt",
    "PAPER",
    "TINY",
    "PairSplit",
    "PaddingMask",
    "inference_models",
    "Translator",
    "Translation",
]

PAPER = (
    "Bahdanau, Cho & Bengio, Neural Machine Translation by Jointly Learning to Align and "
    "Translate, ICLR 2015"
)


@keras.saving.register_keras_serializable(package="keras_segattn")
class PairSplit(keras.layers.Layer):
    """``tokens (batch, 2, L)`` -> ``(source_ids (batch, L), decoder_ids (batch, L))``."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] != 2:
            raise ValueError(
                f"PairSplit: tokens must have shape (batch, 2, length), received {tuple(input_shape)}."
            )
        return (input_shape[0], input_shape[2]), (input_shape[0], input_shape[2])

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape(inputs.shape)
        return tuple(keras.KerasTensor(s, dtype=inputs.dtype) for s in shapes)

    def call(self, tokens):
        return tokens[:, 0], tokens[:, 1]


@keras.saving.register_keras_serializable(package="keras_segattn")
class PaddingMask(keras.layers.Layer):
    """Token ids -> float mask, 1.0 at real tokens and 0.0 at padding (id 0)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def call(self, ids):
        return tf.cast(tf.not_equal(ids, tf.zeros_like(ids)), tf.float32)


def _check_int(value, minimum, model, argument):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{model}: {argument} must be an int >= {minimum}, received {value!r}.")
    return value


def bahdanau_nmt(
    source_vocab_size=30000,
    target_vocab_size=30000,
    max_length=50,
    embedding_dim=620,
    encoder_units=1000,
    decoder_units=1000,
    attention_units=1000,
    maxout_units=500,
    attention="bahdanau",
    score="general",
    name=None,
):
    """RNNsearch (paper defaults: RNNsearch-50's sizes) as a teacher-forcing training graph.

    - Encoder: source embedding (``mask_zero``) and a bidirectional GRU; the
      annotation of word ``j`` is ``h_j = [h_j^fwd; h_j^bwd]`` (``2 *
      encoder_units``).
    - Initial decoder state ``s_0 = tanh(W_s h_1^bwd)`` (appendix A.2.2).
    - Decoder: :class:`~keras_segattn.layers.AttentionGRUDecoder`, additive
      (Bahdanau) attention ``e_ij = v^T tanh(W s_{i-1} + U h_j)`` or Luong's
      ``dot``/``general``/``concat`` scores with ``attention="luong"``.
    - Deep output: ``t~_i = U_o s_i + V_o E y_{i-1} + C_o c_i`` (one dense
      layer on the concatenation), maxout over pairs to ``maxout_units``, then
      the vocabulary projection; ``maxout_units=None`` drops the maxout layer
      (logits straight from ``[s_i; E y_{i-1}; c_i]``).

    Kept from the paper: all sizes, the bidirectional annotation, the
    initialisation of ``s_0``, the alignment model, the GRU with the reset
    gate before the recurrent product, maxout deep output. Not kept: the
    paper's sampled-softmax-free 30k shortlist is a plain softmax here; the
    paper's ``U_o s_{i-1}`` in the appendix is ``s_i`` as in its eq. (4);
    training details (Adadelta, gradient clipping, sentence-length
    bucketing) are the caller's choice. The sequence length ``max_length``
    is static: the recurrences are unrolled, which compiles under XLA and
    exports to TFLite builtins and ONNX without loops.

    Args:
        source_vocab_size, target_vocab_size: vocabulary sizes including the
            padding id 0 and ``[UNK]`` (the target also ``[start]``, ``[end]``).
        max_length: tokens per sentence (source; target + ``[end]``).
        embedding_dim: word embedding size (620).
        encoder_units: GRU units per direction (1000).
        decoder_units: decoder GRU units (1000).
        attention_units: hidden size of the additive alignment model (1000;
            Luong ``concat``: its hidden size; ignored by ``dot``/``general``).
        maxout_units: maxout layer size (500) or ``None``.
        attention: ``"bahdanau"`` or ``"luong"``.
        score: Luong score (``"dot"`` needs ``decoder_units == 2 *
            encoder_units``), ``"general"`` or ``"concat"``.
        name: model name.

    Input: ``tokens (batch, 2, max_length)`` int32 (see the module docstring).
    Outputs: ``[logits (batch, max_length, target_vocab_size), alignment
    (batch, max_length, max_length)]``, both float32.

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("bahdanau_nmt_tiny")
        >>> logits, alignment = model.predict(np.zeros((1, 2, 14), "int32"), verbose=0)
        >>> logits.shape, alignment.shape
        ((1, 14, 118), (1, 14, 14))
    """
    label = name or "bahdanau_nmt"
    _check_int(source_vocab_size, 3, label, "source_vocab_size")
    _check_int(target_vocab_size, 5, label, "target_vocab_size")
    _check_int(max_length, 2, label, "max_length")
    for argument, value in (
        ("embedding_dim", embedding_dim),
        ("encoder_units", encoder_units),
        ("decoder_units", decoder_units),
    ):
        _check_int(value, 1, label, argument)
    if attention not in ATTENTIONS:
        raise ValueError(f"{label}: attention must be one of {ATTENTIONS}, received {attention!r}.")
    if score not in SCORES:
        raise ValueError(f"{label}: score must be one of {SCORES}, received {score!r}.")
    if attention == "luong" and score == "dot" and decoder_units != 2 * encoder_units:
        raise ValueError(
            f"{label}: Luong's dot score compares the decoder state with the annotations, so "
            f"decoder_units must equal 2 * encoder_units = {2 * encoder_units}, received "
            f"decoder_units={decoder_units}. Use score='general' or change the sizes."
        )
    uses_attention_units = attention == "bahdanau" or score == "concat"
    if uses_attention_units:
        _check_int(attention_units, 1, label, "attention_units")
    if maxout_units is not None:
        _check_int(maxout_units, 1, label, "maxout_units")

    tokens = keras.Input((2, max_length), dtype="int32", name="tokens")
    source_ids, decoder_ids = PairSplit(name="pair_split")(tokens)
    source_mask = PaddingMask(name="padding_mask")(source_ids)
    x = keras.layers.Embedding(source_vocab_size, embedding_dim, mask_zero=True, name="source_embedding")(
        source_ids
    )
    gru = keras.layers.GRU(
        encoder_units, return_sequences=True, return_state=True, unroll=True, reset_after=False
    )
    annotations, _, backward = keras.layers.Bidirectional(gru, merge_mode="concat", name="encoder")(x)
    initial_state = keras.layers.Dense(decoder_units, activation="tanh", name="init_state")(backward)
    y = keras.layers.Embedding(target_vocab_size, embedding_dim, name="target_embedding")(decoder_ids)
    decoder = AttentionGRUDecoder(
        decoder_units,
        attention=attention,
        attention_units=attention_units if uses_attention_units else None,
        score=score,
        name="decoder",
    )
    states, contexts, alignments = decoder([y, annotations, initial_state, source_mask])
    logits = _output_head(states, y, contexts, maxout_units, target_vocab_size)
    logits = keras.layers.Identity(name="logits", dtype="float32")(logits)
    alignment = keras.layers.Identity(name="alignment", dtype="float32")(alignments)
    return keras.Model(tokens, [logits, alignment], name=label)


def _output_head(states, y, contexts, maxout_units, target_vocab_size, layers=None):
    """Deep output; with ``layers`` (a trained model) its layers are reused."""
    get = (lambda name, make: layers.get_layer(name)) if layers is not None else (lambda name, make: make())
    t = get("deep_output_inputs", lambda: keras.layers.Concatenate(name="deep_output_inputs"))([states, y, contexts])
    if maxout_units is not None:
        t = get("deep_output", lambda: keras.layers.Dense(2 * maxout_units, name="deep_output"))(t)
        t = get("maxout", lambda: Maxout(2, name="maxout"))(t)
    return get("output_projection", lambda: keras.layers.Dense(target_vocab_size, name="output_projection"))(t)


PAPER_DEFAULTS = dict(
    source_vocab_size=30000,
    target_vocab_size=30000,
    max_length=50,
    embedding_dim=620,
    encoder_units=1000,
    decoder_units=1000,
    attention_units=1000,
    maxout_units=500,
)


def _tiny_defaults():
    from keras_segattn.data.translation import DEFAULT_MAX_LENGTH, translation_vocabulary

    source, target = translation_vocabulary()
    return dict(
        source_vocab_size=len(source) + 2,  # + padding and [UNK]
        target_vocab_size=len(target) + 2,
        max_length=DEFAULT_MAX_LENGTH,
        embedding_dim=64,
        encoder_units=64,
        decoder_units=128,
        attention_units=64,
        maxout_units=64,
    )


#: The tiny variant: sized for the embedded Spanish -> English corpus.
TINY = _tiny_defaults()

register_model("bahdanau_nmt", family="attention_nmt", task="translation", paper=PAPER)(bahdanau_nmt)
register_variant("bahdanau_nmt_tiny", "bahdanau_nmt", tiny=True, **TINY)


# ------------------------------------------------------------ inference graphs
def _has_maxout(model):
    try:
        model.get_layer("maxout")
        return True
    except ValueError:
        return False


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


# ------------------------------------------------------------------ Translator
@dataclasses.dataclass
class Translation:
    """One translated sentence.

    ``alignment[i, j]``: weight of ``source_tokens[j]`` when emitting
    ``tokens[i]`` (the last token is ``[end]`` when the sentence finished).
    ``unknown`` lists source words outside the vocabulary (read as ``[UNK]``);
    ``truncated`` says the source had more than ``max_length`` tokens and only
    the first ``max_length`` were translated.
    """

    source: str
    text: str
    tokens: list
    source_tokens: list
    alignment: np.ndarray
    score: float
    truncated: bool = False
    unknown: list = dataclasses.field(default_factory=list)


class Translator:
    """Translate raw strings with a trained ``bahdanau_nmt`` (greedy or beam search).

    Args:
        model: the training model (``build_model("bahdanau_nmt_tiny")`` after ``fit``).
        source_vocabulary, target_vocabulary: token lists without the padding
            ``""`` and ``[UNK]`` (the target starting with ``[start]``,
            ``[end]``); default: the embedded corpus'
            (:func:`keras_segattn.data.translation_vocabulary`).

    Defined behaviour on awkward input: an empty (or punctuation-only) string
    translates to ``""`` with an empty alignment; words outside the vocabulary
    are read as ``[UNK]`` (listed in ``Translation.unknown``, with a warning);
    a source longer than ``max_length`` tokens is truncated to its first
    ``max_length`` tokens with a warning and ``Translation.truncated=True``.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.models.bahdanau_nmt import Translator
        >>> translator = Translator(ksa.build_model("bahdanau_nmt_tiny"))  # untrained
        >>> result = translator.translate(["mi gato es el mejor"], beam_width=2)[0]
        >>> result.alignment.shape == (len(result.tokens), 5)
        True
    """

    def __init__(self, model, source_vocabulary=None, target_vocabulary=None):
        from keras_segattn.data.translation import (
            END_TOKEN,
            START_TOKEN,
            text_vectorizer,
            translation_vocabulary,
        )

        if source_vocabulary is None or target_vocabulary is None:
            default_source, default_target = translation_vocabulary()
            source_vocabulary = default_source if source_vocabulary is None else source_vocabulary
            target_vocabulary = default_target if target_vocabulary is None else target_vocabulary
        source_vocabulary, target_vocabulary = list(source_vocabulary), list(target_vocabulary)
        if target_vocabulary[:2] != [START_TOKEN, END_TOKEN]:
            raise ValueError(
                f"Translator: target_vocabulary must start with {START_TOKEN!r}, {END_TOKEN!r} (ids 2 and 3), "
                f"received {target_vocabulary[:2]!r}."
            )
        self.model = model
        self.encoder, self.decoder_step = inference_models(model)
        self.max_length = int(model.inputs[0].shape[-1])
        sizes = {
            "source": (model.get_layer("source_embedding").input_dim, len(source_vocabulary) + 2),
            "target": (model.get_layer("target_embedding").input_dim, len(target_vocabulary) + 2),
        }
        for side, (model_size, vocab_size) in sizes.items():
            if model_size != vocab_size:
                raise ValueError(
                    f"Translator: the model's {side} vocabulary has {model_size} ids but the {side} "
                    f"vocabulary gives {vocab_size} (its {vocab_size - 2} tokens + padding + [UNK]). "
                    f"Build the model with {side}_vocab_size={vocab_size}."
                )
        self.source_vocabulary = source_vocabulary
        self.target_vocabulary = target_vocabulary
        self.source_vectorizer = text_vectorizer(source_vocabulary, name="source_vectorizer")
        self.source_vectorizer(tf.constant([""]))  # build it (exporters track built layers only)
        self._source_lookup = {t: i + 2 for i, t in enumerate(source_vocabulary)}
        self._target_tokens = ["", "[UNK]"] + target_vocabulary
        self._compiled = {}

    # ------------------------------------------------------------- encoding
    def encode(self, texts, *, warn=True):
        """``(source_ids (N, L) int32, source_tokens, truncated, unknown)`` for raw strings."""
        from keras_segattn.data.translation import standardize

        texts = _as_text_list(texts)
        standardized = standardize(tf.constant(texts, tf.string)).numpy() if texts else []
        ids = np.zeros((len(texts), self.max_length), np.int32)
        all_tokens, truncated, unknown = [], [], []
        for i, text in enumerate(standardized):
            tokens = text.decode("utf-8").split()
            truncated.append(len(tokens) > self.max_length)
            tokens = tokens[: self.max_length]
            row = [self._source_lookup.get(t, 1) for t in tokens]
            ids[i, : len(row)] = row
            all_tokens.append(tokens)
            unknown.append([t for t in tokens if t not in self._source_lookup])
        if warn and any(truncated):
            which = [texts[i] for i, t in enumerate(truncated) if t]
            warnings.warn(
                f"Translator: {len(which)} input(s) have more than max_length={self.max_length} tokens; "
                f"only their first {self.max_length} tokens are translated: {which[:3]!r}",
                stacklevel=3,
            )
        if warn and any(unknown):
            words = sorted({w for u in unknown for w in u})
            warnings.warn(
                f"Translator: {len(words)} word(s) are not in the source vocabulary and are read as "
                f"[UNK]: {words[:10]!r}",
                stacklevel=3,
            )
        return ids, all_tokens, truncated, unknown

    # ------------------------------------------------------------- decoding
    def decode_ids(self, source_ids, *, beam_width=1, length_penalty=0.0, max_steps=None, batch_size=64):
        """Greedy (``beam_width=1``) or beam-search decoding of id arrays.

        Returns NumPy ``tokens (N, T)``, ``alignment (N, T, L)``, ``score (N,)``,
        ``length (N,)`` with ``T = max_steps`` (default ``max_length``).
        """
        source_ids = np.asarray(source_ids, np.int32)
        if source_ids.ndim != 2 or source_ids.shape[1] != self.max_length:
            raise ValueError(
                f"decode_ids: source_ids must have shape (batch, {self.max_length}), received {source_ids.shape}."
            )
        key = (int(beam_width), float(length_penalty), int(max_steps or self.max_length))
        if key not in self._compiled:
            # Validate the arguments eagerly, then trace once per configuration.
            beam_search_args = dict(beam_width=beam_width, length_penalty=length_penalty, max_steps=key[2])
            beam_search(self.encoder, self.decoder_step, source_ids[:0], **beam_search_args)
            self._compiled[key] = tf.function(
                lambda ids: beam_search(self.encoder, self.decoder_step, ids, **beam_search_args),
                input_signature=[tf.TensorSpec([None, self.max_length], tf.int32)],
                autograph=False,
            )
        fn = self._compiled[key]
        parts = [fn(tf.constant(source_ids[i : i + batch_size])) for i in range(0, len(source_ids), batch_size)]
        if not parts:
            parts = [fn(tf.constant(source_ids))]
        return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}

    def tokens_to_text(self, ids):
        """Target token ids (stopping at ``[end]``/padding) -> (tokens, detokenized text)."""
        from keras_segattn.data.translation import END_ID, PAD_ID, detokenize

        tokens = []
        for i in ids:
            if i in (END_ID, PAD_ID):
                break
            tokens.append(self._target_tokens[int(i)])
        return tokens, detokenize(tokens)

    def translate(self, texts, *, beam_width=1, length_penalty=0.0, max_steps=None):
        """Translate raw strings; returns one :class:`Translation` per input."""
        texts = _as_text_list(texts)
        ids, source_tokens, truncated, unknown = self.encode(texts)
        decoded = self.decode_ids(ids, beam_width=beam_width, length_penalty=length_penalty, max_steps=max_steps)
        results = []
        for i, text in enumerate(texts):
            length = int(decoded["length"][i])
            tokens, out = self.tokens_to_text(decoded["tokens"][i][:length])
            emitted = [self._target_tokens[int(t)] for t in decoded["tokens"][i][:length]]
            alignment = decoded["alignment"][i][:length, : len(source_tokens[i])]
            results.append(
                Translation(
                    source=text,
                    text=out,
                    tokens=emitted,
                    source_tokens=source_tokens[i],
                    alignment=alignment,
                    score=float(decoded["score"][i]),
                    truncated=truncated[i],
                    unknown=unknown[i],
                )
            )
        return results

    # ---------------------------------------------------------- persistence
    def save(self, directory):
        """Write ``model.keras`` and ``translator.json`` (vocabularies) to ``directory``."""
        os.makedirs(directory, exist_ok=True)
        self.model.save(os.path.join(directory, "model.keras"))
        with open(os.path.join(directory, "translator.json"), "w") as fh:
            json.dump(
                {"source_vocabulary": self.source_vocabulary, "target_vocabulary": self.target_vocabulary},
                fh,
                ensure_ascii=False,
            )
        return directory

    @classmethod
    def load(cls, directory):
        """The :class:`Translator` saved by :meth:`save` (no registry needed)."""
        model = keras.saving.load_model(os.path.join(directory, "model.keras"))
        with open(os.path.join(directory, "translator.json")) as fh:
            vocab = json.load(fh)
        return cls(model, vocab["source_vocabulary"], vocab["target_vocabulary"])


def _as_text_list(texts):
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"texts must be a string or a list of strings, received {type(texts).__name__}.")
    out = []
    for t in texts:
        if isinstance(t, bytes):
            t = t.decode("utf-8")
        if not isinstance(t, str):
            raise TypeError(f"texts must be strings, received an element of type {type(t).__name__}: {t!r}.")
        out.append(t)
    return out
