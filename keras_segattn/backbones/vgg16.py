"""VGG16 feature extractor with named endpoints (plain, BatchNorm, argmax pooling).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015. The backbone of FCN, DeconvNet, SDS, Hypercolumns and
MNC. Layer names follow Keras Applications (``block3_conv2``, ``fc1``...), so
ImageNet weights load by name.
"""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np

from keras_segattn.layers import MaxPoolingWithArgmax2D
from keras_segattn.validation import check_choice, check_int_tuple

__all__ = [
    "VGG16_WIDTHS",
    "VGG16_DEPTHS",
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "preprocessing",
    "vgg16_features",
    "vgg16",
    "load_vgg16_weights",
]

VGG16_WIDTHS = (64, 128, 256, 512, 512)
VGG16_DEPTHS = (2, 2, 3, 3, 3)
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_STD_RGB = (58.393, 57.12, 57.375)


def preprocessing(name="preprocess"):
    """Raw RGB in [0, 255] -> per-channel standardised input, inside the graph.

    ``(x - mean) / std`` as a ``Rescaling`` (``x * scale + offset``): its
    constants are graph literals, whereas ``keras.layers.Normalization``'s
    captured mean/variance tensors become spurious required inputs in ONNX
    exports (tf2onnx, also through Keras' own ``model.export(format="onnx")``).
    """
    return keras.layers.Rescaling(
        scale=[1.0 / s for s in IMAGENET_STD_RGB],
        offset=[-m / s for m, s in zip(IMAGENET_MEAN_RGB, IMAGENET_STD_RGB)],
        name=name,
    )


def _check_arch(widths, depths):
    widths = check_int_tuple("vgg16", "widths", widths)
    depths = check_int_tuple("vgg16", "depths", depths)
    if len(widths) != len(depths):
        raise ValueError(
            f"vgg16: widths and depths must be non-empty and of equal length, received "
            f"widths={widths} and depths={depths}."
        )
    return widths, depths


def vgg16_features(x, *, widths=VGG16_WIDTHS, depths=VGG16_DEPTHS, batch_norm=False, pooling="max"):
    """Apply the VGG16 convolutional stages to a preprocessed tensor ``x``.

    Args:
        x: symbolic ``(batch, H, W, 3)`` tensor, already standardised.
        widths: filters per stage (VGG16: ``(64, 128, 256, 512, 512)``).
        depths: 3x3 convolutions per stage (VGG16: ``(2, 2, 3, 3, 3)``).
        batch_norm: conv -> BatchNorm -> ReLU (DeconvNet) instead of conv+ReLU.
        pooling: ``"max"`` (``MaxPooling2D``) or ``"argmax"``
            (:class:`~keras_segattn.layers.MaxPoolingWithArgmax2D`).

    Returns:
        A dict of endpoints: ``conv{i}`` (stage output before pooling, stride
        ``2**(i-1)``), ``pool{i}`` (stride ``2**i``) and, for argmax pooling,
        ``switches{i}``.
    """
    widths, depths = _check_arch(widths, depths)
    check_choice("vgg16", "pooling", pooling, ("max", "argmax"))
    endpoints = {}
    for stage, (width, depth) in enumerate(zip(widths, depths), start=1):
        for i in range(1, depth + 1):
            name = f"block{stage}_conv{i}"
            if batch_norm:
                x = keras.layers.Conv2D(width, 3, padding="same", name=name)(x)
                x = keras.layers.BatchNormalization(name=f"block{stage}_bn{i}")(x)
                x = keras.layers.ReLU(name=f"block{stage}_relu{i}")(x)
            else:
                x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=name)(x)
        endpoints[f"conv{stage}"] = x
        if pooling == "argmax":
            x, switches = MaxPoolingWithArgmax2D(2, name=f"block{stage}_pool")(x)
            endpoints[f"switches{stage}"] = switches
        else:
            x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
        endpoints[f"pool{stage}"] = x
    return endpoints


