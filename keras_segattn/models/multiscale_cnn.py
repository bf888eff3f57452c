"""Multi-scale convolutional network for scene labelling.

Farabet, Couprie, Najman & LeCun, "Learning Hierarchical Features for Scene
Labeling", TPAMI 2013: the image is decomposed into a 3-scale Laplacian
pyramid, ONE convolutional feature extractor (shared weights) runs on every
scale, the feature maps are upsampled to the finest scale and concatenated,
and a per-pixel linear classifier labels each pixel. The superpixel / CRF
post-processing of the paper is not part of the model.
"""

from __future__ import annotations

import keras

from keras_segattn.backbones import preprocessing
from keras_segattn.layers import BilinearUpsampling2D, ImagePyramid
from keras_segattn.models._common import check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_choice,
    check_int,
    check_int_tuple,
    check_number,
    check_positive_int,
)

__all__ = ["multiscale_cnn", "feature_extractor"]

PAPER = "Farabet, Couprie, Najman & LeCun, Learning Hierarchical Features for Scene Labeling, TPAMI 2013"

TINY = dict(num_classes=4, widths=(8, 16), kernel_size=5, activation="relu")

ACTIVATIONS = ("tanh", "relu")


def feature_extractor(widths, kernel_size, pool_size, activation, channels=3, name="features"):
    """The shared per-scale CNN: ``len(widths)`` "same" convolutions, a max-pool after each but the last.

    Output stride ``pool_size ** (len(widths) - 1)`` (4 in the paper: 16, 64
    and 256 filters of 7x7, tanh, 2x2 pools).
    """
    inputs = keras.Input((None, None, channels), name="scale_image")
    x = inputs
    for i, width in enumerate(widths):
        x = keras.layers.Conv2D(width, kernel_size, padding="same", activation=activation, name=f"conv{i + 1}")(x)
        if i < len(widths) - 1:
            x = keras.layers.MaxPooling2D(pool_size, padding="same", name=f"pool{i + 1}")(x)
    return keras.Model(inputs, x, name=name)


def multiscale_cnn(
    num_classes=8,
    input_shape=(None, None, 3),
    scales=3,
    pyramid="laplacian",
    widths=(16, 64, 256),
    kernel_size=7,
    pool_size=2,
    activation="tanh",
    hidden_units=0,
    dropout=0.0,
    name="multiscale_cnn",
):
    """Farabet et al.'s multi-scale CNN: shared-weight features on a pyramid, per-pixel classifier.

    The standardised image goes through :class:`~keras_segattn.layers.ImagePyramid`
    (``scales`` levels, level ``s`` at ``1 / 2**s`` resolution); the ONE
    sub-model ``features`` (:func:`feature_extractor`) runs on each level (the
    same variables every time); scale ``s``'s map (stride
    ``pool_size**(len(widths) - 1)`` within its level) is bilinearly upsampled
    by ``2**s * stride`` and cropped to the input size
    (:class:`~keras_segattn.layers.BilinearUpsampling2D`); the concatenation
    (``scales * widths[-1]`` features per pixel) goes to a 1x1 linear
    classifier (or, with ``hidden_units``, a hidden 1x1 layer first: the
    paper's two-layer variant).

    Args:
        num_classes: classes (Stanford Background: 8).
        input_shape: ``(height, width, 3)``; ``None`` for dynamic sizes.
        scales: pyramid levels (the paper: 3).
        pyramid: ``"laplacian"`` (the paper) or ``"gaussian"``.
        widths, kernel_size, pool_size, activation: the shared extractor
            (paper: 16/64/256 filters, 7x7, 2x2 pools, tanh).
        hidden_units: 0 for the linear classifier, else a hidden layer's width.
        dropout: dropout before the classifier.
        name: model name.

    Input: raw RGB ``(batch, H, W, 3)`` in [0, 255].
    Output: logits ``(batch, H, W, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("multiscale_cnn_tiny")
        >>> model.predict(np.zeros((1, 48, 40, 3)), verbose=0).shape
        (1, 48, 40, 4)
        >>> len(model.get_layer("features").weights)  # one extractor for all 3 scales
        4
    """
    label = name or "multiscale_cnn"
    num_classes = check_positive_int(label, "num_classes", num_classes)
    input_shape = check_image_shape(input_shape, label)
    scales = check_int(label, "scales", scales, minimum=1, maximum=6)
    pyramid = check_choice(label, "pyramid", pyramid, ("laplacian", "gaussian"))
    widths = check_int_tuple(label, "widths", widths)
    kernel_size = check_positive_int(label, "kernel_size", kernel_size)
    pool_size = check_int(label, "pool_size", pool_size, minimum=1)
    activation = check_choice(label, "activation", activation, ACTIVATIONS)
    hidden_units = check_int(label, "hidden_units", hidden_units, minimum=0)
    dropout = check_number(label, "dropout", dropout, minimum=0, maximum=1)

    inputs = keras.Input(input_shape, name="image")
    x = preprocessing()(inputs)
    levels = ImagePyramid(scales, mode=pyramid, name="pyramid")(x)
    levels = levels if isinstance(levels, (list, tuple)) else [levels]
    features = feature_extractor(widths, kernel_size, pool_size, activation)
    stride = pool_size ** (len(widths) - 1)
    maps = []
    for s, level in enumerate(levels):
        maps.append(BilinearUpsampling2D(2**s * stride, name=f"upsample_scale{s}")([features(level), inputs]))
    x = keras.layers.Concatenate(name="concat")(maps) if len(maps) > 1 else maps[0]
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    if hidden_units:
        x = keras.layers.Conv2D(hidden_units, 1, activation="relu", name="hidden")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=label)


register_model("multiscale_cnn", family="multiscale_cnn", task="semantic_segmentation", paper=PAPER)(multiscale_cnn)
register_variant("multiscale_cnn_tiny", "multiscale_cnn", tiny=True, **TINY)
