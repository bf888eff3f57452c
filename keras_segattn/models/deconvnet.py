"""DeconvNet: VGG16-BN encoder with argmax switches, mirrored unpooling decoder.

Noh, Hong & Han, "Learning Deconvolution Network for Semantic Segmentation",
ICCV 2015.
"""

from __future__ import annotations

import keras

from keras_segattn.backbones import (
    check_backbone,
    load_vgg16_weights,
    preprocessing,
    vgg16_features,
)
from keras_segattn.backbones.vgg16 import VGG16_DEPTHS, VGG16_WIDTHS
from keras_segattn.layers import MatmulConv2DTranspose, MaxUnpooling2D
from keras_segattn.models._common import (
    check_backbone_weights,
    check_image_shape,
    nearest_valid_sizes,
)
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import check_int_tuple, check_positive_int, hint, message

__all__ = ["deconvnet"]

PAPER = "Noh, Hong & Han, Learning Deconvolution Network for Semantic Segmentation, ICCV 2015"

# Tiny variant for the embedded 64x64 multi-object images. The paper's fc6
# collapses the 7x7 pool5 of a single-object proposal to 1x1; on whole images
# with up to four objects that bottleneck loses where each object is (0.32
# held-out mIoU after 5 epochs), so the tiny fc6 is 1x1 and keeps the 4x4 map
# (0.81 with the same budget).
TINY = dict(
    num_classes=4,
    input_shape=(64, 64, 3),
    widths=(16, 32, 64, 128),
    depths=(1, 2, 2, 2),
    fc_units=256,
    fc_kernel=1,
)


def _conv_bn_relu(x, filters, kernel, name, transpose=False, padding="same"):
    if transpose and padding == "valid":
        # deconv-fc6: the same weights and outputs as Conv2DTranspose, without
        # TF's slow CPU kernel for a 1x1 input (a third of the forward pass).
        x = MatmulConv2DTranspose(filters, kernel, name=name)(x)
    else:
        conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
        x = conv(filters, kernel, padding=padding, name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _check_size(input_shape, stages, fc_kernel, label):
    multiple = 2**stages
    minimum = multiple * fc_kernel
    for axis, size in zip(("height", "width"), input_shape[:2]):
        if size is None:
            continue
        if size % multiple or size < minimum:
            valid = nearest_valid_sizes(size, multiple, minimum)
            expected = (
                f"a multiple of {multiple} ({stages} poolings) and at least {minimum} (fc6 kernel "
                f"{fc_kernel} on the stride-{multiple} map)"
            )
            raise ValueError(
                message(label, f"input_shape {axis}", expected, size)
                + f" Nearest valid sizes: {' or '.join(map(str, valid))}."
            )


@register_model("deconvnet", family="deconvnet", task="semantic_segmentation", paper=PAPER)
def deconvnet(
    num_classes=21,
    input_shape=(224, 224, 3),
    backbone="vgg16",
    backbone_weights=None,
    widths=VGG16_WIDTHS,
    depths=VGG16_DEPTHS,
    fc_units=4096,
    fc_kernel=7,
    name="deconvnet",
):
    """DeconvNet (paper configuration: 224x224 input, about 252M parameters).

    Encoder: VGG16 convolutions each followed by BatchNorm + ReLU; every max
    pooling records its argmax switches
    (:class:`~keras_segattn.layers.MaxPoolingWithArgmax2D`). fc6 is a
    ``fc_kernel`` x ``fc_kernel`` valid convolution (7x7 -> 1x1), fc7 a 1x1
    convolution, each with BatchNorm + ReLU. The decoder mirrors it: a
    ``fc_kernel`` x ``fc_kernel`` transposed convolution back to the pool5 size,
    then per stage an unpooling that puts each value back at its recorded
    argmax (:class:`~keras_segattn.layers.MaxUnpooling2D`) followed by 3x3
    transposed convolutions + BatchNorm + ReLU; a 1x1 convolution scores the
    classes.

    Args:
        num_classes: classes including background (VOC: 21).
        input_shape: ``(H, W, 3)``; H and W multiples of ``2**len(widths)``
            and at least ``2**len(widths) * fc_kernel`` (paper: 224).
        backbone: ``"vgg16"`` only: the decoder unpools with VGG's
            argmax switches (``widths``/``depths`` make it smaller).
        backbone_weights: ``None``, ``"imagenet"`` or a VGG16 weights file
            (convolutions and fc6/fc7; BatchNorm starts at identity).
        widths, depths: VGG stages.
        fc_units, fc_kernel: fc6/fc7 width and fc6 kernel.
        name: model name.

    Input: raw RGB ``(batch, H, W, 3)`` in [0, 255].
    Output: logits ``(batch, H, W, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("deconvnet_tiny")
        >>> model.predict(np.zeros((1, 64, 64, 3)), verbose=0).shape
        (1, 64, 64, 4)
    """
    label = name or "deconvnet"
    num_classes = check_positive_int(label, "num_classes", num_classes)
    input_shape = check_image_shape(input_shape, label)
    if backbone != "vgg16":
        # The decoder mirrors the encoder pool by pool (argmax unpooling needs
        # VGG's five max-poolings); Inception's strided convolutions and
        # concatenated branches have no switches to unpool with.
        check_backbone(backbone, label)
        raise ValueError(
            message(label, "backbone", "'vgg16' (DeconvNet's unpooling decoder mirrors VGG16's max-poolings; "
                    "set widths/depths for a smaller VGG)", backbone)
        )
    widths = check_int_tuple(label, "widths", widths)
    with hint(f"DeconvNet has one depth per stage of widths={widths}."):
        depths = check_int_tuple(label, "depths", depths, length=len(widths))
    check_backbone_weights(backbone_weights, label)
    fc_units = check_positive_int(label, "fc_units", fc_units)
    fc_kernel = check_positive_int(label, "fc_kernel", fc_kernel)
    stages = len(widths)
    _check_size(input_shape, stages, fc_kernel, label)

    inputs = keras.Input(input_shape, name="image")
    feats = vgg16_features(
        preprocessing()(inputs), widths=widths, depths=depths, batch_norm=True, pooling="argmax"
    )
    x = _conv_bn_relu(feats[f"pool{stages}"], fc_units, fc_kernel, "fc6", padding="valid")
    x = _conv_bn_relu(x, fc_units, 1, "fc7")
    x = _conv_bn_relu(x, widths[-1], fc_kernel, "deconv_fc6", transpose=True, padding="valid")
    for stage in range(stages, 0, -1):
        x = MaxUnpooling2D(2, name=f"unpool{stage}")(
            [x, feats[f"switches{stage}"], feats[f"conv{stage}"]]
        )
        depth = depths[stage - 1]
        for i in range(1, depth + 1):
            last = i == depth and stage > 1
            filters = widths[stage - 2] if last else widths[stage - 1]
            x = _conv_bn_relu(x, filters, 3, f"deconv{stage}_{i}", transpose=True)
    outputs = keras.layers.Conv2D(num_classes, 1, name="logits", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=label)
    load_vgg16_weights(model, backbone_weights)
    return model


register_variant("deconvnet_tiny", "deconvnet", tiny=True, **TINY)
