"""The recurrent core of handwriting synthesis: stacked LSTMs with Graves' window between the first two."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.layers import GravesAttentionWindow
from keras_segattn.validation import check_int, check_number, check_positive_int, message


@keras.saving.register_keras_serializable(package="keras_segattn")
class SynthesisRNN(keras.layers.Layer):
    """Graves' synthesis network (section 5, Figure 12) without its output layer.

    At pen point ``t`` with input ``x_t = (dx, dy, end_of_stroke)``:

    - LSTM 1 reads ``[x_t; w_{t-1}]`` (the previous window);
    - a Dense layer maps its output ``h^1_t`` to the window parameters and
      :class:`~keras_segattn.layers.GravesAttentionWindow` gives the window
      ``w_t`` over the text's one-hot characters, ``kappa_t`` and ``phi_t``;
    - LSTM ``n > 1`` reads ``[x_t; h^{n-1}_t; w_t]`` (skip connections from
      the input and the window to every layer);
    - the output is ``[h^1_t; ...; h^N_t]`` (every layer feeds the mixture
      density output).

    With ``window_components=0`` there is no window (the unconditional
    handwriting *prediction* network of section 4, the legibility baseline):
    LSTM ``n`` reads ``[x_t; h^{n-1}_t]`` and the text is not an input.

    The state is one flat vector ``[h^1; c^1; ...; h^N; c^N; kappa (K);
    w (V)]`` (``state_size``), so a step exports with explicit state.

    Args:
        units: LSTM size (the paper: 400).
        num_layers: stacked LSTMs (the paper: 3).
        window_components: ``K`` Gaussians of the window (the paper: 10); 0: unconditional.
        vocab_size: ``V``, the text's id count (one-hot width; id 0 is padding).
        initial_step: the window's starting stride in characters per point
            (``exp`` of the kappa bias at initialisation; a pen point is a
            fraction of a character, so the window starts slow).

    Call arguments (all points): ``[strokes (batch, T, 3), text (batch, U)
    int]`` (unconditional: ``[strokes]``), from a zero state; returns
    ``(outputs (batch, T, N * units), phi (batch, T, U), final_state (batch,
    state_size))`` (unconditional: ``phi`` is ``(batch, T, 1)`` zeros).

    Call arguments (one point): ``[stroke (batch, 3), text (batch, U), state
    (batch, state_size)]`` (unconditional: ``[stroke, state]``); returns
    ``(outputs (batch, N * units), next_state, phi (batch, U))``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.models.handwriting_synthesis import SynthesisRNN
        >>> rnn = SynthesisRNN(8, num_layers=2, window_components=3, vocab_size=5)
        >>> outputs, phi, state = rnn([np.zeros((2, 7, 3), "float32"), np.array([[2, 3, 1], [4, 1, 0]])])
        >>> outputs.shape, phi.shape, state.shape
        (TensorShape([2, 7, 16]), TensorShape([2, 7, 3]), TensorShape([2, 40]))
    """

    def __init__(self, units, num_layers=3, window_components=10, vocab_size=29, initial_step=0.05, **kwargs):
        super().__init__(**kwargs)
        where = "SynthesisRNN"
        self.units = check_positive_int(where, "units", units)
        self.num_layers = check_positive_int(where, "num_layers", num_layers)
        self.window_components = check_int(where, "window_components", window_components, minimum=0)
        self.vocab_size = check_int(where, "vocab_size", vocab_size, minimum=2)
        self.initial_step = check_number(where, "initial_step", initial_step, minimum=1e-6)
        self.cells = [keras.layers.LSTMCell(self.units, name=f"lstm_{i + 1}") for i in range(self.num_layers)]
        k = self.window_components
        if k:
            bias = np.zeros(3 * k, np.float32)
            bias[2 * k :] = np.log(self.initial_step)
            self.window_parameters = keras.layers.Dense(
                3 * k, bias_initializer=keras.initializers.Constant(bias), name="window_parameters"
            )
            self.window = GravesAttentionWindow(k, name="window")
        else:
            self.window_parameters = self.window = None

    @property
    def conditional(self) -> bool:
        return bool(self.window_components)

    @property
    def window_size(self) -> int:
        return self.vocab_size if self.conditional else 0

    @property
    def state_size(self) -> int:
        return 2 * self.units * self.num_layers + self.window_components + self.window_size

    @property
    def output_size(self) -> int:
        return self.units * self.num_layers

    # ------------------------------------------------------------------ shapes
    def _split(self, shapes):
        where = "SynthesisRNN"
        expected = (
            "[strokes (batch, T, 3), text (batch, U)] or [stroke (batch, 3), text (batch, U), state]"
            if self.conditional
            else "[strokes (batch, T, 3)] or [stroke (batch, 3), state]"
        )
        if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(shapes[0], (list, tuple)):
            shapes = [shapes]
        shapes = [tuple(s) for s in shapes]
        strokes = shapes[0]
        step = len(strokes) == 2
        count = (2 if self.conditional else 1) + int(step)
        if len(strokes) not in (2, 3) or strokes[-1] not in (None, 3) or len(shapes) != count:
            raise ValueError(f"{where}: inputs must be {expected}, received shapes {shapes}.")
        if self.conditional and len(shapes[1]) != 2:
            raise ValueError(message(where, "text", "of shape (batch, U) (character ids)", f"shape {shapes[1]}"))
        if step and shapes[-1][-1] not in (None, self.state_size):
            raise ValueError(message(where, "state", f"of shape (batch, {self.state_size})", f"shape {shapes[-1]}"))
        return shapes, step

    def build(self, input_shape):
        self._split(input_shape)
        extra = self.window_size
        for index, cell in enumerate(self.cells):
            cell.build((None, 3 + extra + (self.units if index else 0)))
        if self.conditional:
            self.window_parameters.build((None, self.units))
            self.window.build([(None, 3 * self.window_components), (None, self.window_components),
                               (None, None, self.vocab_size), (None, None)])
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes, step = self._split(input_shape)
        strokes = shapes[0]
        positions = shapes[1][1] if self.conditional else 1
        if step:
            return (strokes[0], self.output_size), (strokes[0], self.state_size), (strokes[0], positions)
        lead = strokes[:2]
        return (*lead, self.output_size), (*lead, positions), (strokes[0], self.state_size)

    # ------------------------------------------------------------------- steps
    def encode_text(self, text):
        """``(one-hot chars (batch, U, V), mask (batch, U))`` of the ids (0 = padding)."""
        text = tf.cast(text, tf.int32)
        return tf.one_hot(text, self.vocab_size, dtype=self.compute_dtype), tf.cast(tf.not_equal(text, 0),
                                                                                   self.compute_dtype)

    def step(self, stroke, state, chars=None, mask=None, training=False):
        """One pen point: ``(outputs, next_state, phi or None)``."""
        units, k = self.units, self.window_components
        stroke = tf.cast(stroke, self.compute_dtype)
        offset = 2 * units * self.num_layers
        window_prev = state[:, offset + k :]
        kappa = state[:, offset : offset + k]
        outputs, states, phi, window = [], [], None, None
        below = None
        for index, cell in enumerate(self.cells):
            h, c = state[:, 2 * index * units : (2 * index + 1) * units], state[:, (2 * index + 1) * units :
                                                                                 (2 * index + 2) * units]
            if index == 0:
                inputs = tf.concat([stroke, window_prev], axis=-1) if self.conditional else stroke
            else:
                inputs = tf.concat([stroke, below] + ([window] if self.conditional else []), axis=-1)
            below, (h, c) = cell(inputs, [h, c], training=training)
            if index == 0 and self.conditional:
                window, kappa, phi = self.window([self.window_parameters(below), kappa, chars, mask])
            outputs.append(below)
            states += [h, c]
        if self.conditional:
            states += [kappa, window]
        return tf.concat(outputs, axis=-1), tf.concat(states, axis=-1), phi

    # -------------------------------------------------------------------- call
    def call(self, inputs, training=None):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        _, step = self._split([tuple(t.shape) for t in inputs])
        chars = mask = None
        if self.conditional:
            chars, mask = self.encode_text(inputs[1])
        if step:
            outputs, state, phi = self.step(inputs[0], inputs[-1], chars, mask, training=bool(training))
            if phi is None:
                phi = tf.zeros_like(outputs[:, :1])
            return outputs, state, phi
        strokes = tf.cast(inputs[0], self.compute_dtype)
        batch, steps = tf.shape(strokes)[0], tf.shape(strokes)[1]
        positions = tf.shape(chars)[1] if self.conditional else 1
        zeros = tf.zeros((batch, steps, 1), self.compute_dtype)

        # A while loop that adds each step's outputs at its position (one-hot) rather than tf.scan:
        # scan collects them in TensorLists, which the TFLite converter cannot lower to builtins
        # when the batch is dynamic; the one-hot sum is plain arithmetic (O(T^2) adds, negligible).
        def one_point(t, state, outputs, phis):
            step_outputs, state, phi = self.step(strokes[:, t], state, chars, mask, training=bool(training))
            place = tf.one_hot(t, steps, dtype=self.compute_dtype)[None, :, None]
            if phi is not None:
                phis = phis + place * phi[:, None, :]
            return t + 1, state, outputs + place * step_outputs[:, None, :], phis

        initial = (
            tf.constant(0),
            tf.zeros((batch, self.state_size), self.compute_dtype),
            zeros * tf.zeros((self.output_size,), self.compute_dtype),
            zeros * tf.zeros((positions,), self.compute_dtype),
        )
        _, state, outputs, phis = tf.while_loop(
            lambda t, *_: t < steps, one_point, initial, maximum_iterations=steps
        )
        return outputs, phis, state

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_layers": self.num_layers,
                "window_components": self.window_components,
                "vocab_size": self.vocab_size,
                "initial_step": self.initial_step,
            }
        )
        return config
