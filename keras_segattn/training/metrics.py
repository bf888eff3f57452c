"""Segmentation metrics that take logits and ignore the void label."""

from __future__ import annotations

import keras

from keras_segattn.data.pipeline import VOID_LABEL


@keras.saving.register_keras_serializable(package="keras_segattn")
class MeanIoU(keras.metrics.MeanIoU):
    """Mean intersection-over-union from logits, ignoring ``void_label``.

    ``keras.metrics.MeanIoU`` expects class ids; this subclass takes the
    model's logits (argmax over the last axis) and drops pixels whose label is
    ``void_label`` (255 in VOC) from the confusion matrix. Classes absent from
    both labels and predictions are left out of the mean, as in Keras.

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
    """

    def __init__(self, num_classes, void_label=VOID_LABEL, name="mean_iou", dtype=None):
        super().__init__(
            num_classes=num_classes,
            name=name,
            dtype=dtype,
            ignore_class=void_label,
            sparse_y_true=True,
            sparse_y_pred=False,
        )
        self.void_label = void_label

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

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training import PixelAccuracy
        >>> m = PixelAccuracy()
        >>> m.update_state(np.array([[0, 1, 255]]), np.array([[[3.0, 0], [3.0, 0], [0, 3.0]]]))
        >>> float(m.result())
        0.5
    """

    def __init__(self, void_label=VOID_LABEL, name="pixel_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.void_label = void_label
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
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
        return keras.ops.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {"void_label": self.void_label, "name": self.name, "dtype": self.dtype}
