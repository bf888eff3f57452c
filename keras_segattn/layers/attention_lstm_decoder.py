"""Show-Attend-and-Tell's decoder: an LSTM that attends to image locations before every word."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers.bahdanau_attention import BahdanauAttention
from keras_segattn.validation import (
    check_choice,
    check_number,
    check_optional_int,
    check_positive_int,
    message,
)

ATTENTIONS = ("soft", "hard", "none")
HARD_INFERENCE = ("expectation", "argmax")
EXPECTED_CONTEXT_UNITS = ("batch", "caption")
REWARDS = ("caption", "to_go")


@keras.saving.register_keras_serializable(package="keras_segattn")
class AttentionLSTMDecoder(keras.layers.Layer):
    """The caption decoder of Xu et al.: attention over L locations, gate, LSTM, deep output.

    Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel & Bengio, "Show, Attend
    and Tell: Neural Image Caption Generation with Visual Attention", ICML 2015
    (section 3.1). For output word ``t``:

    - the attention model ``f_att`` scores every annotation vector ``a_i``
      from the previous hidden state: ``e_ti = v^T tanh(W h_{t-1} + U a_i)``,
      ``alpha_t = softmax(e_t)`` (the same additive score as RNNsearch, so
      this is :class:`BahdanauAttention`);
    - the context ``z_t`` is, with ``attention="soft"``, the expectation
      ``sum_i alpha_ti a_i`` (deterministic, trained by backpropagation); with
      ``"hard"``, the annotation at ONE location ``s_t`` sampled from
      ``alpha_t`` in training (section 4.1: no gradient flows through the
      sample; the attention model learns by REINFORCE with a moving-average
      baseline and an entropy bonus; with probability
      ``expected_context_rate`` a whole training batch (the authors' released
      code) or each caption uses the expected context instead, as the paper
      does) and, outside training, the expected context (as the
      authors' released code decodes; ``hard_inference="argmax"``: the most
      likely location); with
      ``"none"`` (the no-attention baseline), the mean annotation;
    - a gating scalar ``beta_t = sigmoid(f_beta(h_{t-1}))`` scales it
      (section 4.2.1);
    - an LSTM reads ``[E y_{t-1}; beta_t z_t]``; its initial state
      ``[h_0; c_0]`` is an input (the paper's MLPs of the mean annotation,
      section 3.1.2, are layers of the model, so that a decoder step that
      receives its state owns no unused weights);
    - the deep output ``logits = L_o(E y_{t-1} + L_h h_t + L_z z_t)``
      (eq. 7).

    The layer adds, with ``add_loss`` (so ``model.fit`` minimises them with
    the task loss), the doubly stochastic penalty ``lambda * sum_i (1 - sum_t
    alpha_ti)^2`` (eq. 14; divided by the caption's number of words, because
    the task loss is a per-word mean while the paper's is a sum; added in
    evaluation too, as Keras adds regularisers, so ``loss`` and ``val_loss``
    compare; with more locations L than words T it cannot go below ``L (1 -
    T / L)^2 / T``, 14.06 for the tiny model, so the reported loss sits above
    that) and, in training with hard attention, the REINFORCE surrogate of
    eq. 12: ``-(R -
    b) sum_t log alpha_t[s_t] - entropy_weight * H(alpha_t)``, with reward
    ``R = log p(y | s, a)`` of the caption, its moving average ``b`` (a
    non-trainable weight, updated in training) and ``stop_gradient`` on the
    reward (the surrogate's value is held at 0, only its gradient is added,
    so the reported loss stays the caption's likelihood plus the penalty).

    Called with rank-3 word inputs it runs every step (teacher forcing,
    unrolled: the step count is static); with rank-2 inputs exactly one step
    from an explicit state, which an exported decoder step and beam search use.

    Args:
        units: LSTM size.
        vocab_size: output vocabulary size (logits).
        attention: ``"soft"``, ``"hard"`` or ``"none"``.
        attention_units: hidden size of ``f_att``; default ``units``.
        doubly_stochastic: ``lambda`` of the doubly stochastic penalty (the
            paper: 1; 0 switches it off).
        entropy_weight: hard attention's entropy bonus ``lambda_e``.
        reinforce_weight: hard attention's ``lambda_r`` (scale of the
            REINFORCE term).
        baseline_decay: the moving-average baseline's decay (``b <- decay * b
            + (1 - decay) * mean R``).
        expected_context_unit: ``"batch"`` (one draw per training batch, as
            the authors' arctic-captions code does) or ``"caption"`` (one
            draw per caption).
        expected_context_rate: hard attention: the chance that a training
            batch (or caption, see ``expected_context_unit``) uses the
            expected (soft) context (the paper: 0.5).
        hard_inference: hard attention outside training: ``"expectation"``
            (the expected context, what the authors' released code decodes
            with by default) or ``"argmax"`` (the most likely location).
        seed: seed of hard attention's sampling.
        reward: hard attention's REINFORCE reward. ``"caption"`` (the paper,
            eq. 12): every location of a caption is credited with the whole
            caption's ``log p(y | s, a)`` minus the moving baseline ``b``.
            ``"to_go"``: the location chosen for word ``t`` is credited only
            with the log-likelihood of words ``t, t+1, ...`` (it cannot
            change the words before it), minus ``b`` times their count
            (``b`` then tracks the mean reward per word). Both are unbiased
            estimates of the same gradient; dropping the earlier words'
            noise lowers the variance (tested).

    Call arguments (all steps): ``[words (batch, steps, embed_dim), annotations
    (batch, L, D), initial_state (batch, 2 * units) = [h_0; c_0], targets
    (batch, steps) int]``; ``targets`` are the next words (0 = padding): they
    mark the caption's real steps for the penalty and give hard attention its
    reward.

    Call arguments (one step): ``[word (batch, embed_dim), annotations, state
    (batch, 2 * units) = [h; c], mask (batch, L)]`` and optionally ``keys
    (batch, L, attention_units)`` ``= decoder.project_keys(annotations)``,
    precomputed once per image; ``mask`` is nonzero at the locations that
    may be attended (all of them for an image; the decoder-step graph of beam
    search and export takes it explicitly, as the translator's does).

    Both forms return three tensors (Keras requires one output count per layer).

    Returns:
        all steps: ``(logits (batch, steps, vocab_size), alphas (batch,
        steps, L), hidden states h_t (batch, steps, units))``; one step: ``(logits (batch, vocab_size), next_state
        (batch, 2 * units), alpha (batch, L))``. For hard attention at
        inference ``alpha`` is the distribution the location is chosen from.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import AttentionLSTMDecoder
        >>> rng = np.random.default_rng(0)
        >>> words = rng.normal(size=(2, 5, 8)).astype("float32")
        >>> annotations = rng.normal(size=(2, 9, 6)).astype("float32")
        >>> state = np.zeros((2, 32), "float32")
        >>> targets = np.array([[4, 5, 3, 0, 0], [4, 4, 4, 4, 3]])
        >>> decoder = AttentionLSTMDecoder(16, vocab_size=7)
        >>> logits, alphas, states = decoder([words, annotations, state, targets])
        >>> logits.shape, alphas.shape
        (TensorShape([2, 5, 7]), TensorShape([2, 5, 9]))
    """

    def __init__(
        self,
        units,
        vocab_size,
        attention="soft",
        attention_units=None,
        doubly_stochastic=1.0,
        entropy_weight=0.01,
        reinforce_weight=1.0,
        baseline_decay=0.9,
        expected_context_rate=0.5,
        hard_inference="expectation",
        seed=None,
        expected_context_unit="batch",
        reward="caption",
        **kwargs,
    ):
        super().__init__(**kwargs)
        where = "AttentionLSTMDecoder"
        self.units = check_positive_int(where, "units", units)
        self.vocab_size = check_positive_int(where, "vocab_size", vocab_size)
        self.attention_name = check_choice(where, "attention", attention, ATTENTIONS)
        self.attention_units = None if attention_units is None else check_positive_int(
            where, "attention_units", attention_units
        )
        self.doubly_stochastic = check_number(where, "doubly_stochastic", doubly_stochastic, minimum=0)
        self.entropy_weight = check_number(where, "entropy_weight", entropy_weight, minimum=0)
        self.reinforce_weight = check_number(where, "reinforce_weight", reinforce_weight, minimum=0)
        self.baseline_decay = check_number(where, "baseline_decay", baseline_decay, minimum=0, maximum=1)
        self.expected_context_rate = check_number(
            where, "expected_context_rate", expected_context_rate, minimum=0, maximum=1
        )
        self.hard_inference = check_choice(where, "hard_inference", hard_inference, HARD_INFERENCE)
        self.expected_context_unit = check_choice(
            where, "expected_context_unit", expected_context_unit, EXPECTED_CONTEXT_UNITS
        )
        self.reward = check_choice(where, "reward", reward, REWARDS)
        self.seed = check_optional_int("AttentionLSTMDecoder", "seed", seed, minimum=0)
        self.seed_generator = keras.random.SeedGenerator(seed) if attention == "hard" else None
        self.attention = (
            BahdanauAttention(self.attention_units or self.units, name="attention") if attention != "none" else None
        )
        self.gate = keras.layers.Dense(1, activation="sigmoid", name="gate")
        self.cell = keras.layers.LSTMCell(self.units, name="cell")
        self.state_projection = None  # L_h, L_z: built with the word size
        self.context_projection = None
        self.output_projection = keras.layers.Dense(self.vocab_size, name="output_projection")

    # ------------------------------------------------------------------ shapes
    def _split(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) not in (4, 5):
            raise ValueError(
                "AttentionLSTMDecoder: inputs must be [words, annotations, initial_state, targets] (all steps) or "
                f"[word, annotations, state, mask] + optionally keys (one step), received {shapes!r}."
            )
        shapes = [tuple(s) for s in shapes]
        words, annotations, state = shapes[0], shapes[1], shapes[2]
        step = len(words) == 2
        if len(words) not in (2, 3) or (len(shapes) == 5 and not step):
            raise ValueError(
                "AttentionLSTMDecoder: call it as [words (batch, steps, dim), annotations, initial_state, targets] "
                f"or [word (batch, dim), annotations, state, mask(, keys)], received shapes {shapes}."
            )
        if len(annotations) != 3:
            raise ValueError(message("AttentionLSTMDecoder", "annotations", "of shape (batch, L, D)", f"shape {annotations}"))
        if words[-1] is None or annotations[-1] is None:
            raise ValueError(
                f"AttentionLSTMDecoder: the last dimension of words and annotations must be known, received "
                f"{words} and {annotations}."
            )
        if len(state) != 2 or state[-1] not in (None, 2 * self.units):
            raise ValueError(
                message("AttentionLSTMDecoder", "state", f"of shape (batch, {2 * self.units}) = [h; c]", f"shape {state}")
            )
        return words, annotations, step

    def build(self, input_shape):
        words, annotations, _ = self._split(input_shape)
        dim, features = words[-1], annotations[-1]
        if self.attention is not None:
            self.attention.build((None, self.units), (None, annotations[1], features))
        self.gate.build((None, self.units))
        self.cell.build((None, dim + features))
        self.state_projection = keras.layers.Dense(dim, use_bias=False, name="state_projection")
        self.context_projection = keras.layers.Dense(dim, use_bias=False, name="context_projection")
        self.state_projection.build((None, self.units))
        self.context_projection.build((None, features))
        self.output_projection.build((None, dim))
        if self.attention_name == "hard":
            self.baseline = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="baseline", aggregation="mean",
                autocast=False,  # a float32 running mean of rewards, also under mixed precision
            )
        self.built = True

    def compute_output_shape(self, input_shape):
        words, annotations, step = self._split(input_shape)
        lead = words[:-1]
        if step:
            return (*lead, self.vocab_size), (lead[0], 2 * self.units), (*lead, annotations[1])
        return (*lead, self.vocab_size), (*lead, annotations[1]), (*lead, self.units)

    # ------------------------------------------------------------------ pieces
    def project_keys(self, annotations):
        """The query-independent part of ``f_att`` (``U a_i``), computed once per image.

        Without attention there is no score: the keys are the annotations
        themselves (their masked mean is the context), so the decoder step
        keeps one signature.
        """
        if self.attention is None:
            return tf.identity(annotations)
        return self.attention.project_keys(annotations)

    def _context(self, h, annotations, keys, mask, training, sample_flags):
        """``(z_t, alpha_t, log alpha_t[s_t] or None)``."""
        if self.attention is None:
            valid = tf.ones(tf.shape(annotations)[:2], h.dtype) if mask is None else tf.cast(mask, h.dtype)
            alpha = valid / tf.maximum(tf.reduce_sum(valid, axis=-1, keepdims=True), 1.0)
            return tf.einsum("bl,bld->bd", tf.cast(alpha, keys.dtype), keys), alpha, None
        expected, alpha = self.attention.attend(h, annotations, keys, mask)
        if self.attention_name == "soft" or (not training and self.hard_inference == "expectation"):
            return expected, alpha, None
        log_alpha = tf.math.log(tf.maximum(tf.cast(alpha, tf.float32), 1e-20))
        if training:
            chosen = keras.random.categorical(log_alpha, 1, seed=self.seed_generator)[:, 0]
        else:
            chosen = tf.argmax(alpha, axis=-1)
        # No gradient reaches alpha through the chosen location: a constant one-hot picks the annotation.
        one_hot = tf.stop_gradient(tf.one_hot(chosen, tf.shape(alpha)[-1], dtype=annotations.dtype))
        sampled = tf.einsum("bl,bld->bd", one_hot, annotations)
        log_prob = tf.reduce_sum(tf.cast(one_hot, tf.float32) * log_alpha, axis=-1)
        if training and sample_flags is not None:
            sampled = tf.where(sample_flags[:, None], sampled, tf.cast(expected, sampled.dtype))
            log_prob = tf.where(sample_flags, log_prob, 0.0)
        return sampled, alpha, log_prob

    def step(self, word, state, annotations, keys, mask=None, training=False, sample_flags=None):
        """One word: ``(logits, next_state [h; c], alpha, log alpha[s] or None)``."""
        h, c = state[:, : self.units], state[:, self.units :]
        z, alpha, log_prob = self._context(h, annotations, keys, mask, training, sample_flags)
        z = tf.cast(z, word.dtype) * self.gate(h)
        h, (h, c) = self.cell(tf.concat([word, z], axis=-1), [h, c], training=training)
        deep = word + self.state_projection(h) + self.context_projection(z)
        logits = self.output_projection(deep)
        return logits, tf.concat([h, c], axis=-1), alpha, log_prob

    # -------------------------------------------------------------------- call
    def call(self, inputs, training=None):
        self._split([tuple(t.shape) for t in inputs])
        if len(inputs[0].shape) == 2:
            word, annotations, state, mask = inputs[:4]
            keys = inputs[4] if len(inputs) == 5 else self.project_keys(annotations)
            logits, next_state, alpha, _ = self.step(word, state, annotations, keys, mask)
            return logits, next_state, alpha
        words, annotations, state, targets = inputs
        keys = self.project_keys(annotations)
        sample_flags = None
        if training and self.attention_name == "hard":
            batch = tf.shape(annotations)[:1]
            draws = (1,) if self.expected_context_unit == "batch" else batch
            sample_flags = keras.random.uniform(draws, seed=self.seed_generator) >= self.expected_context_rate
            sample_flags = tf.broadcast_to(sample_flags, batch)
        logits, alphas, log_probs, states = [], [], [], []
        for t in range(words.shape[1]):
            step_logits, state, alpha, log_prob = self.step(
                words[:, t], state, annotations, keys, training=bool(training), sample_flags=sample_flags
            )
            logits.append(step_logits)
            alphas.append(alpha)
            log_probs.append(log_prob)
            states.append(state[:, : self.units])
        logits, alphas = tf.stack(logits, axis=1), tf.stack(alphas, axis=1)
        self._add_losses(logits, alphas, log_probs, targets, bool(training))
        return logits, alphas, tf.stack(states, axis=1)

    def _add_losses(self, logits, alphas, log_probs, targets, training):
        real = tf.cast(tf.not_equal(targets, 0), tf.float32)  # (batch, steps)
        words = tf.maximum(tf.reduce_sum(real, axis=1), 1.0)
        alphas = tf.cast(alphas, tf.float32)
        if self.doubly_stochastic and self.attention is not None:
            coverage = tf.reduce_sum(alphas * real[:, :, None], axis=1)  # sum_t alpha_ti
            penalty = tf.reduce_sum(tf.square(1.0 - coverage), axis=-1) / words
            self.add_loss(self.doubly_stochastic * tf.reduce_mean(penalty))
        if self.attention_name != "hard" or not training:
            return
        log_likelihood = -tf.keras.losses.sparse_categorical_crossentropy(
            tf.maximum(targets, 0), tf.cast(logits, tf.float32), from_logits=True
        )
        log_likelihood = tf.stop_gradient(log_likelihood * real)
        log_probs = tf.stack(log_probs, axis=1) * real  # log p(s_t | a)
        if self.reward == "caption":
            reward = tf.reduce_sum(log_likelihood, axis=1)  # log p(y | s, a)
            advantage = reward - tf.cast(self.baseline, tf.float32)
            credit = advantage * tf.reduce_sum(log_probs, axis=1)
            batch_reward = tf.reduce_mean(reward)
        else:
            # Reversed cumulative sums: the words from t on, and how many of them are real.
            to_go = tf.cumsum(log_likelihood, axis=1, reverse=True)
            remaining = tf.cumsum(real, axis=1, reverse=True)
            advantage = to_go - tf.cast(self.baseline, tf.float32) * remaining
            credit = tf.reduce_sum(advantage * log_probs, axis=1)
            batch_reward = tf.reduce_sum(log_likelihood) / tf.maximum(tf.reduce_sum(real), 1.0)
        entropy = -tf.reduce_sum(alphas * tf.math.log(tf.maximum(alphas, 1e-20)), axis=-1)
        entropy = tf.reduce_sum(entropy * real, axis=1) / words
        surrogate = tf.reduce_mean(-self.reinforce_weight * credit / words - self.entropy_weight * entropy)
        # Only its gradient matters: its value is held at 0 so the reported loss stays the likelihood + penalty.
        self.add_loss(surrogate - tf.stop_gradient(surrogate))
        decay = self.baseline_decay
        self.baseline.assign(decay * self.baseline + (1.0 - decay) * batch_reward)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "vocab_size": self.vocab_size,
                "attention": self.attention_name,
                "attention_units": self.attention_units,
                "doubly_stochastic": self.doubly_stochastic,
                "entropy_weight": self.entropy_weight,
                "reinforce_weight": self.reinforce_weight,
                "baseline_decay": self.baseline_decay,
                "expected_context_rate": self.expected_context_rate,
                "hard_inference": self.hard_inference,
                "seed": self.seed,
                "expected_context_unit": self.expected_context_unit,
                "reward": self.reward,
            }
        )
        return config
