"""The naive segmenter: classify the centre pixel of a patch, everywhere.

The lecture's starting point before FCN: a CNN reads a ``P x P`` patch and
classifies its centre pixel; running it on the patch around every pixel labels
the image (slow: neighbouring patches recompute the same convolutions). The
same weights can instead run "fully convolutionally" over the whole image: a
stride-2 pool would make the output 2x coarser, so every pool becomes a
stride-1 pool dilated by the product of the earlier strides and every later
convolution is dilated likewise (the "a trous" / filter-rarefaction trick,
equivalent to shift-and-stitch, Long et al. 2015 section 3.2; Giusti et al.,
"Fast image scanning with deep max-pooling convolutional neural networks",
ICIP 2013). The result is the patch classifier's output at every pixel,
exactly, at full resolution.

* :func:`patch_classifier` builds the dense model (registered, trains with
  ``model.fit`` on whole images: the loss over all pixels is the patch
  classifier's loss over all patches).
* :func:`patch_network` builds the per-patch classifier sharing its weights.
* :func:`sliding_window_predict` runs the slow path: every patch, batched.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_segattn.backbones import preprocessing
from keras_segattn.layers import DilatedMaxPooling2D
from keras_segattn.models._common import check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_int,
    check_int_tuple,
    check_number,
    check_positive_int,
    message,
)

__all__ = ["patch_classifier", "patch_network", "sliding_window_predict", "valid_patch_sizes"]

PAPER = "Lecture baseline: a CNN classifies the centre pixel of a patch (sliding window vs dense evaluation)"

TINY = dict(num_classes=4, patch_size=18, widths=(4, 8), depths=(1, 1), kernel_size=3, fc_units=16, dropout=0.0)


def _fc_kernel(patch_size, depths, kernel_size):
    """The patch size after the conv stages (the fc layer's kernel), or None if ``patch_size`` does not fit."""
    size = patch_size
    for depth in depths:
        size -= depth * (kernel_size - 1)
        if size < 2 or size % 2:
            return None
        size //= 2
    return size


def valid_patch_sizes(depths, kernel_size, limit=256) -> list[int]:
    """Patch sizes up to ``limit`` that the stages reduce exactly to an ``f x f`` map (f >= 1).

    Example:
        >>> valid_patch_sizes((1, 1), 3, limit=30)
        [10, 14, 18, 22, 26, 30]
    """
    return [p for p in range(1, limit + 1) if _fc_kernel(p, depths, kernel_size)]


def patch_classifier(
    num_classes=21,
    input_shape=(None, None, 3),
    patch_size=46,
    widths=(32, 64, 128),
    depths=(1, 1, 1),
    kernel_size=3,
    fc_units=256,
    dropout=0.5,
    name="patch_classifier",
):
    """The patch classifier run densely: logits for the ``patch_size`` patch around every pixel.

    The patch network: ``len(widths)`` stages of ``depths[i]`` valid
    ``kernel_size`` convolutions (ReLU) and a 2x2 stride-2 max-pool, an ``fc``
    layer (a valid convolution covering the remaining ``f x f`` map, ReLU,
    dropout) and a 1x1 class scorer: a ``P x P`` patch gives one logit vector,
    the class of its centre pixel (row/column ``P // 2``). The dense model pads
    the raw image with zeros (``P // 2`` above/left, ``P - 1 - P // 2``
    below/right, as the sliding window does at the border), then runs the same
    layers with stage ``s``'s convolutions dilated by ``2**s``, its pool
    replaced by a stride-1 :class:`~keras_segattn.layers.DilatedMaxPooling2D`
    dilated by ``2**s`` and the fc layer dilated by ``2**len(widths)``: the
    output at pixel ``(i, j)`` equals the patch network on the patch around
    ``(i, j)`` (tested), at full resolution, with shared computation.

    Args:
        num_classes: classes including background.
        input_shape: ``(height, width, 3)``; ``None`` for dynamic sizes (any size works).
        patch_size: ``P``; must reduce exactly through the stages
            (:func:`valid_patch_sizes` lists the valid ones).
        widths, depths: filters and convolutions per stage.
        kernel_size: the convolutions' kernel (odd or even).
        fc_units, dropout: the fc layer's width and dropout rate.
        name: model name.

    Input: raw RGB ``(batch, H, W, 3)`` in [0, 255].
    Output: logits ``(batch, H, W, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> from keras_segattn.models.patch_classifier import sliding_window_predict
        >>> model = ksa.build_model("patch_classifier_tiny")
        >>> image = np.random.default_rng(0).uniform(0, 255, (1, 12, 9, 3)).astype("float32")
        >>> dense = model.predict(image, verbose=0)
        >>> dense.shape
        (1, 12, 9, 4)
        >>> bool(np.allclose(dense, sliding_window_predict(model, image), atol=1e-4))
        True
    """
    label = name or "patch_classifier"
    num_classes = check_positive_int(label, "num_classes", num_classes)
    input_shape = check_image_shape(input_shape, label)
    widths = check_int_tuple(label, "widths", widths)
    depths = check_int_tuple(label, "depths", depths, length=len(widths))
    kernel_size = check_positive_int(label, "kernel_size", kernel_size)
    fc_units = check_positive_int(label, "fc_units", fc_units)
    dropout = check_number(label, "dropout", dropout, minimum=0, maximum=1)
    patch_size = check_int(label, "patch_size", patch_size, minimum=2)
    fc_kernel = _fc_kernel(patch_size, depths, kernel_size)
    if fc_kernel is None:
        sizes = valid_patch_sizes(depths, kernel_size, limit=max(4 * patch_size, 64))
        near = sorted(sizes, key=lambda p: (abs(p - patch_size), p))[:2]
        raise ValueError(
            message(
                label, "patch_size",
                f"a size the {len(widths)} stages (valid {kernel_size}x{kernel_size} convolutions, 2x2 pools) "
                f"reduce exactly, e.g. {' or '.join(str(p) for p in sorted(near))}",
                patch_size,
            )
        )

    top = patch_size // 2
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.ZeroPadding2D(((top, patch_size - 1 - top), (top, patch_size - 1 - top)), name="pad")(inputs)
    x = preprocessing()(x)
    for s, (width, depth) in enumerate(zip(widths, depths)):
        for d in range(depth):
            x = keras.layers.Conv2D(
                width, kernel_size, dilation_rate=2**s, activation="relu", name=f"conv{s + 1}_{d + 1}"
            )(x)
        x = DilatedMaxPooling2D(2, dilation_rate=2**s, name=f"pool{s + 1}")(x)
    x = keras.layers.Conv2D(fc_units, fc_kernel, dilation_rate=2 ** len(widths), activation="relu", name="fc")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="drop_fc")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=label)


