"""Inception-v4 (Szegedy et al. 2016): classifier and feature extractor with named endpoints.

Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261),
Figures 3-9. Keras Applications has no Inception-v4, so it is written here;
every convolution is conv (no bias) -> BatchNorm -> ReLU as in the TF-slim
reference the published weights come from. Layer names are fixed
(``stem_conv1``, ``inception_a2_branch1_conv2``...) and never depend on Keras'
global name counters.
"""

from __future__ import annotations

import os
import warnings

import keras

from keras_segattn.validation import check_choice, check_int_tuple, check_positive_int, message

__all__ = [
    "INCEPTION_V4_BLOCKS",
    "INCEPTION_V4_ENDPOINTS",
    "inception_preprocessing",
    "inception_v4_backbone",
    "load_inception_v4_weights",
    "nested_backbone",
]

INCEPTION_V4_BLOCKS = (4, 7, 3)  # Inception-A, -B, -C repeats

# name -> stride with padding="same" (with the paper's "valid" padding the sizes
# are those of a 299x299 input: 147, 71, 35, 17, 8).
INCEPTION_V4_ENDPOINTS = {
    "stem_conv": 2,
    "stem_mixed": 4,
    "stem": 8,
    "inception_a": 8,
    "inception_b": 16,
    "inception_c": 32,
}

# Every width of the network (paper Figures 3-9); width_divisor must divide all of them.
_WIDTHS = (32, 64, 96, 192, 224, 256, 384, 128, 320, 448, 512)


def inception_preprocessing(name="preprocess"):
    """Raw RGB in [0, 255] -> [-1, 1], the scaling the Inception weights were trained with."""
    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=name)


def check_width_divisor(where, width_divisor, widths):
    width_divisor = check_positive_int(where, "width_divisor", width_divisor)
    if any(w % width_divisor for w in widths):
        valid = [d for d in range(1, 33) if all(w % d == 0 for w in widths)]
        raise ValueError(
            message(where, "width_divisor", f"a divisor of every width of the network ({valid})", width_divisor)
        )
    return width_divisor


def check_padding(where, padding, input_shape):
    """``padding`` is "valid" or "same"; "valid" (the stem's unpadded 3x3s) needs inputs of 75+."""
    check_choice(where, "padding", padding, ("valid", "same"))
    if padding == "valid":
        for axis, size in zip(("height", "width"), input_shape[:2]):
            if size is not None and size < 75:
                raise ValueError(
                    message(where, f"input_shape {axis}", 'at least 75 with padding="valid" (or padding="same")', size)
                )


