"""The DRAW recurrent variational auto-encoder: read, encode, sample, decode, write, T times."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers import GaussianFilterbank, GaussianRead, GaussianWrite
from keras_segattn.layers._grid import coordinate_dtype
from keras_segattn.validation import check_int, check_int_pair, check_positive_int, message

__all__ = ["DRAWNetwork"]

#: the posterior's log-sigma is clipped to this range (exp(+-8): finite KL and samples for any input)
LOG_SIGMA_RANGE = (-8.0, 8.0)


@keras.saving.register_keras_serializable(package="keras_segattn")
class DRAWNetwork(keras.layers.Layer):
    """DRAW's encoder and decoder LSTMs unrolled over ``steps`` glimpses.

    Gregor, Danihelka, Graves, Rezende & Wierstra, "DRAW: A Recurrent Neural
    Network For Image Generation", ICML 2015, eqs. 3-8 and 17-18. At every
    step ``t`` (``c_0 = 0``, states 0):

    - ``x^ = x - sigmoid(c_{t-1})``: the error image;
    - ``r = read(x, x^, h_dec)``: two ``N x N`` Gaussian glimpses placed by
      a Dense layer on ``h_dec`` (:class:`~keras_segattn.layers.GaussianRead`),
      or with ``read_size=0`` the two whole images;
    - ``h_enc = LSTM_enc([r, h_dec])``; ``z ~ N(mu, sigma)`` from Dense layers
      on ``h_enc`` (reparameterised; the mean ``mu`` when not training, so
      inference is deterministic);
    - ``h_dec = LSTM_dec(z)``; ``c_t = c_{t-1} + write(h_dec)``: an ``N x N``
      patch through a second filterbank
      (:class:`~keras_segattn.layers.GaussianWrite`), or with
      ``write_size=0`` a whole image from a Dense layer.

    The layer returns the final canvas (Bernoulli logits) and the KL term of
    every example (summed in float32 under mixed precision), ``sum_t 1/2 (mu^2 + sigma^2 - log sigma^2 - 1)``; it adds
    the batch mean of the KL with ``add_loss``, so ``fit`` minimises the
    negative variational bound once the model's loss adds the reconstruction
    term. :meth:`trace` returns the canvases and attention boxes of every
    step; :meth:`generate` draws from the prior (decoder only).

    Args:
        image_size: ``(H, W)``.
        channels: image channels (1 for binarised digits).
        steps: ``T`` (the paper: 64 on MNIST).
        read_size: read glimpse ``N`` (the paper: 2); 0 reads whole images.
        write_size: write patch ``N`` (the paper: 5); 0 writes whole images.
        encoder_units, decoder_units: LSTM sizes (the paper: 256).
        latent_size: size of ``z_t`` (the paper: 100).
        seed: seed of the posterior noise.

    Call arguments:
        ``images (batch, H, W, channels)`` in ``[0, 1]``.

    Returns:
        ``(logits (batch, H, W, channels), kl (batch,))``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.models.draw import DRAWNetwork
        >>> net = DRAWNetwork((12, 12), steps=3, encoder_units=8, decoder_units=8, latent_size=4)
        >>> logits, kl = net(np.zeros((2, 12, 12, 1), "float32"))
        >>> tuple(logits.shape), tuple(kl.shape)
        ((2, 12, 12, 1), (2,))
    """

    def __init__(self, image_size, channels=1, steps=64, read_size=2, write_size=5, encoder_units=256,
                 decoder_units=256, latent_size=100, seed=None, **kwargs):
        super().__init__(**kwargs)
        where = "DRAWNetwork"
        self.image_size = check_int_pair(where, "image_size", image_size)
        self.channels = check_positive_int(where, "channels", channels)
        self.steps = check_positive_int(where, "steps", steps)
        self.read_size = check_int(where, "read_size", read_size, minimum=0)
        self.write_size = check_int(where, "write_size", write_size, minimum=0)
        self.encoder_units = check_positive_int(where, "encoder_units", encoder_units)
        self.decoder_units = check_positive_int(where, "decoder_units", decoder_units)
        self.latent_size = check_positive_int(where, "latent_size", latent_size)
        self.seed = seed
        height, width = self.image_size
        self.encoder = keras.layers.LSTMCell(self.encoder_units, name="encoder")
        self.decoder = keras.layers.LSTMCell(self.decoder_units, name="decoder")
        self.latent_mean = keras.layers.Dense(self.latent_size, name="latent_mean")
        self.latent_log_sigma = keras.layers.Dense(self.latent_size, name="latent_log_sigma")
        if self.read_size:
            self.read_filters = GaussianFilterbank(self.read_size, self.image_size, name="read_filters")
            self.read_params = keras.layers.Dense(5, name="read_params")
            self.reader = GaussianRead(name="read")
        patch = (self.write_size or height) * (self.write_size or width) * self.channels
        self.write_patch = keras.layers.Dense(patch, name="write_patch")
        if self.write_size:
            self.write_filters = GaussianFilterbank(self.write_size, self.image_size, name="write_filters")
            self.write_params = keras.layers.Dense(5, name="write_params")
            self.writer = GaussianWrite(name="write")
        self.seed_generator = keras.random.SeedGenerator(seed, name="posterior_noise")

    @property
    def read_width(self):
        height, width = self.image_size
        side = (self.read_size * self.read_size) if self.read_size else height * width
        return 2 * side * self.channels

    def build(self, input_shape):
        self._check(input_shape)
        self.encoder.build((None, self.read_width + self.decoder_units))
        self.decoder.build((None, self.latent_size))
        self.latent_mean.build((None, self.encoder_units))
        self.latent_log_sigma.build((None, self.encoder_units))
        self.write_patch.build((None, self.decoder_units))
        if self.read_size:
            self.read_params.build((None, self.decoder_units))
        if self.write_size:
            self.write_params.build((None, self.decoder_units))

    def _check(self, shape):
        expected = (*self.image_size, self.channels)
        if len(shape) != 4 or tuple(shape[1:]) != expected:
            raise ValueError(message("DRAWNetwork", "images", f"shape (batch, {expected[0]}, {expected[1]}, "
                                     f"{expected[2]}) (image_size and channels)", f"shape {tuple(shape)}"))

    # ------------------------------------------------------------ one step
    def _read(self, images, error, h_dec):
        if not self.read_size:
            flat = tf.reshape(tf.concat([images, error], axis=-1), [-1, self.read_width])
            return flat, None
        params = self.read_params(h_dec)
        filters = self.read_filters(params)
        glimpses = tf.concat([self.reader([images, *filters]), self.reader([error, *filters])], axis=-1)
        return tf.reshape(glimpses, [-1, self.read_width]), params

    def _write(self, h_dec):
        height, width = self.image_size
        if not self.write_size:
            return tf.reshape(self.write_patch(h_dec), [-1, height, width, self.channels]), None
        n = self.write_size
        patch = tf.reshape(self.write_patch(h_dec), [-1, n, n, self.channels])
        params = self.write_params(h_dec)
        return self.writer([patch, *self.write_filters(params)]), params

    def _zero_state(self, batch, units):
        return [tf.zeros([batch, units], self.compute_dtype), tf.zeros([batch, units], self.compute_dtype)]

    def _run(self, images, training, trace):
        images = tf.cast(images, self.compute_dtype)
        batch = tf.shape(images)[0]
        canvas = tf.zeros_like(images)
        enc_state = self._zero_state(batch, self.encoder_units)
        dec_state = self._zero_state(batch, self.decoder_units)
        h_dec = dec_state[0]
        kl = tf.zeros([batch], coordinate_dtype(self.compute_dtype))
        low, high = LOG_SIGMA_RANGE
        record = {"canvases": [], "read_params": [], "write_params": []}
        for _ in range(self.steps):  # T is small and static: unrolled, so XLA and TFLite see plain ops
            error = images - tf.sigmoid(canvas)
            glimpse, read_params = self._read(images, error, h_dec)
            h_enc, enc_state = self.encoder(tf.concat([glimpse, h_dec], axis=-1), enc_state)
            mean = self.latent_mean(h_enc)
            log_sigma = tf.clip_by_value(self.latent_log_sigma(h_enc), low, high)
            if training:
                noise = keras.random.normal(tf.shape(mean), dtype=self.compute_dtype, seed=self.seed_generator)
                z = mean + tf.exp(log_sigma) * noise
            else:
                z = mean
            m32, s32 = (tf.cast(t, kl.dtype) for t in (mean, log_sigma))  # the KL sums in float32 at least
            kl += 0.5 * tf.reduce_sum(tf.square(m32) + tf.exp(2 * s32) - 2 * s32 - 1, axis=-1)
            h_dec, dec_state = self.decoder(z, dec_state)
            written, write_params = self._write(h_dec)
            canvas = canvas + written
            if trace:
                record["canvases"].append(tf.sigmoid(canvas))
                record["read_params"].append(read_params)
                record["write_params"].append(write_params)
        return canvas, kl, record

    def call(self, images, training=None):
        self._check(images.shape)
        canvas, kl, _ = self._run(images, bool(training), trace=False)
        self.add_loss(tf.reduce_mean(kl))
        return canvas, kl

    # ----------------------------------------------------- introspection
    def _boxes(self, filterbank, params):
        """(batch, 3): centre x, centre y (0-based pixels) and side (pixels) of each glimpse."""
        gx, gy, delta, _, _ = filterbank.centres(params)
        return tf.concat([gx - 1, gy - 1, delta * filterbank.glimpse_size], axis=-1)

    def _trace_record(self, record, batch):
        out = {"canvases": tf.stack(record["canvases"], axis=1)}
        for kind, filterbank, size in (("read", "read_filters", self.read_size), ("write", "write_filters",
                                                                                   self.write_size)):
            if size and record.get(f"{kind}_params"):
                bank = getattr(self, filterbank)
                out[f"{kind}_boxes"] = tf.stack([self._boxes(bank, p) for p in record[f"{kind}_params"]], axis=1)
        return out

    def trace(self, images, training=False):
        """``dict``: ``canvases (B, T, H, W, C)`` (probabilities after every step), and where the
        model attends, ``read_boxes`` / ``write_boxes (B, T, 3)``: centre ``(x, y)`` in 0-based
        pixel coordinates and side length ``N * delta`` (absent without attention)."""
        self._check(images.shape)
        _, kl, record = self._run(images, bool(training), trace=True)
        out = self._trace_record(record, None)
        out["kl"] = kl
        return out

    def generate(self, noise):
        """Images from the prior: ``noise (B, T, latent_size)`` standard-normal ``z_1..z_T`` ->
        the :meth:`trace` dict of the decoder alone (eq. 17-18: no encoder, no read)."""
        noise = tf.cast(noise, self.compute_dtype)
        if len(noise.shape) != 3 or noise.shape[1] != self.steps or noise.shape[2] != self.latent_size:
            raise ValueError(message("DRAWNetwork.generate", "noise", f"shape (batch, {self.steps}, "
                                     f"{self.latent_size}) (steps, latent_size)", f"shape {tuple(noise.shape)}"))
        batch = tf.shape(noise)[0]
        height, width = self.image_size
        canvas = tf.zeros([batch, height, width, self.channels], self.compute_dtype)
        dec_state = self._zero_state(batch, self.decoder_units)
        record = {"canvases": [], "write_params": []}
        for t in range(self.steps):
            h_dec, dec_state = self.decoder(noise[:, t], dec_state)
            written, write_params = self._write(h_dec)
            canvas = canvas + written
            record["canvases"].append(tf.sigmoid(canvas))
            record["write_params"].append(write_params)
        return self._trace_record(record, batch)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return tuple(input_shape), (input_shape[0],)

    def compute_output_spec(self, images):
        canvas, kl = self.compute_output_shape(images.shape)
        return keras.KerasTensor(canvas, dtype=self.compute_dtype), keras.KerasTensor(
            kl, dtype=coordinate_dtype(self.compute_dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "channels": self.channels,
            "steps": self.steps,
            "read_size": self.read_size,
            "write_size": self.write_size,
            "encoder_units": self.encoder_units,
            "decoder_units": self.decoder_units,
            "latent_size": self.latent_size,
            "seed": self.seed,
        }