def vgg16(
    input_shape=(None, None, 3),
    *,
    widths=VGG16_WIDTHS,
    depths=VGG16_DEPTHS,
    batch_norm=False,
    pooling="max",
    weights=None,
    name="vgg16_backbone",
):
    """VGG16 as a standalone feature extractor (raw RGB in, dict of endpoints out).

    Example:
        >>> from keras_segattn.backbones import vgg16
        >>> backbone = vgg16((64, 64, 3), widths=(8, 8, 8, 8, 8))
        >>> sorted(backbone.output)[:3], backbone.output["pool5"].shape
        (['conv1', 'conv2', 'conv3'], (None, 2, 2, 8))
    """
    inputs = keras.Input(input_shape, name="image")
    features = vgg16_features(
        preprocessing()(inputs), widths=widths, depths=depths, batch_norm=batch_norm, pooling=pooling
    )
    model = keras.Model(inputs, features, name=name)
    load_vgg16_weights(model, weights)
    return model


def _keras_applications_vgg16(weights):
    # include_top=True carries fc1/fc2, which FCN and DeconvNet turn into fc6/fc7
    # convolutions; a notop file is accepted too. Keras only warns when a file
    # fills part of a model, so warnings are errors here: a notop file must not
    # leave a top model's fc layers silently random.
    if weights == "imagenet":
        return keras.applications.VGG16(include_top=True, weights="imagenet")
    errors = []
    for include_top in (True, False):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                return keras.applications.VGG16(include_top=include_top, weights=weights)
        except (ValueError, UserWarning, KeyError, OSError) as error:
            errors.append(f"include_top={include_top}: {error}")
    raise ValueError(
        f"backbone_weights: {weights!r} is not a Keras Applications VGG16 weights file "
        f"({'; '.join(errors)})."
    )


def load_vgg16_weights(model, weights):
    """Load ImageNet VGG16 weights into the VGG16 layers of ``model``, by name.

    Args:
        model: a model built with :func:`vgg16_features` (paper widths).
        weights: ``None`` (keep the initialisation), ``"imagenet"`` (Keras
            Applications download; needs a network) or the path of a Keras
            Applications VGG16 weights file (with or without top).

    The weights expect Caffe preprocessing (BGR, mean subtracted); the first
    convolution is rewritten so that it gives the same response on our
    standardised RGB input. ``fc1``/``fc2`` become the ``fc6``/``fc7``
    convolutions where ``model`` has them with matching sizes (FCN's
    "convolutionalization"). BatchNorm layers keep their initial values.
    """
    if weights is None:
        return model
    if weights != "imagenet" and not (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights)):
        raise ValueError(
            "backbone_weights must be None, 'imagenet' or the path of an existing Keras VGG16 "
            f"weights file, received {weights!r}."
        )
    source = _keras_applications_vgg16(weights)
    names = {layer.name for layer in model.layers}
    copied = 0
    for layer in source.layers:
        if not layer.weights or not layer.name.startswith("block"):
            continue
        if layer.name not in names:
            continue
        kernel, bias = layer.get_weights()
        target = model.get_layer(layer.name)
        if target.kernel.shape != kernel.shape:
            raise ValueError(
                f"backbone_weights: layer {layer.name} has shape {tuple(target.kernel.shape)} but the "
                f"VGG16 weights have {kernel.shape}; ImageNet weights need the paper widths."
            )
        if layer.name == "block1_conv1":
            # Caffe conv1 sees (x_bgr - mean_bgr); ours sees (x_rgb - mean_rgb) / std_rgb.
            kernel = kernel[:, :, ::-1, :] * np.asarray(IMAGENET_STD_RGB, "float32")[None, None, :, None]
        target.set_weights([kernel, bias])
        copied += 1
    for fc, conv in (("fc1", "fc6"), ("fc2", "fc7")):
        if conv in names and any(layer.name == fc for layer in source.layers):
            kernel, bias = source.get_layer(fc).get_weights()
            target = model.get_layer(conv)
            shape = tuple(target.kernel.shape)
            if int(np.prod(shape)) == kernel.size:
                target.set_weights([kernel.reshape(shape), bias])
                copied += 1
    if copied == 0:
        raise ValueError(
            "backbone_weights: no VGG16 layer of the model matched the weights file by name "
            "(expected block1_conv1 ... block5_conv3)."
        )
    return model
