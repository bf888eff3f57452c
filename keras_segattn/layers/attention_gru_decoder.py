"""A GRU decoder that attends to the encoder annotations before every step."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers.bahdanau_attention import BahdanauAttention
from keras_segattn.layers.luong_attention import SCORES, LuongAttention
from keras_segattn.validation import check_bool, check_choice, check_positive_int

ATTENTIONS = ("bahdanau", "luong")


@keras.saving.register_keras_serializable(package="keras_segattn")
class AttentionGRUDecoder(keras.layers.Layer):
    """RNNsearch's decoder: ``c_i = attend(s_{i-1}, h)``, ``s_i = GRU([y_{i-1}; c_i], s_{i-1})``.

    Bahdanau, Cho & Bengio, ICLR 2015, section 3.1 and appendix A.2.2: at
    output step ``i`` the previous decoder state ``s_{i-1}`` scores every
    annotation ``h_j``; the softmax of the scores (the alignment ``alpha_ij``)
    weighs the annotations into the context ``c_i``; the GRU reads the previous
    target embedding together with ``c_i``. ``attention="luong"`` swaps in
    Luong's multiplicative scores (:class:`LuongAttention`), keeping this
    recurrence (the query is ``s_{i-1}``).

    Keras 3's ``RNN`` has no ``constants`` argument to hand the annotations to a
    cell, so the recurrence is written here: unrolled in Python when the number
    of steps is static (what the models use: it compiles under XLA and
    converts to TFLite builtins and ONNX without loops) and a
    ``tf.while_loop`` otherwise; the two are tested equal. ``U h_j`` is
    projected once per call, not per step.

    Called on a rank-3 ``inputs`` it runs all steps (teacher forcing); on a
    rank-2 ``inputs`` it runs exactly one step, which is what an exported
    decoder-step graph and beam search use.

    Args:
        units: GRU state size (the paper: 1000).
        attention: ``"bahdanau"`` (additive) or ``"luong"``.
        attention_units: hidden size of the additive score (Bahdanau; Luong
            ``"concat"``); default ``units`` for Bahdanau.
        score: Luong score, ``"dot"``, ``"general"`` or ``"concat"``.
        reset_after: GRU convention; ``False`` (default) is the paper's
            (reset gate applied before the recurrent matrix).

    Call arguments:
        inputs: list ``[inputs, annotations, initial_state, source_mask]`` and
            optionally ``keys`` (``attention.project_keys(annotations)``,
            precomputed): ``inputs`` ``(batch, steps, input_dim)`` or
            ``(batch, input_dim)``; ``annotations`` ``(batch, source_steps,
            annotation_dim)``; ``initial_state`` ``(batch, units)``;
            ``source_mask`` ``(batch, source_steps)``, nonzero at real tokens.

    Returns:
        ``(states, contexts, alignments)``: ``(batch, steps, units)``,
        ``(batch, steps, annotation_dim)``, ``(batch, steps, source_steps)``
        (without the ``steps`` axis for one step). ``states[:, i]`` is
        ``s_i``; ``alignments[:, i]`` is ``alpha_i``, computed from
        ``s_{i-1}``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import AttentionGRUDecoder
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(2, 4, 3)).astype("float32")
        >>> annotations = rng.normal(size=(2, 5, 6)).astype("float32")
        >>> state = np.zeros((2, 8), "float32")
        >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
        >>> states, contexts, alignments = AttentionGRUDecoder(8)([x, annotations, state, mask])
        >>> states.shape, contexts.shape, alignments.shape
        (TensorShape([2, 4, 8]), TensorShape([2, 4, 6]), TensorShape([2, 4, 5]))
    """

    def __init__(
        self,
        units,
        attention="bahdanau",
        attention_units=None,
        score="general",
        reset_after=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("AttentionGRUDecoder", "units", units)
        check_choice("AttentionGRUDecoder", "attention", attention, ATTENTIONS)
        check_choice("AttentionGRUDecoder", "score", score, SCORES)
        if attention_units is not None:
            attention_units = check_positive_int("AttentionGRUDecoder", "attention_units", attention_units)
            if attention == "luong" and score != "concat":
                raise ValueError(
                    "AttentionGRUDecoder: attention_units applies to attention='bahdanau' or "
                    f"score='concat', received attention_units={attention_units!r} with "
                    f"attention='luong', score={score!r}."
                )
        self.attention_name = attention
        self.attention_units = attention_units
        self.score = score
        self.reset_after = check_bool("AttentionGRUDecoder", "reset_after", reset_after)
        self.cell = keras.layers.GRUCell(self.units, reset_after=self.reset_after, name="cell")
        if attention == "bahdanau":
            self.attention = BahdanauAttention(attention_units or self.units, name="attention")
        else:
            self.attention = LuongAttention(score, units=attention_units, name="attention")
        self.supports_masking = True

    # ------------------------------------------------------------------ shapes
    def _split(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) not in (4, 5):
            raise ValueError(
                "AttentionGRUDecoder: inputs must be a list [inputs, annotations, initial_state, "
                f"source_mask] (optionally + keys), received {shapes!r}."
            )
        shapes = [tuple(s) for s in shapes]
        x, annotations, state, mask = shapes[:4]
        expectations = (
            ("inputs", x, (2, 3), "(batch, steps, input_dim) or (batch, input_dim)"),
            ("annotations", annotations, (3,), "(batch, source_steps, annotation_dim)"),
            ("initial_state", state, (2,), f"(batch, {self.units})"),
            ("source_mask", mask, (2,), "(batch, source_steps)"),
        )
        for name, shape, ranks, expected in expectations:
            if len(shape) not in ranks:
                raise ValueError(
                    f"AttentionGRUDecoder: {name} must have shape {expected}, received {shape}."
                )
        if state[-1] is not None and state[-1] != self.units:
            raise ValueError(
                f"AttentionGRUDecoder: initial_state must have {self.units} units, received shape {state}."
            )
        if x[-1] is None or annotations[-1] is None:
            raise ValueError(
                "AttentionGRUDecoder: the last dimension of inputs and annotations must be known, "
                f"received {x} and {annotations}."
            )
        return x, annotations, state, mask

    def build(self, input_shape):
        x, annotations, _, _ = self._split(input_shape)
        self.attention.build((None, self.units), annotations)
        self.cell.build((None, x[-1] + annotations[-1]))
        self.built = True

    def compute_output_shape(self, input_shape):
        x, annotations, _, _ = self._split(input_shape)
        lead = x[:-1]
        return (
            (*lead, self.units),
            (*lead, annotations[-1]),
            (*lead, annotations[1]),
        )

    def compute_mask(self, inputs, mask=None):
        return None

    # ------------------------------------------------------------------- steps
    def step(self, inputs, state, annotations, keys, source_mask):
        """One decoder step: ``(s_i, c_i, alpha_i)`` from ``y_{i-1}`` (embedded) and ``s_{i-1}``."""
        context, weights = self.attention.attend(state, annotations, keys, source_mask)
        new_state, _ = self.cell(tf.concat([inputs, tf.cast(context, inputs.dtype)], axis=-1), [state])
        return new_state, context, weights

    def call(self, inputs):
        self._split([tuple(t.shape) for t in inputs])
        x, annotations, state, source_mask = inputs[:4]
        keys = inputs[4] if len(inputs) == 5 else self.attention.project_keys(annotations)
        if len(x.shape) == 2:
            return self.step(x, state, annotations, keys, source_mask)
        steps = x.shape[1]
        if steps is not None:  # static: unroll (XLA, TFLite and ONNX without loops)
            outputs = []
            for t in range(steps):
                state, context, weights = self.step(x[:, t], state, annotations, keys, source_mask)
                outputs.append((state, context, weights))
            if not outputs:
                return self._empty(x, annotations, state)
            return tuple(tf.stack(seq, axis=1) for seq in zip(*outputs))
        return self._while_loop(x, state, annotations, keys, source_mask)

    def _empty(self, x, annotations, state):
        batch, source = tf.shape(x)[0], tf.shape(annotations)[1]
        dtype = state.dtype
        return (
            tf.zeros([batch, 0, self.units], dtype),
            tf.zeros([batch, 0, annotations.shape[-1]], annotations.dtype),
            tf.zeros([batch, 0, source], dtype),
        )

    def _while_loop(self, x, state, annotations, keys, source_mask):
        time_major = tf.transpose(x, [1, 0, 2])
        steps = tf.shape(time_major)[0]
        arrays = [
            tf.TensorArray(state.dtype, size=steps),
            tf.TensorArray(annotations.dtype, size=steps),
            tf.TensorArray(state.dtype, size=steps),
        ]

        def body(t, state, states, contexts, alignments):
            state, context, weights = self.step(time_major[t], state, annotations, keys, source_mask)
            return t + 1, state, states.write(t, state), contexts.write(t, context), alignments.write(t, weights)

        _, _, states, contexts, alignments = tf.while_loop(
            lambda t, *_: t < steps, body, [tf.constant(0), state, *arrays]
        )
        batch, source = tf.shape(x)[0], tf.shape(annotations)[1]
        shapes = ([batch, 0, self.units], [batch, 0, annotations.shape[-1]], [batch, 0, source])
        return tuple(
            tf.cond(
                steps > 0,
                lambda a=a: tf.transpose(a.stack(), [1, 0, 2]),
                lambda a=a, s=s: tf.zeros(s, a.dtype),
            )
            for a, s in zip((states, contexts, alignments), shapes)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "attention": self.attention_name,
                "attention_units": self.attention_units,
                "score": self.score,
                "reset_after": self.reset_after,
            }
        )
        return config
