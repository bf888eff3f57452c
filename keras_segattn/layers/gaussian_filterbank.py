"""DRAW's Gaussian filterbank: an N x N grid of Gaussian filters placed by five numbers."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers._grid import coordinate_dtype
from keras_segattn.validation import check_int, check_int_pair, message

#: the log-parameters (log sigma^2, log delta~, log gamma) are clipped to this range before exp
LOG_RANGE = (-10.0, 10.0)
#: the normalised centres g~X, g~Y are clipped to [-CENTRE_MAX, CENTRE_MAX] (a million half-images away)
CENTRE_MAX = 1e6


@keras.saving.register_keras_serializable(package="keras_segattn")
class GaussianFilterbank(keras.layers.Layer):
    """The attention filterbank of DRAW (weight-free).

    Gregor, Danihelka, Graves, Rezende & Wierstra, "DRAW: A Recurrent Neural
    Network For Image Generation", ICML 2015, section 3.2, eqs. 19-26. The
    model's Dense layer emits five raw numbers per example, ``params =
    (g~X, g~Y, log sigma^2, log delta~, log gamma)`` (eq. 21), which place an
    ``N x N`` grid of isotropic Gaussian filters on a ``H x W`` image:

    - centre ``gX = (W + 1) / 2 (g~X + 1)``, ``gY = (H + 1) / 2 (g~Y + 1)``
      (pixel coordinates ``a = 1..W``, ``b = 1..H``: ``g~ = 0`` is the
      image centre, ``g~ = +-1`` its borders);
    - stride ``delta = (max(H, W) - 1) / (N - 1) delta~``;
    - filter ``i = 1..N`` centred at ``mu_i = g + (i - N/2 - 0.5) delta``;
    - ``Fx[i, a] = exp(-(a - mu_X,i)^2 / (2 sigma^2)) / Z_X,i`` with each row
      normalised to sum 1 (as a softmax over the pixels, so the division
      cannot be 0/0 even where every ``exp`` underflows), ``Fy`` likewise;
    - intensity ``gamma = exp(log gamma)``.

    The log-parameters are clipped to ``[-10, 10]`` before ``exp`` so extreme
    inputs stay finite. The filters are computed and returned in float32 (float64
    for a float64 layer) under any policy: half precision cannot hold pixel
    coordinates and their squared distances. :class:`GaussianRead` and :class:`GaussianWrite`
    apply the filters.

    Args:
        glimpse_size: ``N``, filters per axis (the paper: 2 read / 5 write on
            MNIST, 12 read for cluttered MNIST).
        image_size: ``(H, W)`` of the image the filters cover.

    Input shape:
        ``params``: ``(batch, 5)``.

    Output shape:
        ``(Fx (batch, N, W), Fy (batch, N, H), gamma (batch, 1))``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import GaussianFilterbank
        >>> fx, fy, gamma = GaussianFilterbank(3, (8, 8))(np.zeros((1, 5), "float32"))
        >>> tuple(fx.shape), round(float(fx.numpy()[0, 1].sum()), 5), float(gamma[0, 0])
        ((1, 3, 8), 1.0, 1.0)
    """

    def __init__(self, glimpse_size, image_size, **kwargs):
        super().__init__(**kwargs)
        self.glimpse_size = check_int("GaussianFilterbank", "glimpse_size", glimpse_size, minimum=1)
        self.image_size = check_int_pair("GaussianFilterbank", "image_size", image_size)

    def covering_params(self):
        """Raw ``params (5,)`` whose filter grid spans the whole image: centred, the ``N`` filters
        ``max(H, W) / N`` pixels apart, ``sigma`` half that, ``gamma = 1`` -- a blurred overview.

        As the bias of the Dense layer that places the filters, it makes the first glimpse (from a
        zero state) see the whole image rather than ``N`` sharp points of it.

        Example:
            >>> from keras_segattn.layers import GaussianFilterbank
            >>> bank = GaussianFilterbank(4, (8, 8))
            >>> gx, gy, delta, sigma2, gamma = (float(t[0, 0]) for t in bank.centres(bank.covering_params()[None]))
            >>> gx, gy, round(delta, 4), round(sigma2, 4), gamma
            (4.5, 4.5, 2.0, 1.0, 1.0)
        """
        import numpy as np

        height, width = self.image_size
        n, longest = self.glimpse_size, max(height, width)
        delta = longest / n
        delta_ = delta * max(n - 1, 1) / max(longest - 1, 1)
        return np.array([0.0, 0.0, 2 * np.log(delta / 2), np.log(delta_), 0.0], np.float32)

    def _check(self, shape):
        if len(shape) != 2 or shape[-1] != 5:
            raise ValueError(
                message(self.__class__.__name__, "params", "shape (batch, 5): (g~X, g~Y, log sigma^2, log delta~, "
                        "log gamma)", f"shape {tuple(shape)}")
            )

    def centres(self, params):
        """``(gX, gY, delta, sigma2, gamma)``, each ``(batch, 1)``, in pixel units (eqs. 22-24)."""
        height, width = self.image_size
        params = tf.cast(params, coordinate_dtype(self.compute_dtype))
        gx_, gy_, log_sigma2, log_delta_, log_gamma = tf.split(params, 5, axis=-1)
        low, high = LOG_RANGE
        # A centre beyond +-CENTRE_MAX half-images is clipped there: its rows are one-hot on the nearest
        # edge pixel long before, and without the bound (pixel - mu)^2 overflows float32 near |g~| ~ 1e17,
        # turning the softmax (and its gradients) into NaN.
        gx_ = tf.clip_by_value(gx_, -CENTRE_MAX, CENTRE_MAX)
        gy_ = tf.clip_by_value(gy_, -CENTRE_MAX, CENTRE_MAX)
        gx = (width + 1) / 2 * (gx_ + 1)
        gy = (height + 1) / 2 * (gy_ + 1)
        delta = (max(height, width) - 1) / max(self.glimpse_size - 1, 1) * tf.exp(tf.clip_by_value(log_delta_, low, high))
        sigma2 = tf.exp(tf.clip_by_value(log_sigma2, low, high))
        gamma = tf.exp(tf.clip_by_value(log_gamma, low, high))
        return gx, gy, delta, sigma2, gamma

    def _filters(self, centre, delta, sigma2, length):
        n, dtype = self.glimpse_size, coordinate_dtype(self.compute_dtype)
        offsets = tf.range(1, n + 1, dtype=dtype) - n / 2 - 0.5  # i - N/2 - 0.5, (N,)
        mu = centre + offsets[None, :] * delta  # (B, N)
        pixels = tf.range(1, length + 1, dtype=dtype)  # a = 1..W, (W,)
        # exp(e_a) / sum_a exp(e_a) is a softmax over the pixels: computed as one, a filter far outside the
        # image (every exp underflowing in float32) still sums to 1, on its nearest pixels, as in exact arithmetic.
        return tf.nn.softmax(-tf.square(pixels[None, None, :] - mu[:, :, None]) / (2 * sigma2[:, :, None]), axis=-1)

    def call(self, params):
        self._check(params.shape)
        gx, gy, delta, sigma2, gamma = self.centres(params)
        height, width = self.image_size
        return self._filters(gx, delta, sigma2, width), self._filters(gy, delta, sigma2, height), gamma

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        batch, n = input_shape[0], self.glimpse_size
        height, width = self.image_size
        return (batch, n, width), (batch, n, height), (batch, 1)

    def compute_output_spec(self, params):
        dtype = coordinate_dtype(self.compute_dtype)
        return tuple(keras.KerasTensor(s, dtype=dtype) for s in self.compute_output_shape(params.shape))

    def get_config(self):
        return {**super().get_config(), "glimpse_size": self.glimpse_size, "image_size": self.image_size}


__all__ = ["GaussianFilterbank", "LOG_RANGE"]
