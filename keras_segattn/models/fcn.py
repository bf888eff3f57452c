"""FCN-32s, FCN-16s and FCN-8s.

Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015 (and PAMI 2017).
"""

from __future__ import annotations

import functools

import keras

from keras_segattn.backbones import (
    check_backbone,
    load_vgg16_weights,
    preprocessing,
    vgg16_features,
)
from keras_segattn.backbones.vgg16 import VGG16_DEPTHS, VGG16_WIDTHS
from keras_segattn.layers import BilinearUpsampling2DTranspose, CropToReference, PadToMultiple
from keras_segattn.models._common import check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import check_positive_int, message

__all__ = ["fcn", "fcn32s", "fcn16s", "fcn8s"]

PAPER = "Long, Shelhamer & Darrell, Fully Convolutional Networks for Semantic Segmentation, CVPR 2015"

# Tiny variants: same topology, narrow stages; about 1M parameters.
TINY = dict(
    num_classes=4,
    widths=(16, 32, 64, 96, 128),
    depths=(1, 2, 2, 2, 2),
    fc_units=256,
    fc_kernel=3,
    dropout=0.1,
)


def fcn(
    output_stride=8,
    num_classes=21,
    input_shape=(None, None, 3),
    backbone="vgg16",
    backbone_weights=None,
    widths=VGG16_WIDTHS,
    depths=VGG16_DEPTHS,
    fc_units=4096,
    fc_kernel=7,
    dropout=0.5,
    name=None,
):
    """Build an FCN with skips down to ``output_stride`` (32, 16 or 8).

    VGG16's fully connected layers become convolutions (fc6: ``fc_kernel`` x
    ``fc_kernel``, fc7: 1x1, each ReLU + dropout), a 1x1 ``score_fr`` scores the
    classes at stride 32; FCN-16s adds a zero-initialised 1x1 scorer on pool4
    fused by sum after a 2x learnable upsampling, FCN-8s adds pool3 likewise,
    and a final transposed convolution (initialised to bilinear) upsamples to
    the input size. The input is padded to a multiple of the total stride and
    the scores are cropped back, so any image size works (the Caffe models pad
    by 100 pixels for the same reason).

    Args:
        output_stride: 32, 16 or 8.
        num_classes: classes including background (VOC: 21).
        input_shape: ``(height, width, 3)``; ``None`` for dynamic sizes.
        backbone: ``"vgg16"``.
        backbone_weights: ``None``, ``"imagenet"`` or a VGG16 weights file.
        widths, depths: VGG stages (``len >= 3``).
        fc_units, fc_kernel, dropout: fc6/fc7 width, fc6 kernel, dropout rate.
        name: model name.

    Input: raw RGB ``(batch, H, W, 3)`` in [0, 255].
    Output: logits ``(batch, H, W, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("fcn8s_tiny", num_classes=4)
        >>> model.predict(np.zeros((1, 50, 70, 3)), verbose=0).shape
        (1, 50, 70, 4)
    """
    label = name or f"fcn{output_stride}s"
    if output_stride not in (8, 16, 32):  # `in`, not check_choice: 8.0 and NumPy ints stay accepted
        raise ValueError(message(label, "output_stride", "8, 16 or 32", output_stride))
    num_classes = check_positive_int(label, "num_classes", num_classes)
    input_shape = check_image_shape(input_shape, label)
    check_backbone(backbone, label)
    if len(widths) < 3:
        raise ValueError(
            message(label, "widths", "at least 3 VGG stages (the skips come from pool3 and pool4)", widths)
        )
    stages = len(widths)
    total_stride = 2**stages

    inputs = keras.Input(input_shape, name="image")
    x = preprocessing()(inputs)
    x = PadToMultiple(total_stride, name="pad")(x)
    feats = vgg16_features(x, widths=widths, depths=depths)
    x = feats[f"pool{stages}"]
    for i, (units, kernel) in enumerate(((fc_units, fc_kernel), (fc_units, 1)), start=6):
        x = keras.layers.Conv2D(units, kernel, padding="same", activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"drop{i}")(x)
    score = keras.layers.Conv2D(num_classes, 1, name="score_fr")(x)

    stride = total_stride
    for skip in range(stages - 1, stages - 1 - {32: 0, 16: 1, 8: 2}[output_stride], -1):
        up = BilinearUpsampling2DTranspose(num_classes, 2, name=f"upscore_to_pool{skip}")(score)
        skip_score = keras.layers.Conv2D(
            num_classes, 1, kernel_initializer="zeros", name=f"score_pool{skip}"
        )(feats[f"pool{skip}"])
        score = keras.layers.Add(name=f"fuse_pool{skip}")([up, skip_score])
        stride //= 2
    score = BilinearUpsampling2DTranspose(num_classes, stride, name=f"upscore{stride}")(score)
    outputs = CropToReference(name="logits", dtype="float32")([score, inputs])
    model = keras.Model(inputs, outputs, name=label)
    load_vgg16_weights(model, backbone_weights)
    return model


def _variant(stride):
    builder = functools.partial(fcn, stride)
    builder.__name__ = builder.__qualname__ = f"fcn{stride}s"
    builder.__module__ = __name__
    builder.__doc__ = f"FCN-{stride}s (paper defaults); arguments as :func:`fcn`."
    return register_model(f"fcn{stride}s", family="fcn", task="semantic_segmentation", paper=PAPER)(
        builder
    )


fcn32s = _variant(32)
fcn16s = _variant(16)
fcn8s = _variant(8)

for _base in ("fcn32s", "fcn16s", "fcn8s"):
    register_variant(f"{_base}_tiny", _base, tiny=True, **TINY)
