"""The Bernoulli reconstruction term of a variational bound (DRAW), in nats per image."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

__all__ = ["BernoulliNLL", "bernoulli_nll"]


@keras.saving.register_keras_serializable(package="keras_segattn")
class BernoulliNLL(keras.losses.Loss):
    """``-log D(x | c)`` for Bernoulli pixels with logits ``c``, summed over the pixels of an image.

    Gregor et al. 2015, eq. 9: the reconstruction loss of DRAW on binarised
    images (Keras' ``BinaryCrossentropy`` averages over pixels; a likelihood
    bound in nats needs the sum). The batch reduction is the mean, so the
    loss is nats per image; the model's KL term (``add_loss``) is on the same
    scale.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.variational import BernoulliNLL
        >>> round(float(BernoulliNLL()(np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)))), 4)  # 4 log 2
        2.7726
    """

    def __init__(self, name="bernoulli_nll", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.cast(y_true, y_pred.dtype)
        per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
        return tf.reduce_sum(tf.reshape(per_pixel, [tf.shape(per_pixel)[0], -1]), axis=-1)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


def bernoulli_nll(images, logits) -> np.ndarray:
    """Per-image ``-log D(x | c)`` in nats (NumPy, float64): the reference of :class:`BernoulliNLL`."""
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    c = np.asarray(logits, np.float64).reshape(len(images), -1)
    # -[x log s(c) + (1 - x) log(1 - s(c))] = softplus(c) - x c, computed stably
    return (np.maximum(c, 0) + np.log1p(np.exp(-np.abs(c))) - x * c).sum(axis=1)
