"""Graves' soft window over a character sequence: a mixture of K Gaussians that slides along the text."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_number, check_positive_int, message

#: the window parameters' hats are clipped to at most this before ``exp`` (exp(10) ~ 2.2e4: no overflow)
MAX_LOG = 10.0


@keras.saving.register_keras_serializable(package="keras_segattn")
class GravesAttentionWindow(keras.layers.Layer):
    """The soft attention window of handwriting synthesis (weight-free).

    Graves, "Generating Sequences With Recurrent Neural Networks", 2013,
    section 5.1, eqs. 46-51. Given the raw window parameters a Dense layer of
    the model computed from the first LSTM's output, ``params = (alpha^,
    beta^, kappa^)`` (each ``K`` wide):

    - ``alpha = exp(alpha^)`` (importance), ``beta = exp(beta^)`` (width),
      ``kappa = kappa_prev + exp(kappa^)`` (location: it can only move
      forward along the text, eq. 51);
    - ``phi(u) = sum_k alpha_k exp(-beta_k (kappa_k - u)^2)`` for the
      character positions ``u = 1 .. U`` (the paper's indices: ``kappa = 1``
      is centred on the first character), 0 where ``mask`` is 0 (padding);
    - ``window = sum_u phi(u) c_u``: the soft choice of the characters being
      written (eq. 47).

    The hats are clipped to at most ``max_log`` before ``exp`` so extreme
    inputs give finite outputs and gradients.

    Args:
        num_components: ``K``, the number of Gaussians (the paper: 10).
        max_log: the clip of the hats (default 10).

    Call arguments:
        ``[params (batch, 3K), kappa_prev (batch, K), chars (batch, U, V),
        mask (batch, U)]``: ``chars`` one-hot (or any per-character
        vectors), ``mask`` nonzero at real characters.

    Returns:
        ``(window (batch, V), kappa (batch, K), phi (batch, U))``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import GravesAttentionWindow
        >>> chars = np.eye(4, dtype="float32")[None, [1, 2, 3]]  # "abc" one-hot, (1, 3, 4)
        >>> params = np.array([[0.0, np.log(4.0), np.log(1.0)]], "float32")  # K = 1, kappa moves by 1
        >>> window, kappa, phi = GravesAttentionWindow(1)(
        ...     [params, np.zeros((1, 1), "float32"), chars, np.ones((1, 3), "float32")])
        >>> kappa.numpy().tolist(), int(phi.numpy().argmax())  # centred on character 1
        ([[1.0]], 0)
    """

    def __init__(self, num_components, max_log=MAX_LOG, **kwargs):
        super().__init__(**kwargs)
        self.num_components = check_positive_int("GravesAttentionWindow", "num_components", num_components)
        self.max_log = check_number("GravesAttentionWindow", "max_log", max_log, minimum=0)

    def _check(self, shapes):
        where = "GravesAttentionWindow"
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 4:
            raise ValueError(
                f"{where}: inputs must be [params (batch, 3K), kappa_prev (batch, K), chars (batch, U, V), "
                f"mask (batch, U)], received {shapes!r}."
            )
        params, kappa, chars, mask = (tuple(s) for s in shapes)
        k = self.num_components
        if len(params) != 2 or params[-1] not in (None, 3 * k):
            raise ValueError(message(where, "params", f"of shape (batch, {3 * k}) = (alpha^, beta^, kappa^)",
                                     f"shape {params}"))
        if len(kappa) != 2 or kappa[-1] not in (None, k):
            raise ValueError(message(where, "kappa_prev", f"of shape (batch, {k})", f"shape {kappa}"))
        if len(chars) != 3:
            raise ValueError(message(where, "chars", "of shape (batch, U, V) (one-hot characters)", f"shape {chars}"))
        if len(mask) != 2 or (mask[-1] is not None and chars[1] is not None and mask[-1] != chars[1]):
            raise ValueError(message(where, "mask", f"of shape (batch, U) with U = {chars[1]}", f"shape {mask}"))
        return chars

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        chars = self._check(input_shape)
        batch = chars[0]
        return (batch, chars[2]), (batch, self.num_components), (batch, chars[1])

    def call(self, inputs):
        params, kappa_prev, chars, mask = inputs
        self._check([tuple(t.shape) for t in inputs])
        dtype = chars.dtype
        params = tf.cast(params, dtype)
        hats = tf.exp(tf.minimum(params, self.max_log))
        k = self.num_components
        alpha, beta, step = hats[:, :k], hats[:, k : 2 * k], hats[:, 2 * k :]
        kappa = tf.cast(kappa_prev, dtype) + step
        positions = tf.cast(tf.range(1, tf.shape(chars)[1] + 1), dtype)  # u = 1 .. U
        distance = kappa[:, :, None] - positions[None, None, :]  # (batch, K, U)
        phi = tf.reduce_sum(alpha[:, :, None] * tf.exp(-beta[:, :, None] * tf.square(distance)), axis=1)
        phi = phi * tf.cast(mask, dtype)
        window = tf.einsum("bu,buv->bv", phi, chars)
        return window, kappa, phi

    def get_config(self):
        config = super().get_config()
        config.update({"num_components": self.num_components, "max_log": self.max_log})
        return config
