"""``Captioner``: images in, captions with one attention map per word out (greedy or beam search)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.models.bahdanau_nmt.beam_search import beam_search
from keras_segattn.models.bahdanau_nmt.inference import _NamedOutput
from keras_segattn.models.show_attend_tell.model import LocationMask, feature_grid
from keras_segattn.validation import check_number, check_positive_int, message

__all__ = ["Captioner", "Caption", "captioner_models"]


def captioner_models(model):
    """The encoder and one decoder step of a trained ``show_attend_tell`` (shared weights).

    Returns ``(encoder, decoder_step)`` Keras models with the translator's
    interface (so one beam search, one export and one reference loop serve
    both):

    - ``encoder``: ``image (batch, H, W, 3)`` -> ``[annotations (batch, L, D),
      keys (batch, L, A), initial_state (batch, 2 * units) = [h_0; c_0],
      source_mask (batch, L)]`` (all ones: every location may be attended);
    - ``decoder_step``: ``[token (batch,) int32, state, annotations, keys,
      source_mask]`` -> ``[logits (batch, vocab), next_state, alignment
      (batch, L)]``.

    Driving them from ``[start]`` with the true previous words reproduces the
    training model's outputs in inference mode (tested).
    """
    for layer in ("caption_split", "to_annotations", "init_state", "decoder", "word_embedding"):
        try:
            model.get_layer(layer)
        except ValueError:
            raise ValueError(
                f"captioner_models: {model.name!r} is not a show_attend_tell model (no layer {layer!r})."
            ) from None
    decoder = model.get_layer("decoder")
    image = model.inputs[0]
    annotations = model.get_layer("to_annotations").output
    initial_state = model.get_layer("init_state").output
    # U a_i once per image; without attention the keys are the annotations (their mean is the context).
    keys = annotations if decoder.attention is None else decoder.attention.project_keys(annotations)
    mask = LocationMask(name="location_mask")(annotations)
    outputs = [
        _NamedOutput(name=n, dtype="float32")(t)
        for n, t in (("annotations", annotations), ("keys", keys), ("initial_state", initial_state), ("source_mask", mask))
    ]
    encoder = keras.Model(image, outputs, name=f"{model.name}_encoder")

    token = keras.Input((), dtype="int32", name="token")
    state = keras.Input((2 * decoder.units,), name="state")
    annotations_in = keras.Input(tuple(annotations.shape[1:]), name="annotations")
    keys_in = keras.Input(tuple(keys.shape[1:]), name="keys")
    mask_in = keras.Input((annotations.shape[1],), name="source_mask")
    word = model.get_layer("word_embedding")(token)
    logits, next_state, alpha = decoder([word, annotations_in, state, mask_in, keys_in])
    step_outputs = [
        keras.layers.Identity(name="logits", dtype="float32")(logits),
        keras.layers.Identity(name="next_state", dtype="float32")(next_state),
        keras.layers.Identity(name="alignment", dtype="float32")(alpha),
    ]
    decoder_step = keras.Model(
        [token, state, annotations_in, keys_in, mask_in], step_outputs, name=f"{model.name}_decoder_step"
    )
    return encoder, decoder_step


@dataclasses.dataclass
class Caption:
    """One image's caption.

    ``tokens``: the generated words (ending with ``[end]`` when the caption
    finished within ``max_length`` words); ``attention[t]``: the ``(h, w)``
    attention map over the annotation grid when ``tokens[t]`` was emitted
    (for hard attention: the distribution its location is sampled from, so
    its mass in a box is the expected share of sampled locations there);
    ``score``: summed log-probability.
    """

    text: str
    tokens: list
    attention: np.ndarray
    score: float


class Captioner:
    """Caption images with a trained ``show_attend_tell`` (greedy or beam search).

    Args:
        model: the training model (``build_model("show_attend_tell_tiny")`` after ``fit``).
        vocabulary: the decoder's tokens without padding ``""`` and
            ``[UNK]``, starting with ``[start]``, ``[end]`` (ids 2, 3, ...);
            default: the embedded shape-captions vocabulary.

    Images are ``(N, H, W, 3)`` raw RGB in [0, 255] at the model's size (a
    single ``(H, W, 3)`` image is accepted too); another size, an empty image,
    or non-finite values raise a ``ValueError`` naming what was expected.
    Captions stop at ``[end]`` or after the model's ``max_length`` words (then
    ``tokens`` has no ``[end]``).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> from keras_segattn.models.show_attend_tell import Captioner
        >>> captioner = Captioner(ksa.build_model("show_attend_tell_tiny"))  # untrained
        >>> caption = captioner.caption(np.zeros((1, 64, 64, 3)), beam_width=2)[0]
        >>> caption.attention.shape == (len(caption.tokens), 16, 16)
        True
    """

    def __init__(self, model, vocabulary=None):
        from keras_segattn.data.shape_captions import VOCABULARY

        vocabulary = list(VOCABULARY if vocabulary is None else vocabulary)
        if vocabulary[:2] != ["[start]", "[end]"]:
            raise ValueError(message("Captioner", "vocabulary", "a list starting with '[start]', '[end]'", vocabulary[:4]))
        self.model = model
        self.encoder, self.decoder_step = captioner_models(model)
        vocab_size = self.decoder_step.outputs[0].shape[-1]
        if len(vocabulary) + 2 != vocab_size:
            raise ValueError(
                message("Captioner", "vocabulary", f"{vocab_size - 2} tokens (the model's vocab_size minus padding "
                        "and [UNK])", f"{len(vocabulary)} tokens")
            )
        self.vocabulary = vocabulary
        self.tokens = ["", "[UNK]", *vocabulary]
        self.max_length = int(model.inputs[1].shape[-1]) - 1
        self.grid = feature_grid(model)
        self.image_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self._decoders = {}

    def check_images(self, images) -> np.ndarray:
        """``images`` as float32 ``(N, H, W, 3)``, or a clear error."""
        images = np.asarray(images, np.float32)
        if images.ndim == 3:
            images = images[None]
        expected = f"raw RGB images of shape (N, {', '.join(map(str, self.image_shape))}) (this model's size; resize first)"
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            raise ValueError(message("Captioner", "images", expected, f"shape {images.shape}"))
        if not np.all(np.isfinite(images)):
            raise ValueError(message("Captioner", "images", "finite", "NaN/Inf values"))
        return images

    def decode(self, images, *, beam_width=1, length_penalty=0.0):
        """Token ids and attention as NumPy: ``tokens (N, T)``, ``alignment (N, T, L)``, ``score``, ``length``."""
        images = self.check_images(images)
        # Checked before int()/float(), which would turn beam_width=True into 1 and 2.5 into 2.
        key = (check_positive_int("beam_search", "beam_width", beam_width),
               check_number("beam_search", "length_penalty", length_penalty, minimum=0))
        if key not in self._decoders:
            self._decoders[key] = tf.function(
                lambda x: beam_search(
                    self.encoder, self.decoder_step, x, beam_width=key[0], length_penalty=key[1], max_steps=self.max_length
                ),
                reduce_retracing=True,
            )
        if not len(images):
            steps, locations = self.max_length, self.grid[0] * self.grid[1]
            return {"tokens": np.zeros((0, steps), np.int32), "alignment": np.zeros((0, steps, locations), np.float32),
                    "score": np.zeros(0, np.float32), "length": np.zeros(0, np.int32)}
        out = [self._decoders[key](tf.constant(images[i : i + 64])) for i in range(0, len(images), 64)]
        return {k: np.concatenate([o[k].numpy() for o in out]) for k in out[0]}

    def caption(self, images, *, beam_width=1, length_penalty=0.0) -> list[Caption]:
        """Captions of ``images`` with one ``(h, w)`` attention map per word."""
        decoded = self.decode(images, beam_width=beam_width, length_penalty=length_penalty)
        results = []
        for tokens, alignment, score, length in zip(
            decoded["tokens"], decoded["alignment"], decoded["score"], decoded["length"]
        ):
            words = [self.tokens[t] for t in tokens[:length]]
            text = " ".join(w for w in words if w != "[end]")
            attention = alignment[:length].reshape(length, *self.grid)
            results.append(Caption(text, words, attention, float(score)))
        return results
