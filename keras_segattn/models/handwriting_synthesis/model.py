"""Handwriting synthesis (Graves 2013): the teacher-forced training graph.

Graves, "Generating Sequences With Recurrent Neural Networks", arXiv
1308.0850, 2013, section 5.

The registered model takes ``text (batch, U)`` int32 character ids (the text,
then ``[end]``, 0-padded; see :mod:`keras_segattn.data.handwriting`) and
``strokes (batch, T + 1, 3)`` pen points ``(dx, dy, end_of_stroke)`` whose
first row is the start point, and returns the mixture density parameters
``(batch, T, 6M + 1)`` of the next point at every step (targets
``strokes[:, 1:]``) and the window ``phi (batch, T, U)``: the attention over
the characters at every pen point. The unconditional prediction network
(``window_components=0``, section 4) takes only ``strokes`` and returns only
the parameters. :class:`~keras_segattn.models.handwriting_synthesis.Writer`
samples handwriting from a trained model.
"""

from __future__ import annotations

import keras

from keras_segattn.layers import MixtureDensityOutput
from keras_segattn.models.handwriting_synthesis.synthesis_rnn import SynthesisRNN
from keras_segattn.registry import register_model, register_variant
from keras_segattn.training.mixture_density import MixtureDensityLoss  # noqa: F401  (compiled models reload by name)
from keras_segattn.validation import check_int, check_optional_int, check_positive_int, message

__all__ = ["handwriting_synthesis", "StrokeInputs", "PAPER", "PAPER_DEFAULTS", "TINY"]

PAPER = "Graves, Generating Sequences With Recurrent Neural Networks, arXiv:1308.0850, 2013"


@keras.saving.register_keras_serializable(package="keras_segattn")
class StrokeInputs(keras.layers.Layer):
    """``strokes (batch, T + 1, 3)`` -> the network's inputs ``strokes[:, :-1]`` (it predicts ``strokes[:, 1:]``)."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] != 3 or (input_shape[1] is not None and input_shape[1] < 2):
            raise ValueError(
                message("StrokeInputs", "strokes", "of shape (batch, T + 1, 3) with T >= 1", f"shape {tuple(input_shape)}")
            )
        steps = None if input_shape[1] is None else input_shape[1] - 1
        return (input_shape[0], steps, 3)

    def call(self, strokes):
        return strokes[:, :-1]


def handwriting_synthesis(
    vocab_size=29,
    max_text_length=None,
    max_points=None,
    units=400,
    num_layers=3,
    num_mixtures=20,
    window_components=10,
    initial_step=0.05,
    name=None,
):
    """Graves' handwriting synthesis network (or, with ``window_components=0``, the prediction network).

    Args:
        vocab_size: character ids (padding, ``[end]`` and the alphabet: 29
            for the embedded data's lowercase letters and space).
        max_text_length: ``U`` (characters + ``[end]``); ``None``: any.
        max_points: ``T`` (pen points predicted); ``None``: any.
        units: LSTM size (the paper: 400).
        num_layers: stacked LSTMs (the paper: 3).
        num_mixtures: ``M`` bivariate Gaussians (the paper: 20).
        window_components: ``K`` window Gaussians (the paper: 10); 0 gives
            the unconditional network (no text input), the baseline of the
            legibility score.
        initial_step: the window's stride at initialisation (characters per point).
        name: model name.

    Returns:
        A ``keras.Model`` ``[text (B, U), strokes (B, T + 1, 3)]`` ->
        ``[mixture (B, T, 6M + 1), phi (B, T, U)]`` (unconditional:
        ``strokes`` -> ``mixture``).

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("handwriting_synthesis_tiny")
        >>> [tuple(o.shape) for o in model.outputs]
        [(None, 96, 61), (None, 96, 4)]
    """
    where = "handwriting_synthesis"
    vocab_size = check_int(where, "vocab_size", vocab_size, minimum=3)
    max_text_length = check_optional_int(where, "max_text_length", max_text_length, minimum=1)
    max_points = check_optional_int(where, "max_points", max_points, minimum=1)
    units = check_positive_int(where, "units", units)
    num_layers = check_positive_int(where, "num_layers", num_layers)
    num_mixtures = check_positive_int(where, "num_mixtures", num_mixtures)
    window_components = check_int(where, "window_components", window_components, minimum=0)
    conditional = window_components > 0
    label = name or ("handwriting_synthesis" if conditional else "handwriting_prediction")
    strokes = keras.Input((None if max_points is None else max_points + 1, 3), name="strokes")
    inputs = StrokeInputs(name="stroke_inputs")(strokes)
    rnn = SynthesisRNN(units, num_layers=num_layers, window_components=window_components, vocab_size=vocab_size,
                       initial_step=initial_step, name="synthesis")
    if conditional:
        text = keras.Input((max_text_length,), dtype="int32", name="text")
        hidden, phi, _ = rnn([inputs, text])
    else:
        hidden, _, _ = rnn([inputs])
    mixture = MixtureDensityOutput(num_mixtures, name="mixture_density")(hidden)
    mixture = keras.layers.Identity(name="mixture", dtype="float32")(mixture)
    if not conditional:
        return keras.Model(strokes, mixture, name=label)
    phi = keras.layers.Identity(name="window", dtype="float32")(phi)
    return keras.Model([text, strokes], [mixture, phi], name=label)


PAPER_DEFAULTS = dict(units=400, num_layers=3, num_mixtures=20, window_components=10)

#: The tiny variants: the embedded data's texts of up to 3 letters (+ [end]) in at most 96 points.
TINY = dict(max_text_length=4, max_points=96, units=64, num_layers=2, num_mixtures=10, window_components=5)

# Measured on the tiny variants after the export matrix's quick training (32 embedded test words).
_INT8_UNSUPPORTED = (
    "full-integer int8 of the 96-step LSTM loop misses the gate by far: NLL per pen point 2.51 -> 11.74 nats "
    "(handwriting_synthesis_tiny) and 1.99 -> 7.74 (handwriting_prediction_tiny), gate +0.05 (the state is "
    "requantised at every point and the mixture's log-sigmas and logits feed exp). Use quantize='dynamic' "
    "(int8 weights, float activations: +0.001 nats) or 'float16' (+0.00003)."
)
register_model(
    "handwriting_synthesis",
    family="handwriting_synthesis",
    task="handwriting",
    paper=PAPER,
    export_unsupported={"tflite_int8": _INT8_UNSUPPORTED},
)(handwriting_synthesis)
register_variant("handwriting_synthesis_tiny", "handwriting_synthesis", tiny=True, **TINY)
register_variant("handwriting_prediction_tiny", "handwriting_synthesis", tiny=True, **{**TINY, "window_components": 0})
