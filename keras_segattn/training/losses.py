"""Losses."""

from __future__ import annotations

import keras

from keras_segattn.training.metrics import VOID_LABEL


def segmentation_loss(void_label=VOID_LABEL):
    """Per-pixel softmax cross-entropy on logits that ignores ``void_label``.

    Keras' ``SparseCategoricalCrossentropy(ignore_class=...)`` does the masking
    and averages over the non-void pixels; this only fixes the arguments a
    segmentation model needs.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training import segmentation_loss
        >>> loss = segmentation_loss()
        >>> round(float(loss(np.array([[0, 255]]), np.array([[[0.0, 0.0], [9.0, -9.0]]]))), 4)
        0.6931
    """
    from keras_segattn.validation import check_optional_int

    void_label = check_optional_int("segmentation_loss", "void_label", void_label)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=void_label)
