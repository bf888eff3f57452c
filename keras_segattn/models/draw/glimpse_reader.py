"""DRAW's read-only attention for classification: T Gaussian glimpses feeding an LSTM."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers import GaussianFilterbank, GaussianRead
from keras_segattn.validation import check_choice, check_int_pair, check_positive_int, message

__all__ = ["GlimpseReader"]


@keras.saving.register_keras_serializable(package="keras_segattn")
class GlimpseReader(keras.layers.Layer):
    """The recurrent attention classifier's core (Gregor et al. 2015, section 4.1).

    Gregor, Danihelka, Graves, Rezende & Wierstra, "DRAW: A Recurrent Neural
    Network For Image Generation", ICML 2015: "classify images by attending
    to arbitrary regions of the input". At every step a Dense layer on the
    LSTM state places an ``N x N`` :class:`~keras_segattn.layers.GaussianFilterbank`
    (the first glimpse, from the zero state, is the same learnt placement for
    every image), :class:`~keras_segattn.layers.GaussianRead` extracts the
    glimpse, a ReLU layer embeds it and the LSTM takes it in. The final LSTM
    output summarises the image (the model puts a softmax classifier on it).

    Args:
        image_size: ``(H, W)``.
        channels: image channels.
        steps: glimpses ``T`` (the paper: 4 on 100x100 cluttered MNIST).
        glimpse_size: ``N`` (the paper: 12).
        units: LSTM size (the paper: 256).
        glimpse_units: the glimpse embedding's size.
        initial_glimpse: where the first glimpse starts (the placing Dense
            layer's bias): ``"image"`` (default), a blurred ``N x N`` overview
            of the whole image (:meth:`~keras_segattn.layers.GaussianFilterbank.covering_params`);
            ``"zeros"``, a zero bias: ``N`` sharp filters (sigma 1) spread over
            the image, which sample it sparsely. The paper does not state its
            initialisation; on the 60x60 cluttered digits ``"zeros"`` left
            ``draw_classifier_tiny`` at 57-69% test error and ``"image"``
            learnt (tools/stn_cluttered_study.py).

    Call arguments:
        ``images (batch, H, W, channels)``.

    Returns:
        ``(batch, units)``: the LSTM output after the last glimpse.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.models.draw import GlimpseReader
        >>> reader = GlimpseReader((20, 20), steps=2, glimpse_size=4, units=8, glimpse_units=8)
        >>> tuple(reader(np.zeros((3, 20, 20, 1), "float32")).shape)
        (3, 8)
    """

    def __init__(self, image_size, channels=1, steps=4, glimpse_size=12, units=256, glimpse_units=256,
                 initial_glimpse="image", **kwargs):
        super().__init__(**kwargs)
        where = "GlimpseReader"
        self.image_size = check_int_pair(where, "image_size", image_size)
        self.channels = check_positive_int(where, "channels", channels)
        self.steps = check_positive_int(where, "steps", steps)
        self.glimpse_size = check_positive_int(where, "glimpse_size", glimpse_size)
        self.units = check_positive_int(where, "units", units)
        self.glimpse_units = check_positive_int(where, "glimpse_units", glimpse_units)
        self.initial_glimpse = check_choice(where, "initial_glimpse", initial_glimpse, ("image", "zeros"))
        self.filters = GaussianFilterbank(self.glimpse_size, self.image_size, name="read_filters")
        bias = (keras.initializers.Constant(self.filters.covering_params().tolist())
                if self.initial_glimpse == "image" else "zeros")
        self.read_params = keras.layers.Dense(5, bias_initializer=bias, name="read_params")
        self.reader = GaussianRead(name="read")
        self.embed = keras.layers.Dense(self.glimpse_units, activation="relu", name="glimpse_embedding")
        self.lstm = keras.layers.LSTMCell(self.units, name="lstm")

    def build(self, input_shape):
        self._check(input_shape)
        self.read_params.build((None, self.units))
        self.embed.build((None, self.glimpse_size * self.glimpse_size * self.channels))
        self.lstm.build((None, self.glimpse_units))

    def _check(self, shape):
        expected = (*self.image_size, self.channels)
        if len(shape) != 4 or tuple(shape[1:]) != expected:
            raise ValueError(message("GlimpseReader", "images", f"shape (batch, {expected[0]}, {expected[1]}, "
                                     f"{expected[2]}) (image_size and channels)", f"shape {tuple(shape)}"))

    def _run(self, images):
        images = tf.cast(images, self.compute_dtype)
        batch = tf.shape(images)[0]
        state = [tf.zeros([batch, self.units], self.compute_dtype)] * 2
        h = state[0]
        boxes = []
        width = self.glimpse_size * self.glimpse_size * self.channels
        for _ in range(self.steps):  # T is small and static: unrolled for XLA and TFLite
            params = self.read_params(h)
            glimpse = self.reader([images, *self.filters(params)])
            h, state = self.lstm(self.embed(tf.reshape(glimpse, [-1, width])), state)
            gx, gy, delta, _, _ = self.filters.centres(params)
            boxes.append(tf.concat([gx - 1, gy - 1, delta * self.glimpse_size], axis=-1))
        return h, tf.stack(boxes, axis=1)

    def call(self, images):
        self._check(images.shape)
        return self._run(images)[0]

    def glimpse_boxes(self, images):
        """``(batch, T, 3)``: each glimpse's centre ``(x, y)`` (0-based pixels) and side ``N * delta``."""
        self._check(images.shape)
        return self._run(images)[1]

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "channels": self.channels,
            "steps": self.steps,
            "glimpse_size": self.glimpse_size,
            "units": self.units,
            "glimpse_units": self.glimpse_units,
            "initial_glimpse": self.initial_glimpse,
        }