class _Builder:
    """Holds the width divisor and padding; names every layer it creates."""

    def __init__(self, divisor, padding):
        self.divisor = divisor
        self.padding = padding

    def conv(self, x, filters, kernel, name, strides=1, padding="same"):
        # "valid" convolutions of the paper (marked V in its figures) become "same"
        # when padding="same", so every stride is exact for dense prediction.
        padding = self.padding if padding == "valid" else padding
        x = keras.layers.Conv2D(
            filters // self.divisor, kernel, strides=strides, padding=padding, use_bias=False, name=name
        )(x)
        x = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    def max_pool(self, x, name):
        return keras.layers.MaxPooling2D(3, strides=2, padding=self.padding, name=name)(x)

    def avg_conv(self, x, filters, name):
        x = keras.layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
        return self.conv(x, filters, 1, f"{name}_conv1")

    def stem(self, x, endpoints):
        x = self.conv(x, 32, 3, "stem_conv1", strides=2, padding="valid")
        x = self.conv(x, 32, 3, "stem_conv2", padding="valid")
        x = self.conv(x, 64, 3, "stem_conv3")
        endpoints["stem_conv"] = x
        x = keras.layers.Concatenate(name="stem_mixed1")(
            [self.max_pool(x, "stem_mixed1_pool"), self.conv(x, 96, 3, "stem_mixed1_conv", strides=2, padding="valid")]
        )
        a = self.conv(x, 64, 1, "stem_mixed2_branch0_conv1")
        a = self.conv(a, 96, 3, "stem_mixed2_branch0_conv2", padding="valid")
        b = self.conv(x, 64, 1, "stem_mixed2_branch1_conv1")
        b = self.conv(b, 64, (7, 1), "stem_mixed2_branch1_conv2")
        b = self.conv(b, 64, (1, 7), "stem_mixed2_branch1_conv3")
        b = self.conv(b, 96, 3, "stem_mixed2_branch1_conv4", padding="valid")
        x = keras.layers.Concatenate(name="stem_mixed2")([a, b])
        endpoints["stem_mixed"] = x
        x = keras.layers.Concatenate(name="stem_mixed3")(
            [self.conv(x, 192, 3, "stem_mixed3_conv", strides=2, padding="valid"), self.max_pool(x, "stem_mixed3_pool")]
        )
        endpoints["stem"] = x
        return x

    def inception_a(self, x, name):
        b0 = self.conv(x, 96, 1, f"{name}_branch0_conv1")
        b1 = self.conv(self.conv(x, 64, 1, f"{name}_branch1_conv1"), 96, 3, f"{name}_branch1_conv2")
        b2 = self.conv(x, 64, 1, f"{name}_branch2_conv1")
        b2 = self.conv(self.conv(b2, 96, 3, f"{name}_branch2_conv2"), 96, 3, f"{name}_branch2_conv3")
        b3 = self.avg_conv(x, 96, f"{name}_branch3")
        return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])

    def reduction_a(self, x, name, k=192, l_=224, m=256, n=384):  # the paper's k, l, m, n
        b0 = self.max_pool(x, f"{name}_branch0_pool")
        b1 = self.conv(x, n, 3, f"{name}_branch1_conv1", strides=2, padding="valid")
        b2 = self.conv(x, k, 1, f"{name}_branch2_conv1")
        b2 = self.conv(b2, l_, 3, f"{name}_branch2_conv2")
        b2 = self.conv(b2, m, 3, f"{name}_branch2_conv3", strides=2, padding="valid")
        return keras.layers.Concatenate(name=name)([b0, b1, b2])

    def inception_b(self, x, name):
        b0 = self.conv(x, 384, 1, f"{name}_branch0_conv1")
        b1 = self.conv(x, 192, 1, f"{name}_branch1_conv1")
        b1 = self.conv(b1, 224, (1, 7), f"{name}_branch1_conv2")
        b1 = self.conv(b1, 256, (7, 1), f"{name}_branch1_conv3")
        b2 = self.conv(x, 192, 1, f"{name}_branch2_conv1")
        for i, (filters, kernel) in enumerate(((192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))), start=2):
            b2 = self.conv(b2, filters, kernel, f"{name}_branch2_conv{i}")
        b3 = self.avg_conv(x, 128, f"{name}_branch3")
        return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])

    def reduction_b(self, x, name):
        b0 = self.max_pool(x, f"{name}_branch0_pool")
        b1 = self.conv(x, 192, 1, f"{name}_branch1_conv1")
        b1 = self.conv(b1, 192, 3, f"{name}_branch1_conv2", strides=2, padding="valid")
        b2 = self.conv(x, 256, 1, f"{name}_branch2_conv1")
        b2 = self.conv(b2, 256, (1, 7), f"{name}_branch2_conv2")
        b2 = self.conv(b2, 320, (7, 1), f"{name}_branch2_conv3")
        b2 = self.conv(b2, 320, 3, f"{name}_branch2_conv4", strides=2, padding="valid")
        return keras.layers.Concatenate(name=name)([b0, b1, b2])

    def inception_c(self, x, name):
        b0 = self.conv(x, 256, 1, f"{name}_branch0_conv1")
        b1 = self.conv(x, 384, 1, f"{name}_branch1_conv1")
        b1 = keras.layers.Concatenate(name=f"{name}_branch1")(
            [self.conv(b1, 256, (1, 3), f"{name}_branch1_conv2a"), self.conv(b1, 256, (3, 1), f"{name}_branch1_conv2b")]
        )
        b2 = self.conv(x, 384, 1, f"{name}_branch2_conv1")
        b2 = self.conv(b2, 448, (3, 1), f"{name}_branch2_conv2")
        b2 = self.conv(b2, 512, (1, 3), f"{name}_branch2_conv3")
        b2 = keras.layers.Concatenate(name=f"{name}_branch2")(
            [self.conv(b2, 256, (1, 3), f"{name}_branch2_conv4a"), self.conv(b2, 256, (3, 1), f"{name}_branch2_conv4b")]
        )
        b3 = self.avg_conv(x, 256, f"{name}_branch3")
        return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])


