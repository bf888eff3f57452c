"""Graves' mixture density output: M bivariate Gaussians for the pen offset and a Bernoulli end of stroke."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keras_segattn.validation import check_positive_int, message

#: log standard deviations are clipped to this range (sigma in [9e-4, 1.1e3] offsets): a finite likelihood
LOG_SIGMA_RANGE = (-7.0, 7.0)
#: |rho| <= RHO_MAX keeps 1 - rho^2 >= 2e-4
RHO_MAX = 0.9999
#: |target - mu| is clipped to this in the likelihood: z^2 / (1 - rho^2) stays below float32's max
OFFSET_MAX = 1e6


@keras.saving.register_keras_serializable(package="keras_segattn")
class MixtureDensityOutput(keras.layers.Layer):
    """The output layer of handwriting prediction and synthesis: a Dense layer to mixture parameters.

    Graves, "Generating Sequences With Recurrent Neural Networks", 2013,
    section 4.1, eqs. 15-22. It maps the network's output to ``6M + 1`` raw
    parameters, laid out as ``[e^, pi^ (M), mu_x (M), mu_y (M), log sigma_x
    (M), log sigma_y (M), rho^ (M)]``. They define (see
    :func:`mixture_parameters`): the end-of-stroke probability ``e =
    sigmoid(e^)`` (the paper writes ``1 / (1 + exp(e^))``: the same family
    with the sign of ``e^`` flipped), mixture weights ``pi = softmax(pi^)``,
    means ``mu``, standard deviations ``sigma = exp(log sigma)`` and
    correlations ``rho = tanh(rho^)``.

    :func:`mixture_density_nll` is the numerically stable negative
    log-likelihood of a pen point (log-sum-exp over the components, ``log
    sigma`` clipped to :data:`LOG_SIGMA_RANGE`, ``|rho| <= RHO_MAX``);
    :func:`sample_mixture_density` draws a point with the paper's sampling
    bias ``b`` (eqs. 61-62: ``sigma = exp(log sigma - b)``, ``pi =
    softmax(pi^ (1 + b))``), from explicit noise so a sample can be
    reproduced outside TensorFlow.

    Args:
        num_mixtures: ``M``, the number of bivariate Gaussians (the paper: 20).

    Input shape:
        ``(..., features)``.

    Output shape:
        ``(..., 6 * num_mixtures + 1)`` raw parameters.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import MixtureDensityOutput
        >>> from keras_segattn.layers.mixture_density_output import mixture_density_nll
        >>> head = MixtureDensityOutput(3)
        >>> params = head(np.zeros((2, 5, 8), "float32"))
        >>> params.shape
        TensorShape([2, 5, 19])
        >>> nll = mixture_density_nll(np.zeros((2, 5, 3), "float32"), params, 3)  # per point, (2, 5)
        >>> round(float(nll[0, 0]), 4)  # log(2 pi) + log 2 at sigma = 1, e = 0.5
        2.531
    """

    def __init__(self, num_mixtures, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_mixtures = check_positive_int("MixtureDensityOutput", "num_mixtures", num_mixtures)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(
            6 * self.num_mixtures + 1, kernel_initializer=self.kernel_initializer, name="parameters"
        )

    @property
    def size(self) -> int:
        """Raw parameters per point, ``6M + 1``."""
        return 6 * self.num_mixtures + 1

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(message("MixtureDensityOutput", "inputs", "a known last dimension", f"shape {input_shape}"))
        self.dense.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.size)

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_mixtures": self.num_mixtures, "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
        )
        return config


def _check_params(params, num_mixtures, where):
    size = params.shape[-1]
    if size is not None and size != 6 * num_mixtures + 1:
        raise ValueError(
            message(where, "params", f"a last dimension of 6 * num_mixtures + 1 = {6 * num_mixtures + 1}",
                    f"shape {tuple(params.shape)}")
        )


def mixture_parameters(params, num_mixtures: int, bias=0.0) -> dict:
    """The constrained parameters (float32) of raw ``params`` ``(..., 6M + 1)``.

    Returns a dict of ``eos_logit (...)``, ``log_pi (..., M)``, ``mu_x``,
    ``mu_y``, ``log_sigma_x``, ``log_sigma_y`` and ``rho`` ``(..., M)``;
    ``bias`` (the paper's ``b``, >= 0; 0 for training) sharpens the mixture
    weights and narrows the Gaussians.
    """
    params = tf.cast(tf.convert_to_tensor(params), tf.float32)
    _check_params(params, num_mixtures, "mixture_parameters")
    m = num_mixtures
    low, high = LOG_SIGMA_RANGE
    bias = tf.cast(bias, tf.float32)
    pieces = [params[..., 1 + i * m : 1 + (i + 1) * m] for i in range(6)]
    pi_hat, mu_x, mu_y, log_sx, log_sy, rho_hat = pieces
    return {
        "eos_logit": params[..., 0],
        "log_pi": tf.nn.log_softmax(pi_hat * (1.0 + bias), axis=-1),
        "mu_x": mu_x,
        "mu_y": mu_y,
        "log_sigma_x": tf.clip_by_value(log_sx - bias, low, high),
        "log_sigma_y": tf.clip_by_value(log_sy - bias, low, high),
        "rho": RHO_MAX * tf.tanh(rho_hat),
    }


def mixture_density_nll(targets, params, num_mixtures: int):
    """Negative log-likelihood (nats) of pen points ``targets (..., 3)`` = ``(dx, dy, end_of_stroke)``.

    ``-log sum_j pi_j N(dx, dy | mu_j, sigma_j, rho_j) - log Bernoulli(end_of_stroke | e)``
    (Graves eq. 26), per point: shape ``targets.shape[:-1]``, float32.
    Log-sum-exp over the components and the bounds of
    :func:`mixture_parameters` keep it and its gradients finite.
    """
    targets = tf.cast(tf.convert_to_tensor(targets), tf.float32)
    p = mixture_parameters(params, num_mixtures)
    x, y, eos = targets[..., 0:1], targets[..., 1:2], targets[..., 2]
    # Offsets from the means are clipped to +-OFFSET_MAX: beyond it z^2 / (1 - rho^2) would overflow
    # float32 (|mu| ~ 1e30 gave an infinite log-likelihood term and NaN gradients through the
    # log-sum-exp); at the bound the point is already ~1e9 standard deviations out.
    zx = tf.clip_by_value(x - p["mu_x"], -OFFSET_MAX, OFFSET_MAX) * tf.exp(-p["log_sigma_x"])
    zy = tf.clip_by_value(y - p["mu_y"], -OFFSET_MAX, OFFSET_MAX) * tf.exp(-p["log_sigma_y"])
    one_minus = 1.0 - tf.square(p["rho"])
    z = tf.square(zx) + tf.square(zy) - 2.0 * p["rho"] * zx * zy
    log_normal = (
        -math.log(2.0 * math.pi) - p["log_sigma_x"] - p["log_sigma_y"] - 0.5 * tf.math.log(one_minus)
        - z / (2.0 * one_minus)
    )
    offset_nll = -tf.reduce_logsumexp(p["log_pi"] + log_normal, axis=-1)
    eos_nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.clip_by_value(eos, 0.0, 1.0), logits=p["eos_logit"])
    return offset_nll + eos_nll


def sample_mixture_density(params, noise, num_mixtures: int, bias=0.0):
    """Pen points ``(..., 3)`` drawn from raw ``params`` with explicit ``noise (..., 4)``.

    ``noise = (u_component, n_x, n_y, u_eos)``: two uniforms in [0, 1) and
    two standard normals. The component is the first whose cumulative weight
    exceeds ``u_component``; the offset is ``mu + (sigma_x n_x, sigma_y (rho
    n_x + sqrt(1 - rho^2) n_y))``; the stroke ends if ``u_eos < e``. With the
    same noise, NumPy code reproduces the sample exactly (the exported
    decoder's reference loop does).
    """
    p = mixture_parameters(params, num_mixtures, bias)
    noise = tf.cast(tf.convert_to_tensor(noise), tf.float32)
    cumulative = tf.cumsum(tf.exp(p["log_pi"]), axis=-1)
    index = tf.minimum(
        tf.reduce_sum(tf.cast(cumulative <= noise[..., 0:1], tf.int32), axis=-1), num_mixtures - 1
    )
    pick = tf.one_hot(index, num_mixtures, dtype=tf.float32)

    def chosen(value):
        return tf.reduce_sum(value * pick, axis=-1)

    sx, sy = tf.exp(chosen(p["log_sigma_x"])), tf.exp(chosen(p["log_sigma_y"]))
    rho = chosen(p["rho"])
    nx, ny = noise[..., 1], noise[..., 2]
    dx = chosen(p["mu_x"]) + sx * nx
    dy = chosen(p["mu_y"]) + sy * (rho * nx + tf.sqrt(1.0 - rho * rho) * ny)
    eos = tf.cast(noise[..., 3] < tf.sigmoid(p["eos_logit"]), tf.float32)
    return tf.stack([dx, dy, eos], axis=-1)
