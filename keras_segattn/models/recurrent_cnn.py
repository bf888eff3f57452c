"""Recurrent convolutional network for scene labelling.

Pinheiro & Collobert, "Recurrent Convolutional Neural Networks for Scene
Labeling", ICML 2014: ONE network ``f`` (shared weights) is applied
``iterations`` times; iteration ``k`` reads the image concatenated with the
class-probability planes of iteration ``k - 1`` (the first reads an empty,
all-zero label map), so the context each pixel's decision sees grows with
every pass while the parameter count stays that of ``f``. Every iteration's
output is supervised during training.

Deep supervision with ``model.fit``::

    import keras_segattn as ksa
    from keras_segattn.models.recurrent_cnn import compile_deep_supervision, iteration_targets

    model = ksa.build_model("recurrent_cnn_tiny", all_iterations=True)   # a list of logits
    compile_deep_supervision(model, loss_weights=(0.5, 0.5, 1.0))
    model.fit(x, iteration_targets(y, 3), epochs=...)                   # or a dataset: ds.map(...)
    single = ksa.build_model("recurrent_cnn_tiny")                      # the last iteration only
    single.set_weights(model.get_weights())                             # same variables, same order
"""

from __future__ import annotations

import keras

from keras_segattn.backbones import preprocessing
from keras_segattn.layers import BilinearUpsampling2D, ConstantPlanes
from keras_segattn.models._common import check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_bool,
    check_choice,
    check_int,
    check_int_tuple,
    check_number,
    check_positive_int,
    message,
)

__all__ = ["recurrent_cnn", "compile_deep_supervision", "iteration_targets", "check_loss_weights"]

PAPER = "Pinheiro & Collobert, Recurrent Convolutional Neural Networks for Scene Labeling, ICML 2014"

TINY = dict(num_classes=4, iterations=3, widths=(8, 16), kernel_size=3, activation="relu")

ACTIVATIONS = ("tanh", "relu")


def _instance(channels, num_classes, widths, kernel_size, pool_size, activation, name="f"):
    """``f``: image + label planes -> class scores at the pools' stride ("same" convolutions with a pool
    after each but the last, a 1x1 scorer)."""
    inputs = keras.Input((None, None, channels), name="image_and_planes")
    x = inputs
    for i, width in enumerate(widths):
        x = keras.layers.Conv2D(width, kernel_size, padding="same", activation=activation, name=f"conv{i + 1}")(x)
        if i < len(widths) - 1:
            x = keras.layers.MaxPooling2D(pool_size, padding="same", name=f"pool{i + 1}")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)
    return keras.Model(inputs, x, name=name)


def recurrent_cnn(
    num_classes=8,
    input_shape=(None, None, 3),
    iterations=3,
    widths=(25, 50),
    kernel_size=8,
    pool_size=2,
    activation="tanh",
    all_iterations=False,
    name="recurrent_cnn",
):
    """Pinheiro & Collobert's recurrent CNN: one network ``f`` applied ``iterations`` times.

    Iteration ``k`` computes ``logits_k = crop(f(concat(image, softmax(logits_{k-1}))))``
    with ``softmax(logits_0)`` replaced by zero planes
    (:class:`~keras_segattn.layers.ConstantPlanes`). ``f`` is ONE sub-model
    (named ``"f"``): ``len(widths)`` "same" ``kernel_size`` convolutions with a
    max-pool after each but the last and a 1x1 scorer; its scores are
    upsampled bilinearly by the pools' stride and cropped to the input size
    (:class:`~keras_segattn.layers.BilinearUpsampling2D`). More iterations widen
    the context, not the parameter count.

    Args:
        num_classes: classes (Stanford Background: 8).
        input_shape: ``(height, width, 3)``; ``None`` for dynamic sizes.
        iterations: passes of ``f`` (>= 1).
        widths, kernel_size, pool_size, activation: ``f``'s layers
            (paper's instance: 25 and 50 filters of 8x8, 2x2 pooling, tanh).
        all_iterations: ``False``: one output, the last iteration's logits
            (what the SemanticSegmentation task trains, evaluates and
            exports); ``True``: the list of every iteration's logits, for
            deep supervision (:func:`compile_deep_supervision`).
        name: model name.

    Input: raw RGB ``(batch, H, W, 3)`` in [0, 255].
    Output: logits ``(batch, H, W, num_classes)`` (float32), or a list of
    ``iterations`` of them.

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("recurrent_cnn_tiny", all_iterations=True)
        >>> [o.shape for o in model.predict(np.zeros((1, 32, 36, 3)), verbose=0)]
        [(1, 32, 36, 4), (1, 32, 36, 4), (1, 32, 36, 4)]
    """
    label = name or "recurrent_cnn"
    num_classes = check_positive_int(label, "num_classes", num_classes)
    input_shape = check_image_shape(input_shape, label)
    iterations = check_positive_int(label, "iterations", iterations)
    widths = check_int_tuple(label, "widths", widths)
    kernel_size = check_positive_int(label, "kernel_size", kernel_size)
    pool_size = check_int(label, "pool_size", pool_size, minimum=1)
    activation = check_choice(label, "activation", activation, ACTIVATIONS)
    all_iterations = check_bool(label, "all_iterations", all_iterations)

    inputs = keras.Input(input_shape, name="image")
    image = preprocessing()(inputs)
    f = _instance(3 + num_classes, num_classes, widths, kernel_size, pool_size, activation)
    planes = ConstantPlanes(num_classes, 0.0, name="empty_label_map")(image)
    stride = pool_size ** (len(widths) - 1)
    outputs = []
    for k in range(1, iterations + 1):
        x = keras.layers.Concatenate(name=f"input{k}")([image, planes])
        logits = BilinearUpsampling2D(stride, dtype="float32", name=f"logits{k}")([f(x), inputs])
        outputs.append(logits)
        if k < iterations:
            planes = keras.layers.Softmax(name=f"probabilities{k}")(logits)
    return keras.Model(inputs, outputs if all_iterations else outputs[-1], name=label)


