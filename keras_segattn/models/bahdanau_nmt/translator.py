"""``Translator``: raw strings in, translations and alignment matrices out (greedy or beam search)."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.models.bahdanau_nmt.beam_search import beam_search
from keras_segattn.models.bahdanau_nmt.inference import inference_models
from keras_segattn.validation import check_number, check_optional_int, check_positive_int

__all__ = ["Translator", "Translation"]


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
        # Checked before int()/float() below, which would turn beam_width=True into 1 and 2.5 into 2.
        beam_width = check_positive_int("beam_search", "beam_width", beam_width)
        length_penalty = check_number("beam_search", "length_penalty", length_penalty, minimum=0)
        max_steps = check_optional_int("beam_search", "max_steps", max_steps, minimum=1)
        batch_size = check_positive_int("decode_ids", "batch_size", batch_size)
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
        """Write ``model.keras`` and ``translator.json`` (vocabularies, UTF-8) to ``directory``.

        Each file is written under a temporary name and then renamed, so an
        interrupted save leaves the previous files of ``directory`` intact.
        """
        os.makedirs(directory, exist_ok=True)
        model_path = os.path.join(directory, "model.keras")
        vocab_path = os.path.join(directory, "translator.json")
        tmp_model = os.path.join(directory, ".model.tmp.keras")
        tmp_vocab = vocab_path + ".tmp"
        try:
            self.model.save(tmp_model)
            # Explicit UTF-8: the vocabularies hold non-ASCII words ("niño") and
            # the locale's default encoding may be ASCII (or differ at load time).
            with open(tmp_vocab, "w", encoding="utf-8") as fh:
                json.dump(
                    {"source_vocabulary": self.source_vocabulary, "target_vocabulary": self.target_vocabulary},
                    fh,
                    ensure_ascii=False,
                )
            os.replace(tmp_model, model_path)
            os.replace(tmp_vocab, vocab_path)
        finally:
            for path in (tmp_model, tmp_vocab):
                if os.path.exists(path):
                    os.remove(path)
        return directory

    @classmethod
    def load(cls, directory, *, compile=True, safe_mode=True):
        """The :class:`Translator` saved by :meth:`save` (no registry needed).

        ``compile`` and ``safe_mode`` are passed to ``keras.saving.load_model``;
        ``import keras_segattn`` registers every class the model needs.
        """
        model = keras.saving.load_model(os.path.join(directory, "model.keras"), compile=compile, safe_mode=safe_mode)
        with open(os.path.join(directory, "translator.json"), encoding="utf-8") as fh:
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
