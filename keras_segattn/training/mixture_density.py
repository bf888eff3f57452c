"""The mixture density loss of handwriting models: negative log-likelihood per pen point."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers.mixture_density_output import mixture_density_nll
from keras_segattn.validation import message

__all__ = ["MixtureDensityLoss", "num_mixtures_of", "mean_nll"]


def num_mixtures_of(size, where="MixtureDensityLoss") -> int:
    """``M`` from the raw parameter count ``6M + 1``."""
    if size is None or int(size) < 7 or (int(size) - 1) % 6:
        raise ValueError(message(where, "y_pred", "a last dimension of 6M + 1 (M >= 1 mixtures)", f"{size}"))
    return (int(size) - 1) // 6


@keras.saving.register_keras_serializable(package="keras_segattn")
class MixtureDensityLoss(keras.losses.Loss):
    """Graves' sequence loss (eq. 26) as the mean negative log-likelihood per real pen point (nats).

    ``y_true (batch, T, 3)`` are the next pen points ``(dx, dy,
    end_of_stroke)``; rows whose ``end_of_stroke`` is negative are padding
    and count for nothing. ``y_pred (batch, T, 6M + 1)`` are raw
    :class:`~keras_segattn.layers.MixtureDensityOutput` parameters (``M``
    follows from their size). The batch's loss is the sum over real points
    divided by their number (the paper sums over a sequence; a per-point mean
    keeps the learning rate independent of the length).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.mixture_density import MixtureDensityLoss
        >>> y_true = np.array([[[0, 0, 0], [0, 0, -1]]], "float32")  # one real point, one padding row
        >>> round(float(MixtureDensityLoss()(y_true, np.zeros((1, 2, 7), "float32"))), 4)
        2.531
    """

    def __init__(self, name="mixture_density_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        nll = mixture_density_nll(y_true, y_pred, num_mixtures_of(y_pred.shape[-1]))
        real = tf.cast(y_true[..., 2] >= 0.0, tf.float32)
        count = tf.maximum(tf.reduce_sum(real), 1.0)
        # Per-sequence shares of the batch's per-point mean: the "sum" reduction adds them up.
        return tf.reduce_sum(nll * real, axis=-1) / count

    def get_config(self):
        return {"name": self.name}


def mean_nll(y_true, y_pred) -> float:
    """The mean negative log-likelihood per real pen point of NumPy arrays (nats), as the loss computes it."""
    return float(MixtureDensityLoss()(tf.constant(y_true, tf.float32), tf.constant(y_pred, tf.float32)))
