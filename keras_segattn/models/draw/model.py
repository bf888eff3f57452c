"""DRAW (Gregor et al. 2015): the recurrent VAE that draws, and the recurrent attention classifier.

Gregor, Danihelka, Graves, Rezende & Wierstra, "DRAW: A Recurrent Neural
Network For Image Generation", ICML 2015.

- ``draw``: images ``(B, H, W, C)`` in ``[0, 1]`` (binarised digits) ->
  ``[reconstruction (B, H, W, C) Bernoulli logits, kl (B,)]``; the KL term
  is also added with ``add_loss``, so ``fit`` with the Bernoulli
  reconstruction loss minimises the negative variational bound (the NLL
  bound in nats). ``attention=False`` reads and writes whole images (the
  paper's comparison). :func:`~keras_segattn.models.draw.generate` samples
  from the prior.
- ``draw_classifier``: raw pixels ``(B, H, W, C)`` in ``[0, 255]`` -> class
  logits, from ``steps`` Gaussian glimpses (the cluttered-digit classifier).
"""

from __future__ import annotations

import keras

from keras_segattn.models.draw.draw_network import DRAWNetwork
from keras_segattn.models.draw.glimpse_reader import GlimpseReader
from keras_segattn.registry import register_model, register_variant
from keras_segattn.training.variational import BernoulliNLL  # noqa: F401  (compiled models reload by name)
from keras_segattn.validation import (
    check_bool,
    check_int,
    check_int_tuple,
    check_optional_int,
    check_positive_int,
    message,
)

__all__ = ["draw", "draw_classifier", "PAPER", "PAPER_DEFAULTS", "TINY", "TINY_NO_ATTENTION", "TINY_CLASSIFIER"]

PAPER = "Gregor et al., DRAW: A Recurrent Neural Network For Image Generation, ICML 2015"


def _image_shape(where, input_shape):
    shape = check_int_tuple(where, "input_shape", input_shape, length=3)
    if shape[0] < 2 or shape[1] < 2:
        raise ValueError(message(where, "input_shape", "(H, W, C) with H, W >= 2", input_shape))
    return shape


def draw(
    input_shape=(28, 28, 1),
    steps=64,
    read_size=2,
    write_size=5,
    encoder_units=256,
    decoder_units=256,
    latent_size=100,
    attention=True,
    seed=None,
    name=None,
):
    """The DRAW generative model (section 3; the paper's MNIST sizes by default).

    Args:
        input_shape: ``(H, W, C)`` of the images (values in ``[0, 1]``).
        steps: ``T`` glimpses (the paper: 64).
        read_size: read glimpse ``N`` (the paper: 2).
        write_size: write patch ``N`` (the paper: 5).
        encoder_units, decoder_units: LSTM sizes (the paper: 256).
        latent_size: ``z_t`` size (the paper: 100).
        attention: ``False`` reads and writes whole images (the paper's
            no-attention model; ``read_size`` / ``write_size`` unused).
        seed: seed of the posterior noise in training.
        name: model name.

    Returns:
        A ``keras.Model`` ``images`` -> ``[reconstruction logits, kl]``.

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("draw_tiny")
        >>> [tuple(o.shape) for o in model.outputs]
        [(None, 28, 28, 1), (None,)]
    """
    where = "draw"
    height, width, channels = _image_shape(where, input_shape)
    attention = check_bool(where, "attention", attention)
    # Checked even without attention (where they are unused) so a typo never passes silently.
    read_size = check_int(where, "read_size", read_size, minimum=1)
    write_size = check_int(where, "write_size", write_size, minimum=1)
    if not attention:
        read_size = write_size = 0
    seed = check_optional_int(where, "seed", seed, minimum=0)
    images = keras.Input((height, width, channels), name="images")
    network = DRAWNetwork(
        (height, width), channels=channels, steps=steps, read_size=read_size, write_size=write_size,
        encoder_units=encoder_units, decoder_units=decoder_units, latent_size=latent_size, seed=seed, name="draw",
    )
    logits, kl = network(images)
    logits = keras.layers.Identity(name="reconstruction", dtype="float32")(logits)
    kl = keras.layers.Identity(name="kl", dtype="float32")(kl)
    return keras.Model(images, [logits, kl], name=name or ("draw" if attention else "draw_no_attention"))