def inception_v4_backbone(
    input_shape=(None, None, 3),
    *,
    blocks=INCEPTION_V4_BLOCKS,
    width_divisor=1,
    padding="valid",
    name="inception_v4",
):
    """Inception-v4's convolutional body: standardised image in, dict of endpoints out.

    Args:
        input_shape: ``(H, W, C)`` of the *preprocessed* input (in [-1, 1],
            see :func:`inception_preprocessing`). With ``padding="valid"`` H and
            W must be at least 75 (299 in the paper).
        blocks: repeats of Inception-A, -B and -C (paper: ``(4, 7, 3)``).
        width_divisor: every width is divided by it (1: the paper; 8 for
            the tiny variant); must divide every width of the network.
        padding: ``"valid"`` (the paper's V convolutions and pools: 299 ->
            35 -> 17 -> 8) or ``"same"`` (exact strides 2/4/8/16/32 for dense
            prediction; same weights).
        name: model name (the sub-model's name inside a head).

    Returns:
        A ``keras.Model`` whose output is a dict of endpoints
        (:data:`INCEPTION_V4_ENDPOINTS` gives each one's stride):
        ``stem_conv`` (64 ch), ``stem_mixed`` (192), ``stem`` (384, the 35x35
        filter concat), ``inception_a`` (384), ``inception_b`` (1024),
        ``inception_c`` (1536), channels divided by ``width_divisor``.

    Example:
        >>> from keras_segattn.backbones import inception_v4_backbone
        >>> body = inception_v4_backbone((64, 64, 3), blocks=(1, 1, 1), width_divisor=8, padding="same")
        >>> body.output["inception_c"].shape
        (None, 2, 2, 192)
    """
    where = name or "inception_v4"
    blocks = check_int_tuple(where, "blocks", blocks, minimum=1, length=3)
    width_divisor = check_width_divisor(where, width_divisor, _WIDTHS)
    check_padding(where, padding, input_shape)
    build = _Builder(width_divisor, padding)
    inputs = keras.Input(input_shape, name="image")
    endpoints = {}
    x = build.stem(inputs, endpoints)
    for i in range(1, blocks[0] + 1):
        x = build.inception_a(x, f"inception_a{i}")
    endpoints["inception_a"] = x
    x = build.reduction_a(x, "reduction_a")
    for i in range(1, blocks[1] + 1):
        x = build.inception_b(x, f"inception_b{i}")
    endpoints["inception_b"] = x
    x = build.reduction_b(x, "reduction_b")
    for i in range(1, blocks[2] + 1):
        x = build.inception_c(x, f"inception_c{i}")
    endpoints["inception_c"] = x
    return keras.Model(inputs, endpoints, name=name)


def nested_backbone(model, name):
    """The backbone sub-model called ``name`` inside ``model`` (or ``model`` itself)."""
    if model.name == name:
        return model
    nested = [layer for layer in model.layers if layer.name == name]
    if not nested:
        raise ValueError(f"{name}: the model {model.name!r} has no {name!r} backbone layer to load weights into.")
    return nested[0]


def load_own_weights(model, weights, name):
    """Load a ``.weights.h5`` file saved from a ``name`` backbone (same arguments) into ``model``'s one."""
    target = nested_backbone(model, name)
    try:
        # Keras only warns when a file fills part of a model ("Skipping ...");
        # a backbone left half random must not pass silently.
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            target.load_weights(weights)
    except Exception as error:  # Keras raises ValueError/KeyError/UserWarning on layout mismatches
        raise ValueError(
            message(name, "backbone_weights", f"a .weights.h5 file saved from a {name} backbone with the same "
                    "arguments (blocks, width_divisor)", weights)
            + f" ({type(error).__name__}: {error})"
        ) from error
    return model


def load_inception_v4_weights(model, weights):
    """Load weights into the ``inception_v4`` backbone of ``model``.

    Args:
        model: a backbone from :func:`inception_v4_backbone`, or a model
            containing it as a layer named ``"inception_v4"``.
        weights: ``None`` (no-op) or the path of a ``.weights.h5`` file saved
            from an Inception-v4 backbone with the same arguments
            (``model.get_layer("inception_v4").save_weights(path)``). Keras
            Applications publishes no Inception-v4 weights, so ``"imagenet"``
            is refused with that explanation.
    """
    if weights is None:
        return model
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError(
            "inception_v4: backbone_weights='imagenet' is not available: Keras Applications publishes no "
            "Inception-v4 weights. Pass the path of a .weights.h5 file saved from an inception_v4 backbone, "
            "or use backbone='inception_resnet_v2' (Keras publishes its ImageNet weights)."
        )
    if not (isinstance(weights, (str, os.PathLike)) and str(weights).endswith(".weights.h5") and os.path.exists(weights)):
        raise ValueError(
            message("inception_v4", "backbone_weights", "None or the path of an existing .weights.h5 file", weights)
        )
    return load_own_weights(model, weights, "inception_v4")