def _patch_size_of(model) -> int | None:
    try:
        pad = model.get_layer("pad")
    except ValueError:
        return None
    if not isinstance(pad, keras.layers.ZeroPadding2D):
        return None
    (top, bottom), _ = pad.get_config()["padding"]
    return int(top + bottom + 1)


def patch_network(model):
    """The per-patch classifier with ``model``'s weights (copied when built: rebuild it after training).

    Walks ``model`` (a :func:`patch_classifier`, e.g. from ``build_model`` or a
    reloaded file) and rebuilds its layer chain undilated: no padding, the
    same convolutions with ``dilation_rate=1``, and 2x2 stride-2 max-pools.

    Input: raw RGB patches ``(batch, P, P, 3)``. Output: logits ``(batch, num_classes)``.

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> from keras_segattn.models.patch_classifier import patch_network
        >>> net = patch_network(ksa.build_model("patch_classifier_tiny"))
        >>> net.predict(np.zeros((5, 18, 18, 3)), verbose=0).shape
        (5, 4)
    """
    patch_size = _patch_size_of(model)
    if patch_size is None:
        raise ValueError(
            message("patch_network", "model", "a patch_classifier (a ZeroPadding2D layer named 'pad')", model.name)
        )
    inputs = keras.Input((patch_size, patch_size, 3), name="patch")
    x = inputs
    for layer in model.layers[1:]:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            config = layer.get_config()
            config["dilation_rate"] = (1, 1)
            clone = keras.layers.Conv2D.from_config(config)
            x = clone(x)
            clone.set_weights(layer.get_weights())
        elif isinstance(layer, DilatedMaxPooling2D):
            x = keras.layers.MaxPooling2D(layer.pool_size, name=layer.name)(x)
        else:
            x = type(layer).from_config(layer.get_config())(x)
    num_classes = x.shape[-1]
    outputs = keras.layers.Reshape((num_classes,), name="centre_logits")(x)
    return keras.Model(inputs, outputs, name=f"{model.name}_patch")


def sliding_window_predict(model, images, batch_size=4096, network=None):
    """The naive path: classify the patch around every pixel with :func:`patch_network`.

    Pads ``images`` with zeros as the dense model does, cuts the ``P x P``
    patch around each pixel and classifies the patches in batches of
    ``batch_size``.

    Args:
        model: a :func:`patch_classifier` model.
        images: raw RGB ``(batch, H, W, 3)``.
        batch_size: patches per forward pass.
        network: a prebuilt :func:`patch_network` (built here when ``None``).

    Returns:
        logits ``(batch, H, W, num_classes)`` (NumPy float32), equal to
        ``model.predict(images)`` up to float rounding.
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(message("sliding_window_predict", "images", "raw RGB of shape (batch, H, W, 3)", f"shape {images.shape}"))
    batch_size = check_positive_int("sliding_window_predict", "batch_size", batch_size)
    network = network or patch_network(model)
    patch_size = network.inputs[0].shape[1]
    top = patch_size // 2
    padded = np.pad(images, ((0, 0), (top, patch_size - 1 - top), (top, patch_size - 1 - top), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch_size, patch_size), axis=(1, 2))
    b, h, w = images.shape[:3]
    windows = windows.reshape(b * h * w, 3, patch_size, patch_size)  # (N, C, P, P) views
    outputs = []
    for start in range(0, len(windows), batch_size):
        patches = np.ascontiguousarray(windows[start : start + batch_size].transpose(0, 2, 3, 1))
        outputs.append(np.asarray(network(patches, training=False)))
    return np.concatenate(outputs).reshape(b, h, w, -1)


register_model("patch_classifier", family="patch_classifier", task="semantic_segmentation", paper=PAPER)(
    patch_classifier
)
register_variant("patch_classifier_tiny", "patch_classifier", tiny=True, **TINY)