def draw_classifier(
    input_shape=(60, 60, 1),
    num_classes=10,
    steps=4,
    glimpse_size=12,
    units=256,
    glimpse_units=256,
    initial_glimpse="image",
    name=None,
):
    """DRAW's recurrent attention classifier (section 4.1: read-only attention over cluttered digits).

    Args:
        input_shape: ``(H, W, C)`` raw pixels in ``[0, 255]`` (the embedded
            cluttered digits: 60x60; the paper: 100x100 cluttered MNIST).
        num_classes: classes.
        steps: glimpses (the paper: 4).
        glimpse_size: ``N`` (the paper: 12).
        units: LSTM size (the paper: 256).
        glimpse_units: the glimpse embedding's size.
        initial_glimpse: ``"image"`` (the first glimpse a blurred overview
            of the whole image) or ``"zeros"``; see
            :class:`~keras_segattn.models.draw.GlimpseReader`.
        name: model name.

    Returns:
        A ``keras.Model`` ``images`` -> class logits ``(B, num_classes)``.

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("draw_classifier_tiny")
        >>> tuple(model.output.shape)
        (None, 10)
    """
    where = "draw_classifier"
    height, width, channels = _image_shape(where, input_shape)
    num_classes = check_int(where, "num_classes", num_classes, minimum=2)
    check_positive_int(where, "steps", steps)
    images = keras.Input((height, width, channels), name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(images)  # raw pixels in, as every image model here
    features = GlimpseReader((height, width), channels=channels, steps=steps, glimpse_size=glimpse_size, units=units,
                             glimpse_units=glimpse_units, initial_glimpse=initial_glimpse,
                             name="glimpses")(x)
    logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(features)
    return keras.Model(images, logits, name=name or "draw_classifier")


PAPER_DEFAULTS = dict(steps=64, read_size=2, write_size=5, encoder_units=256, decoder_units=256, latent_size=100)
#: the tiny variants: 8 steps of 64-unit LSTMs on 28x28 binarised digits
TINY = dict(steps=8, read_size=2, write_size=5, encoder_units=64, decoder_units=64, latent_size=10)
TINY_NO_ATTENTION = {**TINY, "attention": False}
#: about the size of st_cnn_tiny (236k vs 227k parameters) on the 60x60 cluttered digits
TINY_CLASSIFIER = dict(input_shape=(60, 60, 1), steps=4, glimpse_size=12, units=128, glimpse_units=256)

# Measured with tools/int8_gate_probe.py after the export matrix's quick training.
_INT8_DRAW = (
    "full-integer int8 converts, but LiteRT's XNNPACK delegate refuses to prepare the quantised unrolled "
    "LSTM/filterbank graph (draw_tiny: node 1270, draw_no_attention_tiny: node 427 'failed to prepare'), so no "
    "parity check can run. Use quantize='dynamic' (int8 weights, float activations: NLL bound +0.09 nats for "
    "draw_tiny, +0.02 for draw_no_attention_tiny, gate +1.0) or 'float16'."
)
_INT8_CLASSIFIER = (
    "full-integer int8 misses the gate: argmax agreement 0.31 with Keras (gate 0.95), accuracy 93.8% -> 34.4% "
    "on 32 embedded test digits (draw_classifier_tiny): the Gaussian filterbank's softmax over pixels and the "
    "4-step LSTM state are requantised per tensor. Use quantize='dynamic' (agreement 1.00, passes) or 'float16'."
)
register_model("draw", family="draw", task="image_generation", paper=PAPER,
               export_unsupported={"tflite_int8": _INT8_DRAW})(draw)
register_variant("draw_tiny", "draw", tiny=True, **TINY)
register_variant("draw_no_attention_tiny", "draw", tiny=True, **TINY_NO_ATTENTION)
register_model("draw_no_attention", family="draw", task="image_generation", paper=PAPER, attention=False,
               export_unsupported={"tflite_int8": _INT8_DRAW})(draw)
register_model("draw_classifier", family="draw", task="image_classification", paper=PAPER,
               export_unsupported={"tflite_int8": _INT8_CLASSIFIER})(draw_classifier)
register_variant("draw_classifier_tiny", "draw_classifier", tiny=True, **TINY_CLASSIFIER)
