"""Inception-ResNet-v2 from Keras Applications, as a backbone with named endpoints.

Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261).

The network is Keras Applications' ``InceptionResNetV2`` (the TF-slim layout
its ImageNet weights come from: 10 Inception-ResNet-A, 20 -B and 10 -C
blocks), not a re-write: its functional config is taken as is and only
rewritten where Keras offers no argument:

- every width divided by ``width_divisor`` and the block repeats cut to
  ``blocks`` (tiny variants; every width of the network is a multiple of 8,
  and the residual "up" convolutions scale with their input, so the graph stays
  consistent);
- the residual scales (Keras hard-codes 0.17, 0.1, 0.2) as an argument, with
  Keras' private unregistered scale layer replaced by the serialisable
  :class:`~keras_segattn.layers.ScaledResidual` (so a ``.keras`` file reloads);
- ``padding="same"`` for exact strides 2/4/8/16/32 in dense heads;
- auto-generated layer names (``conv2d_17``, which depend on how many layers
  the process has created before) renamed after their block
  (``block35_3_conv2``), so names are the same in every process.

ImageNet weights (``weights="imagenet"`` or a Keras weights file) need the
paper widths and blocks; they are Keras' own and are copied layer by layer
(the rewritten graph keeps Keras' layer order), shape-checked.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re

import keras

from keras_segattn.backbones.inception_v4 import (
    check_padding,
    check_width_divisor,
    load_own_weights,
    nested_backbone,
)
from keras_segattn.validation import check_int_tuple, check_number, message

__all__ = [
    "INCEPTION_RESNET_V2_BLOCKS",
    "INCEPTION_RESNET_V2_ENDPOINTS",
    "INCEPTION_RESNET_V2_SCALES",
    "inception_resnet_v2_backbone",
    "load_inception_resnet_v2_weights",
]

INCEPTION_RESNET_V2_BLOCKS = (10, 20, 10)
INCEPTION_RESNET_V2_SCALES = (0.17, 0.1, 0.2)

# name -> stride with padding="same" (valid: 147, 71, 35, 17, 8 on a 299x299 input).
INCEPTION_RESNET_V2_ENDPOINTS = {
    "stem_conv": 2,
    "stem_mixed": 4,
    "stem": 8,
    "inception_resnet_a": 8,
    "inception_resnet_b": 16,
    "inception_resnet_c": 32,
}

_WIDTHS = (32, 48, 64, 80, 96, 128, 160, 192, 224, 256, 288, 320, 384, 1088, 1536, 2080)
_BLOCK_TYPES = ("block35", "block17", "block8")
_KINDS = {
    "Conv2D": "conv",
    "BatchNormalization": "bn",
    "Activation": "relu",
    "MaxPooling2D": "pool",
    "AveragePooling2D": "avgpool",
    "CustomScaleLayer": "residual",
}
_AUTO_NAME = re.compile(
    r"^(input_layer|conv2d|batch_normalization|activation|max_pooling2d|average_pooling2d|custom_scale_layer)(_\d+)?$"
)


@functools.lru_cache(maxsize=1)
def _keras_config():
    # Built once per process: the full network allocates 54M weights, the
    # config is all that is needed for widths, blocks or padding other than Keras'.
    model = keras.applications.InceptionResNetV2(include_top=False, weights=None, input_shape=(None, None, 3))
    return json.dumps(model.get_config())


def _segments(layers):
    """The block each layer belongs to: 'stem', 'mixed_5b', 'block35_3', ..., 'conv_7b'."""
    pools = 0
    in_stem = True
    pending = []
    owner = {}
    segment = "stem"
    for layer in layers:
        name = layer["name"]
        if in_stem:
            owner[name] = "stem"
            pools += layer["class_name"] == "MaxPooling2D"
            in_stem = pools < 2
            continue
        if layer["class_name"] == "CustomScaleLayer":
            owner[name] = segment  # follows its block's "up" convolution; the last one has no "_ac" after it
            continue
        if _AUTO_NAME.match(name):
            pending.append(name)
            continue
        match = re.match(r"^(block\d+_\d+)", name)
        segment = match.group(1) if match else ("conv_7b" if name.startswith("conv_7b") else name)
        for auto in pending + [name]:
            owner[auto] = segment
        pending = []
    return owner


def _references(node_args, mapping):
    """Rewrite every keras_history layer name in a serialised call through ``mapping``."""
    if isinstance(node_args, dict):
        if node_args.get("class_name") == "__keras_tensor__":
            history = node_args["config"]["keras_history"]
            history[0] = mapping.get(history[0], history[0])
            return node_args
        return {k: _references(v, mapping) for k, v in node_args.items()}
    if isinstance(node_args, (list, tuple)):
        return [_references(v, mapping) for v in node_args]
    return node_args


def _rewrite(config, *, input_shape, blocks, scales, width_divisor, padding):
    config = copy.deepcopy(config)
    layers = config["layers"]
    owner = _segments(layers)
    full = dict(zip(_BLOCK_TYPES, INCEPTION_RESNET_V2_BLOCKS))
    keep = dict(zip(_BLOCK_TYPES, blocks))

    def kept(segment):
        match = re.match(r"^(block\d+)_(\d+)$", segment)
        if not match:
            return True
        kind, index = match.group(1), int(match.group(2))
        if kind == "block8" and index == full["block8"]:
            return True  # the last, linear block8 (scale 1, no ReLU) ends the network
        return index <= keep[kind] - (kind == "block8")

    # Output of the last kept block of each type, replacing the last original one.
    last_block8 = keep["block8"] - 1
    redirect = {
        "block35_10_ac": f"block35_{keep['block35']}_ac",
        "block17_20_ac": f"block17_{keep['block17']}_ac",
        "block8_9_ac": f"block8_{last_block8}_ac" if last_block8 else "mixed_7a",
    }
    layers = [layer for layer in layers if kept(owner[layer["name"]])]

    rename = {}
    counters = {}
    stem_relus = 0
    endpoints = {"stem": "mixed_5b", "inception_resnet_c": "conv_7b_ac"}
    for layer in layers:
        name, cls = layer["name"], layer["class_name"]
        if _AUTO_NAME.match(name):
            segment = owner[name]
            kind = _KINDS.get(cls, "image" if cls == "InputLayer" else cls.lower())
            key = (segment, kind)
            counters[key] = counters.get(key, 0) + 1
            new = "image" if cls == "InputLayer" else (
                f"{segment}_{kind}" if kind == "residual" else f"{segment}_{kind}{counters[key]}"
            )
            rename[name] = new
            if segment == "stem" and cls == "Activation":
                stem_relus += 1
                if stem_relus == 3:
                    endpoints["stem_conv"] = new
                elif stem_relus == 5:
                    endpoints["stem_mixed"] = new
    endpoints["inception_resnet_a"] = redirect["block35_10_ac"]
    endpoints["inception_resnet_b"] = redirect["block17_20_ac"]

    for layer in layers:
        layer.pop("build_config", None)
        layer["name"] = rename.get(layer["name"], layer["name"])
        cfg = layer["config"]
        if layer["class_name"] != "InputLayer":
            # The cached config carries the dtype policy in force when it was first
            # built: a process that built one under mixed precision gave later
            # float32 models bfloat16 layers. Layers take the current policy instead.
            cfg.pop("dtype", None)
        cfg["name"] = layer["name"]
        cls = layer["class_name"]
        if cls == "InputLayer":
            cfg["batch_shape"] = [None, *input_shape]
        if cls == "Conv2D":
            cfg["filters"] //= width_divisor
        if cls in ("Conv2D", "MaxPooling2D") and padding == "same":
            cfg["padding"] = "same"
        if cls == "CustomScaleLayer":
            block = owner[next(k for k, v in rename.items() if v == layer["name"])]
            kind, index = block.rsplit("_", 1)
            last = kind == "block8" and int(index) == full["block8"]
            scale = cfg["scale"] if last else scales[_BLOCK_TYPES.index(kind)]
            layer.update(
                module="keras_segattn.layers.scaled_residual",
                class_name="ScaledResidual",
                registered_name="keras_segattn>ScaledResidual",
                config={"name": layer["name"], "trainable": cfg["trainable"], "scale": scale},
            )
        mapping = {**redirect, **rename}
        layer["inbound_nodes"] = _references(layer["inbound_nodes"], mapping)
    config["layers"] = layers
    for key in ("input_layers", "output_layers"):
        refs = config[key]
        if refs and isinstance(refs[0], str):
            refs[0] = rename.get(refs[0], refs[0])
        else:
            for ref in refs:
                ref[0] = rename.get(ref[0], ref[0])
    return config, endpoints


def inception_resnet_v2_backbone(
    input_shape=(None, None, 3),
    *,
    blocks=INCEPTION_RESNET_V2_BLOCKS,
    residual_scales=INCEPTION_RESNET_V2_SCALES,
    width_divisor=1,
    padding="valid",
    weights=None,
    name="inception_resnet_v2",
):
    """Keras Applications' Inception-ResNet-v2 body: standardised image in, dict of endpoints out.

    Args:
        input_shape: ``(H, W, 3)`` of the input scaled to [-1, 1]
            (:func:`~keras_segattn.backbones.inception_preprocessing`); with
            ``padding="valid"`` H and W must be at least 75.
        blocks: repeats of Inception-ResNet-A, -B and -C (Keras / TF-slim:
            ``(10, 20, 10)``; the last -C block is Keras' linear one).
        residual_scales: the residual scale of the A, B and C blocks
            (Keras: ``(0.17, 0.1, 0.2)``; the paper: "between 0.1 and 0.3").
        width_divisor: every width divided by it (tiny: 8).
        padding: ``"valid"`` (Keras) or ``"same"`` (exact strides for dense heads).
        weights: ``None``, ``"imagenet"`` (Keras' download; needs a network)
            or a weights file, see :func:`load_inception_resnet_v2_weights`.
        name: model name.

    Returns:
        A ``keras.Model`` whose output is a dict of endpoints
        (:data:`INCEPTION_RESNET_V2_ENDPOINTS` gives each stride):
        ``stem_conv`` (64 ch), ``stem_mixed`` (192), ``stem`` (Keras'
        ``mixed_5b``, 320), ``inception_resnet_a`` (320), ``inception_resnet_b``
        (1088), ``inception_resnet_c`` (``conv_7b``, 1536), divided by
        ``width_divisor``.

    Example:
        >>> from keras_segattn.backbones import inception_resnet_v2_backbone
        >>> body = inception_resnet_v2_backbone((64, 64, 3), blocks=(1, 1, 1), width_divisor=8, padding="same")
        >>> body.output["inception_resnet_c"].shape
        (None, 2, 2, 192)
    """
    where = name or "inception_resnet_v2"
    blocks = check_int_tuple(where, "blocks", blocks, minimum=1, length=3)
    for block, most in zip(blocks, INCEPTION_RESNET_V2_BLOCKS):
        if block > most:
            raise ValueError(message(where, "blocks", f"at most {INCEPTION_RESNET_V2_BLOCKS} (Keras' depths)", blocks))
    if not isinstance(residual_scales, (list, tuple)) or len(residual_scales) != 3:
        raise ValueError(message(where, "residual_scales", "3 numbers (A, B and C blocks)", residual_scales))
    scales = tuple(check_number(where, "residual_scales", s) for s in residual_scales)
    width_divisor = check_width_divisor(where, width_divisor, _WIDTHS)
    check_padding(where, padding, input_shape)
    config, endpoints = _rewrite(
        json.loads(_keras_config()), input_shape=tuple(input_shape), blocks=blocks, scales=scales,
        width_divisor=width_divisor, padding=padding,
    )
    body = keras.Model.from_config(config)
    model = keras.Model(
        body.inputs[0], {key: body.get_layer(endpoints[key]).output for key in INCEPTION_RESNET_V2_ENDPOINTS}, name=name
    )
    load_inception_resnet_v2_weights(model, weights)
    return model


def load_inception_resnet_v2_weights(model, weights):
    """Copy Keras Applications' Inception-ResNet-v2 weights into a full-size backbone ``model``.

    Args:
        model: a backbone from :func:`inception_resnet_v2_backbone` (default
            blocks and widths), or a model containing it as a layer named
            ``"inception_resnet_v2"``.
        weights: ``None`` (no-op), ``"imagenet"`` (download; needs a network),
            the path of a Keras ``InceptionResNetV2`` weights file without top
            (full layout), or a ``.weights.h5`` file saved from an
            Inception-ResNet-v2 backbone with the same arguments (any layout).
    """
    if weights is None:
        return model
    if isinstance(weights, (str, os.PathLike)) and str(weights).endswith(".weights.h5") and os.path.exists(weights):
        return load_own_weights(model, weights, "inception_resnet_v2")
    if weights != "imagenet" and not (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights)):
        raise ValueError(
            message("inception_resnet_v2", "backbone_weights",
                    "None, 'imagenet' or the path of an existing Keras InceptionResNetV2 weights file", weights)
        )
    try:
        source = keras.applications.InceptionResNetV2(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as error:  # Keras raises bare Exception on a failed download
        if weights == "imagenet":
            raise RuntimeError(
                "inception_resnet_v2: backbone_weights='imagenet' downloads Keras Applications' weights and needs "
                f"a network ({type(error).__name__}: {error}). Download them where there is one and pass the "
                "file's path instead."
            ) from error
        raise ValueError(
            message("inception_resnet_v2", "backbone_weights",
                    "a Keras InceptionResNetV2 weights file without top (include_top=False)", weights)
            + f" ({type(error).__name__}: {error})"
        ) from error
    target = nested_backbone(model, "inception_resnet_v2")
    ours = [w for layer in target.layers for w in layer.weights]
    theirs = [w for layer in source.layers for w in layer.weights]
    if len(ours) != len(theirs) or any(a.shape != b.shape for a, b in zip(ours, theirs)):
        raise ValueError(
            "backbone_weights: the model's Inception-ResNet-v2 does not have Keras' full layout "
            "(blocks=(10, 20, 10), width_divisor=1); ImageNet weights cannot fill it."
        )
    for a, b in zip(ours, theirs):
        a.assign(b)
    return model