def check_loss_weights(loss_weights, iterations, where="compile_deep_supervision") -> list[float]:
    """``loss_weights`` as ``iterations`` non-negative finite floats, not all zero (``None``: all 1)."""
    if loss_weights is None:
        return [1.0] * iterations
    expected = f"a sequence of {iterations} non-negative numbers (one per iteration), not all zero"
    try:
        weights = list(loss_weights)
    except TypeError:
        raise ValueError(message(where, "loss_weights", expected, loss_weights)) from None
    if len(weights) != iterations:
        raise ValueError(message(where, "loss_weights", expected, loss_weights))
    weights = [check_number(where, f"loss_weights[{i}]", w, minimum=0) for i, w in enumerate(weights)]
    if not any(weights):
        raise ValueError(message(where, "loss_weights", expected, loss_weights))
    return weights


def compile_deep_supervision(
    model, loss_weights=None, *, learning_rate=2e-3, total_steps=None, weight_decay=1e-4, jit_compile="auto"
):
    """Compile an ``all_iterations=True`` recurrent CNN with a loss on every iteration.

    The loss is ``sum_k loss_weights[k] * L(y, logits_k)`` with ``L`` the
    library's void-aware cross-entropy; the optimiser and schedule are the
    segmentation recipe's (:func:`keras_segattn.training.compile_segmentation`);
    mean IoU and pixel accuracy are reported on the last iteration. Labels go
    in once per iteration (:func:`iteration_targets`).

    Args:
        model: a model with one output per iteration.
        loss_weights: one non-negative weight per iteration (``None``: all 1).
        learning_rate, total_steps, weight_decay, jit_compile: as ``compile_segmentation``.
    """
    from keras_segattn.training import (
        MeanIoU,
        PixelAccuracy,
        learning_rate_schedule,
        segmentation_loss,
    )

    outputs = list(model.outputs)
    if len(outputs) < 1:
        raise ValueError(message("compile_deep_supervision", "model", "a model with outputs", model))
    weights = check_loss_weights(loss_weights, len(outputs))
    num_classes = int(outputs[-1].shape[-1])
    from keras_segattn.training.schedules import check_learning_rate

    learning_rate = check_learning_rate("compile", learning_rate)
    schedule = learning_rate_schedule("cosine", learning_rate, total_steps) if total_steps else learning_rate
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
        loss=[segmentation_loss() for _ in outputs],
        loss_weights=weights,
        metrics=[[] for _ in outputs[:-1]] + [[MeanIoU(num_classes), PixelAccuracy(num_classes=num_classes)]],
        jit_compile=jit_compile,
    )
    return model


def iteration_targets(labels, iterations):
    """The targets of an ``iterations``-output model: ``labels`` once per iteration.

    ``labels``: an array (returns a tuple) or a ``tf.data.Dataset`` of
    ``(images, labels)`` (returns the mapped dataset).
    """
    iterations = check_positive_int("iteration_targets", "iterations", iterations)
    import tensorflow as tf

    if isinstance(labels, tf.data.Dataset):
        return labels.map(lambda x, y: (x, tuple(y for _ in range(iterations))))
    return tuple(labels for _ in range(iterations))


register_model("recurrent_cnn", family="recurrent_cnn", task="semantic_segmentation", paper=PAPER)(recurrent_cnn)
register_variant("recurrent_cnn_tiny", "recurrent_cnn", tiny=True, **TINY)
