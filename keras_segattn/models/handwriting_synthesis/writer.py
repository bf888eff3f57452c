"""``Writer``: text in, sampled handwriting (pen strokes) and the window over the text out."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.layers.mixture_density_output import LOG_SIGMA_RANGE, RHO_MAX
from keras_segattn.validation import check_number, check_positive_int, message

__all__ = ["Writer", "Handwriting", "writer_step_model", "sample_points", "window_finished"]


def writer_step_model(model, text_length=None):
    """One pen point of a trained ``handwriting_synthesis`` model (shared weights).

    ``[stroke (batch, 3), text (batch, U) int32, state (batch, S)]`` ->
    ``[mixture (batch, 6M + 1), next_state (batch, S), phi (batch, U)]``
    (unconditional models: ``[stroke, state]`` -> the same three, ``phi``
    ``(batch, 1)`` zeros). Driving it with the true previous points from a
    zero state reproduces the training model's outputs (tested); the
    exported step is this graph. ``text_length``: ``U`` of the step's text
    input (default ``None``: any; the window does not depend on it, so a
    model trained on short words can be asked to write longer texts).
    """
    for layer in ("synthesis", "mixture_density"):
        try:
            model.get_layer(layer)
        except ValueError:
            raise ValueError(
                f"writer_step_model: {model.name!r} is not a handwriting_synthesis model (no layer {layer!r})."
            ) from None
    rnn = model.get_layer("synthesis")
    stroke = keras.Input((3,), name="stroke")
    state = keras.Input((rnn.state_size,), name="state")
    if rnn.conditional:
        text = keras.Input((text_length,), dtype="int32", name="text")
        inputs = [stroke, text, state]
    else:
        inputs = [stroke, state]
    hidden, next_state, phi = rnn(inputs)
    mixture = model.get_layer("mixture_density")(hidden)
    outputs = [
        keras.layers.Identity(name="mixture", dtype="float32")(mixture),
        keras.layers.Identity(name="next_state", dtype="float32")(next_state),
        keras.layers.Identity(name="phi", dtype="float32")(phi),
    ]
    return keras.Model(inputs, outputs, name=f"{model.name}_step")


def sample_points(params, noise, num_mixtures: int, bias: float = 0.0) -> np.ndarray:
    """NumPy twin of :func:`~keras_segattn.layers.mixture_density_output.sample_mixture_density`.

    ``params (batch, 6M + 1)`` raw, ``noise (batch, 4)`` = ``(u_component,
    n_x, n_y, u_eos)``; returns ``(batch, 3)`` pen points. Written from
    Graves' eqs. 18-22 and 61-62 directly (not from the TF code), so each
    checks the other.
    """
    params = np.asarray(params, np.float64)
    noise = np.asarray(noise, np.float64)
    m = num_mixtures
    e_hat = params[:, 0]
    pi_hat, mu_x, mu_y, log_sx, log_sy, rho_hat = (params[:, 1 + i * m : 1 + (i + 1) * m] for i in range(6))
    logits = pi_hat * (1.0 + bias)
    pi = np.exp(logits - logits.max(-1, keepdims=True))
    pi /= pi.sum(-1, keepdims=True)
    index = np.minimum((np.cumsum(pi, -1) <= noise[:, :1]).sum(-1), m - 1)
    rows = np.arange(len(params))
    sx = np.exp(np.clip(log_sx[rows, index] - bias, *LOG_SIGMA_RANGE))
    sy = np.exp(np.clip(log_sy[rows, index] - bias, *LOG_SIGMA_RANGE))
    rho = RHO_MAX * np.tanh(rho_hat[rows, index])
    dx = mu_x[rows, index] + sx * noise[:, 1]
    dy = mu_y[rows, index] + sy * (rho * noise[:, 1] + np.sqrt(1.0 - rho * rho) * noise[:, 2])
    eos = (noise[:, 3] < 1.0 / (1.0 + np.exp(-e_hat))).astype(np.float64)
    return np.stack([dx, dy, eos], axis=-1).astype(np.float32)


def window_finished(phi, lengths) -> np.ndarray:
    """Graves' stopping rule (section 5.3): the window weighs ``[end]`` (position ``length``) above every character."""
    phi = np.asarray(phi)
    lengths = np.asarray(lengths)
    rows = np.arange(len(phi))
    end = phi[rows, lengths]
    before = np.where(np.arange(phi.shape[1])[None] < lengths[:, None], phi, -np.inf).max(axis=1)
    return end > before


def draw_noise(rng: np.random.Generator, batch: int, points: int) -> np.ndarray:
    """``(batch, points, 4)`` sampling noise: uniform, normal, normal, uniform."""
    return np.stack(
        [rng.uniform(size=(batch, points)), rng.normal(size=(batch, points)), rng.normal(size=(batch, points)),
         rng.uniform(size=(batch, points))], axis=-1
    ).astype(np.float32)


@dataclasses.dataclass
class Handwriting:
    """One written text.

    ``strokes (N, 3)``: the sampled pen points (``dx, dy, end_of_stroke``,
    the data's scale); ``phi (N, len(text) + 1)``: the window over the
    characters and ``[end]`` at every point; ``finished``: the window passed
    the end of the text before ``max_points``.
    """

    text: str
    strokes: np.ndarray
    phi: np.ndarray
    finished: bool


