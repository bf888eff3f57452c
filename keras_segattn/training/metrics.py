"""Segmentation metrics that take logits and ignore the void label."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.data.pipeline import VOID_LABEL
from keras_segattn.validation import check_optional_int, check_positive_int


def _expected_labels(num_classes, void_label) -> str:
    classes = f"in [0, {num_classes})" if num_classes is not None else ">= 0"
    return f"class ids {classes}" + (f" or the void label {void_label}" if void_label is not None else "")


def _check_label_range(y_true, num_classes, void_label, where: str):
    """Count of labels outside ``[0, num_classes)`` other than ``void_label``; raises if any.

    Eagerly: a ``ValueError`` with the offending minimum and maximum. In a
    traced graph: a ``tf.debugging.Assert`` (an ``InvalidArgumentError`` when
    the step runs), so ``fit``/``evaluate`` fail too. XLA compiles asserts
    to nothing, so the returned count is what lets the metrics report NaN
    there instead of a laundered score (the loss reports NaN under XLA too).
    ``num_classes=None`` checks only ``>= 0``.
    """
    labels = tf.reshape(tf.cast(y_true, "int32"), [-1])
    bad = labels < 0
    if num_classes is not None:
        bad = tf.logical_or(bad, labels >= num_classes)
    if void_label is not None:
        bad = tf.logical_and(bad, tf.not_equal(labels, void_label))
    count = tf.reduce_sum(tf.cast(bad, "int32"))
    # Range of the offending labels only (where(), not boolean_mask: XLA needs static shapes).
    low = tf.reduce_min(tf.where(bad, labels, labels.dtype.max))
    high = tf.reduce_max(tf.where(bad, labels, labels.dtype.min))
    message = f"{where}: y_true must hold {_expected_labels(num_classes, void_label)}, received values in"
    if tf.executing_eagerly():
        if int(count):
            raise ValueError(f"{message} [{int(low)}, {int(high)}].")
    else:
        tf.debugging.Assert(tf.equal(count, 0), [message, low, high, "(min, max)."], summarize=2)
    return count


@keras.saving.register_keras_serializable(package="keras_segattn")
class MeanIoU(keras.metrics.MeanIoU):
    """Mean intersection-over-union from logits, ignoring ``void_label``.

    ``keras.metrics.MeanIoU`` expects class ids; this subclass takes the
    model's logits (argmax over the last axis) and drops pixels whose label is
    ``void_label`` (255 in VOC) from the confusion matrix. Classes absent from
    both labels and predictions are left out of the mean, as in Keras.

    A label outside ``[0, num_classes)`` that is not ``void_label`` is a data
    error, not a pixel to drop silently (``keras.metrics.MeanIoU`` filters
    such labels out, so ``MeanIoU(2)`` on labels 5 or -1 reports 1.0): it
    raises a ``ValueError`` eagerly and an ``InvalidArgumentError`` in a
    traced ``fit``/``evaluate`` step. Under XLA (``jit_compile=True``),
    where assertions compile to nothing, the result is NaN until
    ``reset_state``, as the cross-entropy loss is NaN there.

    Args:
        num_classes: number of classes (void excluded).
        void_label: label id to ignore, or ``None``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training import MeanIoU
        >>> m = MeanIoU(num_classes=2)
        >>> _ = m.update_state(np.array([[0, 1, 255]]), np.array([[[3.0, 0], [0, 3.0], [3.0, 0]]]))
        >>> round(float(m.result()), 6)
        1.0
        >>> m.update_state(np.array([[5]]), np.array([[[3.0, 0]]]))
        Traceback (most recent call last):
        ...
        ValueError: MeanIoU: y_true must hold class ids in [0, 2) or the void label 255, received values in [5, 5].
    """

    def __init__(self, num_classes, void_label=VOID_LABEL, name="mean_iou", dtype=None):
        num_classes = check_positive_int("MeanIoU", "num_classes", num_classes)
        void_label = check_optional_int("MeanIoU", "void_label", void_label)
        super().__init__(
            num_classes=num_classes,
            name=name,
            dtype=dtype,
            ignore_class=void_label,
            sparse_y_true=True,
            sparse_y_pred=False,
        )
        self.void_label = void_label
        self.invalid_labels = self.add_variable(shape=(), initializer="zeros", name="invalid_labels")

    def update_state(self, y_true, y_pred, sample_weight=None):
        count = _check_label_range(y_true, self.num_classes, self.void_label, "MeanIoU")
        self.invalid_labels.assign_add(keras.ops.cast(count, self.invalid_labels.dtype))
        return super().update_state(y_true, y_pred, sample_weight)

    def result(self):
        return keras.ops.where(self.invalid_labels > 0, float("nan"), super().result())

    def reset_state(self):
        super().reset_state()
        self.invalid_labels.assign(0.0)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "void_label": self.void_label,
            "name": self.name,
            "dtype": self.dtype,
        }


@keras.saving.register_keras_serializable(package="keras_segattn")
class PixelAccuracy(keras.metrics.Metric):
    """Fraction of non-void pixels whose argmax prediction equals the label.

    Labels must be ``void_label`` or ``>= 0``, and below ``num_classes``
    when it is given; others raise as in :class:`MeanIoU` (NaN result under
    XLA). Without ``num_classes`` a too-large label only counts as a miss.

    Args:
        void_label: label id to ignore, or ``None``.
        num_classes: optional number of classes, to reject labels ``>=`` it.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training import PixelAccuracy
        >>> m = PixelAccuracy()
        >>> m.update_state(np.array([[0, 1, 255]]), np.array([[[3.0, 0], [3.0, 0], [0, 3.0]]]))
        >>> float(m.result())
        0.5
    """

    def __init__(self, void_label=VOID_LABEL, name="pixel_accuracy", dtype=None, num_classes=None):
        super().__init__(name=name, dtype=dtype)
        self.void_label = check_optional_int("PixelAccuracy", "void_label", void_label)
        self.num_classes = check_optional_int("PixelAccuracy", "num_classes", num_classes, minimum=1)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.invalid_labels = self.add_variable(shape=(), initializer="zeros", name="invalid_labels")

    def update_state(self, y_true, y_pred, sample_weight=None):
        count = _check_label_range(y_true, self.num_classes, self.void_label, "PixelAccuracy")
        self.invalid_labels.assign_add(keras.ops.cast(count, self.invalid_labels.dtype))
        y_true = keras.ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = keras.ops.squeeze(y_true, -1)
        pred = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
        valid = keras.ops.ones_like(y_true, dtype="float32")
        if self.void_label is not None:
            valid = keras.ops.cast(keras.ops.not_equal(y_true, self.void_label), "float32")
        if sample_weight is not None:
            valid = valid * keras.ops.cast(sample_weight, "float32")
        hits = keras.ops.cast(keras.ops.equal(pred, y_true), "float32") * valid
        self.correct.assign_add(keras.ops.cast(keras.ops.sum(hits), self.dtype))
        self.total.assign_add(keras.ops.cast(keras.ops.sum(valid), self.dtype))

    def result(self):
        accuracy = keras.ops.divide_no_nan(self.correct, self.total)
        return keras.ops.where(self.invalid_labels > 0, float("nan"), accuracy)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)
        self.invalid_labels.assign(0.0)

    def get_config(self):
        return {
            "void_label": self.void_label,
            "num_classes": self.num_classes,
            "name": self.name,
            "dtype": self.dtype,
        }
