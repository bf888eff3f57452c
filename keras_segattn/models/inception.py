"""Inception-v4 and Inception-ResNet-v2 classifiers (the lecture's opening slide).

Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017. The bodies are the
registered backbones (:mod:`keras_segattn.backbones`); the classifier adds the
paper's head: global average pooling, dropout (keep 0.8) and a dense softmax
layer (logits here).
"""

from __future__ import annotations

import keras

from keras_segattn.backbones import check_backbone
from keras_segattn.backbones.inception_resnet_v2 import (
    INCEPTION_RESNET_V2_BLOCKS,
    INCEPTION_RESNET_V2_SCALES,
)
from keras_segattn.backbones.inception_v4 import INCEPTION_V4_BLOCKS
from keras_segattn.models._common import check_backbone_weights, check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import check_choice, check_number, check_positive_int

__all__ = ["inception_v4", "inception_resnet_v2"]

PAPER = (
    "Szegedy, Ioffe, Vanhoucke & Alemi, Inception-v4, Inception-ResNet and the Impact of Residual "
    "Connections on Learning, AAAI 2017"
)

# Tiny: widths / 4, one block of each type, "same" padding so 32x32 digits fit. (Widths / 8
# trained by the task's quick_fit left Inception-ResNet-v2 near-tied on 1 of the 32 int8
# parity digits: agreement 0.969, accuracy -3.1 points; widths / 4: agreement 1.0 for both.)
TINY = dict(num_classes=10, input_shape=(32, 32, 1), blocks=(1, 1, 1), width_divisor=4, padding="same")


def _classifier(family, label, *, num_classes, input_shape, dropout, backbone_weights, padding, **arch):
    num_classes = check_positive_int(label, "num_classes", num_classes)
    input_shape = check_image_shape(input_shape, label, channels=None)
    check_choice(label, "padding", padding, ("valid", "same"))
    dropout = check_number(label, "dropout", dropout, minimum=0.0, maximum=1.0)
    if dropout == 1.0:
        raise ValueError(f"{label}: dropout must be < 1 (it would drop every feature), received 1.0.")
    spec = check_backbone(family, label)
    check_backbone_weights(backbone_weights, label)
    inputs = keras.Input(input_shape, name="image")
    x = spec.preprocessing()(inputs)
    features = spec.apply(x, padding=padding, **arch)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features[spec.at_stride(32)])
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=label)
    spec.load_weights(model, backbone_weights)
    return model


@register_model("inception_v4", family="inception", task="image_classification", paper=PAPER)
def inception_v4(
    num_classes=1000,
    input_shape=(299, 299, 3),
    blocks=INCEPTION_V4_BLOCKS,
    width_divisor=1,
    padding="valid",
    dropout=0.2,
    backbone_weights=None,
    name="inception_v4",
):
    """Inception-v4 classifier (paper configuration: 299x299, 42.68M parameters).

    Args:
        num_classes: classes (ImageNet: 1000).
        input_shape: ``(H, W, C)``; at least 75x75 with ``padding="valid"``.
        blocks: Inception-A, -B, -C repeats (paper ``(4, 7, 3)``).
        width_divisor: divides every width (tiny: 4).
        padding: ``"valid"`` (paper) or ``"same"`` (any input size >= 1).
        dropout: rate before the classifier (paper: keep 0.8).
        backbone_weights: ``None`` or a ``.weights.h5`` file saved from an
            ``inception_v4`` backbone (Keras publishes no ImageNet weights).
        name: model name.

    Input: raw images ``(batch, H, W, C)`` in [0, 255] (scaled to [-1, 1] inside).
    Output: logits ``(batch, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("inception_v4_tiny")
        >>> model.predict(np.zeros((2, 32, 32, 1)), verbose=0).shape
        (2, 10)
    """
    return _classifier(
        "inception_v4", name or "inception_v4", num_classes=num_classes, input_shape=input_shape, dropout=dropout,
        backbone_weights=backbone_weights, padding=padding, blocks=blocks, width_divisor=width_divisor,
    )


@register_model("inception_resnet_v2", family="inception", task="image_classification", paper=PAPER)
def inception_resnet_v2(
    num_classes=1000,
    input_shape=(299, 299, 3),
    blocks=INCEPTION_RESNET_V2_BLOCKS,
    residual_scales=INCEPTION_RESNET_V2_SCALES,
    width_divisor=1,
    padding="valid",
    dropout=0.2,
    backbone_weights=None,
    name="inception_resnet_v2",
):
    """Inception-ResNet-v2 classifier on Keras Applications' network (55.87M parameters).

    Args:
        num_classes: classes (ImageNet: 1000).
        input_shape: ``(H, W, C)``; at least 75x75 with ``padding="valid"``.
        blocks: Inception-ResNet-A, -B, -C repeats (Keras: ``(10, 20, 10)``).
        residual_scales: scales of the A, B, C residuals (Keras: 0.17, 0.1, 0.2).
        width_divisor: divides every width (tiny: 4).
        padding: ``"valid"`` (Keras) or ``"same"``.
        dropout: rate before the classifier.
        backbone_weights: ``None``, ``"imagenet"`` (Keras' weights; needs a
            network), a Keras notop weights file or a ``.weights.h5`` saved
            from this backbone.
        name: model name.

    Input: raw images ``(batch, H, W, C)`` in [0, 255] (scaled to [-1, 1] inside).
    Output: logits ``(batch, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("inception_resnet_v2_tiny")
        >>> model.predict(np.zeros((2, 32, 32, 1)), verbose=0).shape
        (2, 10)
    """
    return _classifier(
        "inception_resnet_v2", name or "inception_resnet_v2", num_classes=num_classes, input_shape=input_shape,
        dropout=dropout, backbone_weights=backbone_weights, padding=padding, blocks=blocks,
        residual_scales=residual_scales, width_divisor=width_divisor,
    )


register_variant("inception_v4_tiny", "inception_v4", tiny=True, **TINY)
register_variant("inception_resnet_v2_tiny", "inception_resnet_v2", tiny=True, **TINY)