class Writer:
    """Samples handwriting from a trained ``handwriting_synthesis`` model (Graves section 5).

    Args:
        model: the training graph (``build_model("handwriting_synthesis...")``, trained).
        max_points: the longest sample (default: the model's ``T`` if
            static, else 40 points per character).

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.models.handwriting_synthesis import Writer
        >>> writer = Writer(ksa.build_model("handwriting_synthesis_tiny"))
        >>> sample = writer.write(["ab"], bias=1.0, seed=0)[0]
        >>> sample.strokes.shape[1], sample.phi.shape[1]
        (3, 3)
    """

    def __init__(self, model, *, max_points=None):
        self.model = model
        self.step_model = writer_step_model(model)
        self.rnn = model.get_layer("synthesis")
        self.num_mixtures = model.get_layer("mixture_density").num_mixtures
        self.conditional = self.rnn.conditional
        strokes = model.get_layer("strokes").output.shape[1]
        self.max_points = (
            check_positive_int("Writer", "max_points", max_points) if max_points is not None
            else (strokes - 1 if strokes else None)
        )
        self._step = tf.function(lambda inputs: self.step_model(inputs, training=False), reduce_retracing=True)

    def encode(self, texts):
        """``(ids (batch, U), lengths)`` of ``texts`` (errors name the offending text)."""
        from keras_segattn.data.handwriting import encode_text

        if isinstance(texts, str) or not texts:
            raise ValueError(message("Writer.write", "texts", "a non-empty list of strings", repr(texts)))
        width = max(len(t) for t in texts) + 1
        return np.stack([encode_text(t, width) for t in texts]), np.array([len(t) for t in texts])

    def step(self, stroke, state, ids=None):
        inputs = [stroke, ids, state] if self.conditional else [stroke, state]
        mixture, state, phi = self._step([tf.constant(x) for x in inputs])
        return mixture.numpy(), state.numpy(), phi.numpy()

    def write(self, texts, *, bias=0.0, seed=0, prime=None, noise=None, max_points=None) -> list[Handwriting]:
        """Handwriting of every text of ``texts``.

        Args:
            texts: a list of strings (the data's alphabet: lowercase letters and space).
            bias: Graves' sampling bias ``b >= 0`` (0: samples from the
                model; larger: neater, less varied writing).
            seed: the sampling noise's seed.
            prime: ``(text, strokes (N, 3))``: real handwriting the model
                reads first (its text goes before each text, with a space);
                sampling goes on from the state it leaves (section 5.4).
            noise: explicit ``(batch, points, 4)`` sampling noise (see
                :func:`draw_noise`), instead of ``seed``'s.
            max_points: overrides the writer's.

        A sample stops when the window has passed its text (``[end]``
        weighted above every character), or after ``max_points``.
        """
        from keras_segattn.data.handwriting import START_POINT

        bias = check_number("Writer.write", "bias", bias, minimum=0)
        texts = [texts] if isinstance(texts, str) and texts else texts
        prime_strokes = None
        if prime is not None:
            if not (isinstance(prime, (tuple, list)) and len(prime) == 2):
                raise ValueError(message("Writer.write", "prime", "a (text, strokes (N, 3)) pair", repr(prime)[:80]))
            prime_text, prime_strokes = prime
            prime_strokes = np.asarray(prime_strokes, np.float32)
            if prime_strokes.ndim != 2 or prime_strokes.shape[1] != 3 or not len(prime_strokes):
                raise ValueError(message("Writer.write", "prime strokes", "of shape (N, 3), N >= 1",
                                         f"shape {prime_strokes.shape}"))
            if not self.conditional:
                raise ValueError("Writer.write: prime needs a conditional model (this one has no text input).")
            texts = [f"{prime_text} {t}" for t in texts]
        if not self.conditional and texts is None:
            texts = [""]
        ids, lengths = self.encode(texts) if self.conditional else (None, np.zeros(len(texts), int))
        points = max_points or self.max_points or 40 * int(lengths.max() + 1)
        batch = len(texts)
        if noise is None:
            noise = draw_noise(np.random.default_rng(seed), batch, points)
        noise = np.asarray(noise, np.float32)
        if noise.shape != (batch, points, 4):
            raise ValueError(message("Writer.write", "noise", f"of shape ({batch}, {points}, 4)", f"shape {noise.shape}"))
        state = np.zeros((batch, self.rnn.state_size), np.float32)
        stroke = np.tile(np.asarray(START_POINT, np.float32), (batch, 1))
        if prime_strokes is not None:
            for point in prime_strokes:  # read the real handwriting; sampling starts from the state it leaves
                _, state, _ = self.step(stroke, state, ids)
                stroke = np.tile(point, (batch, 1))
        strokes, phis = [], []
        done = np.zeros(batch, bool)
        length = np.full(batch, points)
        for t in range(points):
            mixture, state, phi = self.step(stroke, state, ids)
            stroke = sample_points(mixture, noise[:, t], self.num_mixtures, bias)
            strokes.append(stroke)
            phis.append(phi)
            if self.conditional:
                finished = window_finished(phi, lengths) & ~done
                length[finished] = t + 1
                done |= finished
                if done.all():
                    break
        strokes, phis = np.stack(strokes, 1), np.stack(phis, 1)
        start = 0 if prime_strokes is None else len(prime_text) + 1
        return [
            Handwriting(
                text=text[start:],
                strokes=strokes[i, : length[i]],
                phi=phis[i, : length[i], start : lengths[i] + 1] if self.conditional else phis[i, : length[i], :0],
                finished=bool(done[i]),
            )
            for i, text in enumerate(texts)
        ]
