"""FCN-32s, FCN-16s and FCN-8s.

Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015 (and PAMI 2017).
"""

from __future__ import annotations

import functools

import keras

from keras_segattn.backbones import check_backbone
from keras_segattn.backbones.vgg16 import VGG16_WIDTHS
from keras_segattn.layers import (
    BilinearUpsampling2DTranspose,
    CropToReference,
    MatmulConv2D,
    PadToMultiple,
)
from keras_segattn.models._common import check_backbone_weights, check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_int,
    check_int_tuple,
    check_number,
    check_positive_int,
    message,
)

__all__ = ["fcn", "fcn32s", "fcn16s", "fcn8s"]

PAPER = "Long, Shelhamer & Darrell, Fully Convolutional Networks for Semantic Segmentation, CVPR 2015"

# Tiny variants: same topology, narrow stages; about 1M parameters.
TINY = dict(
    num_classes=4,
    backbone="vgg16_tiny",
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
    widths=None,
    depths=None,
    fc_units=None,
    fc_kernel=7,
    dropout=0.5,
    name=None,
):
    """Build an FCN with skips down to ``output_stride`` (32, 16 or 8).

    VGG16's fully connected layers become convolutions (fc6: ``fc_kernel`` x
    ``fc_kernel``, fc7: 1x1, each ReLU + dropout), a 1x1 ``score_fr`` scores the
    classes at stride 32; FCN-16s adds a zero-initialised 1x1 scorer on the
    stride-16 features (pool4) fused by sum after a 2x learnable upsampling,
    FCN-8s adds the stride-8 features (pool3) likewise, and a final transposed
    convolution (initialised to bilinear) upsamples to the input size. The
    input is padded to a multiple of the total stride and the scores are
    cropped back, so any image size works (the Caffe models pad by 100 pixels
    for the same reason).

    Other backbones (``"inception_v4"``, ``"inception_resnet_v2"`` and their
    ``*_tiny`` presets) run with ``padding="same"`` so their strides are exact;
    the skips come from their deepest endpoints at strides 16 and 8 and, as in
    the FCN paper's GoogLeNet variant, ``score_fr`` sits directly on the
    stride-32 features (no fc6/fc7 unless ``fc_units`` is given).

    Args:
        output_stride: 32, 16 or 8.
        num_classes: classes including background (VOC: 21).
        input_shape: ``(height, width, 3)``; ``None`` for dynamic sizes.
        backbone: a registered backbone
            (:func:`keras_segattn.backbones.list_backbones`): ``"vgg16"``,
            ``"inception_v4"``, ``"inception_resnet_v2"`` or a ``*_tiny`` preset.
        backbone_weights: ``None``, ``"imagenet"`` or a weights file (see the
            backbone's loader).
        widths, depths: VGG stages (``len >= 3``) overriding the VGG preset's;
            VGG backbones only.
        fc_units: fc6/fc7 width; ``None``: 4096 on VGG backbones, none on others.
        fc_kernel, dropout: fc6 kernel, dropout rate.
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
    spec = check_backbone(backbone, label)
    check_backbone_weights(backbone_weights, label)
    arch = {}
    vgg = spec.family == "vgg16"
    for argument, value in (("widths", widths), ("depths", depths)):
        if value is None:
            continue
        if not vgg:
            raise ValueError(
                message(label, argument, f"None with backbone={spec.name!r} (VGG stages; the backbone's preset "
                        "sets its own widths)", value)
            )
        arch[argument] = check_int_tuple(label, argument, value)
    if vgg:
        stages = len(arch.get("widths", spec.arch.get("widths", VGG16_WIDTHS)))
        if stages < 3:
            raise ValueError(
                message(label, "widths", "at least 3 VGG stages (the skips come from pool3 and pool4)", widths)
            )
    else:
        arch["padding"] = "same"
    strides = spec.strides(**arch)
    total_stride = max(strides.values())
    if fc_units is None:
        fc_units = 4096 if vgg else 0
    fc_units = check_int(label, "fc_units", fc_units, minimum=0)
    fc_kernel = check_positive_int(label, "fc_kernel", fc_kernel)
    dropout = check_number(label, "dropout", dropout, minimum=0.0, maximum=1.0)
    if dropout == 1.0:
        raise ValueError(message(label, "dropout", "a finite number >= 0.0 and < 1.0 (1 drops every feature)", dropout))

    inputs = keras.Input(input_shape, name="image")
    x = spec.preprocessing()(inputs)
    x = PadToMultiple(total_stride, name="pad")(x)
    feats = spec.apply(x, **arch)
    x = feats[spec.at_stride(total_stride, **arch)]
    for i, (units, kernel) in enumerate(((fc_units, fc_kernel), (fc_units, 1)), start=6):
        if not units:
            break
        # fc6's large kernel on the small pool5 map is a matmul; TF's CPU convolution kernel ran
        # it at a sixth of the matmul rate (MatmulConv2D's docstring). Same weights as Conv2D.
        conv = MatmulConv2D if kernel > 1 else keras.layers.Conv2D
        x = conv(units, kernel, padding="same", activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"drop{i}")(x)
    score = keras.layers.Conv2D(num_classes, 1, name="score_fr")(x)

    stride = total_stride
    for _ in range({32: 0, 16: 1, 8: 2}[output_stride]):
        stride //= 2
        skip = spec.at_stride(stride, **arch)
        # VGG's names stay pool4/pool3 (the layer names of the FCN papers' models).
        up = BilinearUpsampling2DTranspose(num_classes, 2, name=f"upscore_to_{skip}")(score)
        skip_score = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=f"score_{skip}")(
            feats[skip]
        )
        score = keras.layers.Add(name=f"fuse_{skip}")([up, skip_score])
    score = BilinearUpsampling2DTranspose(num_classes, stride, name=f"upscore{stride}")(score)
    outputs = CropToReference(name="logits", dtype="float32")([score, inputs])
    model = keras.Model(inputs, outputs, name=label)
    spec.load_weights(model, backbone_weights)
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
