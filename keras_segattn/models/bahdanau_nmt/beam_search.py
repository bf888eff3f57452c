"""Greedy and beam-search decoding with TensorFlow ops (private; used by the NMT Translator).

The decoder is driven through two Keras sub-models: ``encoder(source) ->
[annotations, keys, initial_state, source_mask]`` and ``decoder_step([token,
state, annotations, keys, source_mask]) -> [logits, next_state, alignment]``.
The source is whatever the encoder reads: token ids for the translator, images
for the captioner (``keras_segattn.models.show_attend_tell``); the state is one
tensor (a GRU's, or an LSTM's ``[h; c]``).

Rules (the NumPy reference loop in :mod:`keras_segattn.export.seq2seq`
implements the same rules independently and is tested equal):

- hypotheses start with ``[start]``; the padding id 0 is never emitted by a
  live hypothesis; a hypothesis is finished once it emits ``[end]`` (``[end]``
  counts in its length) and then stays in the beam with an unchanged score;
- each step keeps the ``beam_width`` best of (live hypotheses x vocabulary) and
  finished hypotheses by summed log-probability;
- after ``max_steps`` steps (or when every hypothesis is finished) the
  hypothesis with the best ``score / lp(length)`` wins, ``lp(n) = ((5 + n) /
  6) ** length_penalty`` (Wu et al. 2016, GNMT); ``length_penalty=0`` ranks
  by the plain sum;
- a source with no token (empty string) gives an empty output at once.

``beam_width=1`` is greedy decoding.
"""

from __future__ import annotations

import tensorflow as tf

from keras_segattn.validation import check_number, check_positive_int

PAD_ID, START_ID, END_ID = 0, 2, 3


def length_normalizer(lengths, length_penalty):
    lengths = tf.cast(lengths, tf.float32)
    return tf.pow((5.0 + lengths) / 6.0, tf.cast(length_penalty, tf.float32))


def beam_search(encoder, decoder_step, source_ids, *, beam_width=1, length_penalty=0.0, max_steps=None):
    """Decode ``source_ids`` (token ids ``(batch, L)``, or any encoder input such as images); returns a dict of tensors.

    ``tokens (batch, max_steps)`` (0 after the end), ``alignment (batch,
    max_steps, L)`` (``L``: the annotations' positions), ``score (batch,)``
    (summed log-probability), ``length (batch,)`` (tokens including
    ``[end]``). ``max_steps`` defaults to the source length of token ids.
    """
    beam_width = check_positive_int("beam_search", "beam_width", beam_width)
    length_penalty = check_number("beam_search", "length_penalty", length_penalty, minimum=0)
    source_ids = tf.convert_to_tensor(source_ids)
    if source_ids.dtype.is_integer:
        source_ids = tf.cast(source_ids, tf.int32)
    elif max_steps is None:
        raise ValueError("beam_search: max_steps is required when the source is not token ids.")
    steps = int(max_steps or source_ids.shape[1])
    k = beam_width
    # tf.identity drops the Keras masks the encoder attaches (the step graph takes an explicit mask).
    annotations, keys, state, source_mask = (tf.identity(t) for t in encoder(source_ids, training=False))
    source_steps = annotations.shape[1]
    batch = tf.shape(source_ids)[0]
    vocab = decoder_step.outputs[0].shape[-1]
    if vocab - 1 < k:
        raise ValueError(f"beam_width={k} needs a vocabulary of more than {k} tokens, the model has {vocab}.")

    def tile(x):
        return tf.repeat(x, k, axis=0)

    annotations, keys, state, source_mask = tile(annotations), tile(keys), tile(state), tile(source_mask)
    units = state.shape[-1]
    empty = tf.reduce_sum(source_mask, axis=-1) <= 0.0  # (batch * k,)
    scores = tf.tile(tf.constant([[0.0] + [-float("inf")] * (k - 1)]), [batch, 1])
    finished = tf.reshape(empty, [batch, k])
    lengths = tf.zeros([batch, k], tf.int32)
    tokens = tf.zeros([batch, k, steps], tf.int32)
    alignment = tf.zeros([batch, k, steps, source_steps], tf.float32)
    previous = tf.fill([batch * k], START_ID)
    vocab_ids = tf.range(vocab)
    finished_logp = tf.where(vocab_ids == PAD_ID, 0.0, -float("inf"))  # finished: pad at no cost
    no_pad = tf.where(vocab_ids == PAD_ID, -float("inf"), 0.0)

    def body(t, previous, state, scores, finished, lengths, tokens, alignment):
        logits, next_state, weights = decoder_step(
            [previous, state, annotations, keys, source_mask], training=False
        )
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1) + no_pad
        logp = tf.reshape(logp, [batch, k, vocab])
        logp = tf.where(finished[:, :, None], finished_logp, logp)
        total = tf.reshape(scores[:, :, None] + logp, [batch, k * vocab])
        scores, index = tf.math.top_k(total, k=k)
        parent, token = index // vocab, index % vocab
        was_finished = tf.gather(finished, parent, batch_dims=1)
        token = tf.where(was_finished, PAD_ID, token)
        next_state = tf.gather(tf.reshape(next_state, [batch, k, units]), parent, batch_dims=1)
        weights = tf.gather(tf.reshape(weights, [batch, k, source_steps]), parent, batch_dims=1)
        weights = tf.where(was_finished[:, :, None], 0.0, tf.cast(weights, tf.float32))
        tokens = tf.gather(tokens, parent, batch_dims=1)
        alignment = tf.gather(alignment, parent, batch_dims=1)
        at_t = tf.one_hot(t, steps, dtype=tf.int32)
        tokens = tokens + token[:, :, None] * at_t
        alignment = alignment + weights[:, :, None, :] * tf.cast(at_t, tf.float32)[:, None]
        lengths = tf.gather(lengths, parent, batch_dims=1) + tf.cast(~was_finished, tf.int32)
        finished = was_finished | (token == END_ID)
        next_state = tf.reshape(next_state, [batch * k, units])
        return t + 1, tf.reshape(token, [batch * k]), next_state, scores, finished, lengths, tokens, alignment

    def cond(t, previous, state, scores, finished, *_):
        return (t < steps) & ~tf.reduce_all(finished)

    _, _, _, scores, finished, lengths, tokens, alignment = tf.while_loop(
        cond,
        body,
        [tf.constant(0), previous, state, scores, finished, lengths, tokens, alignment],
        shape_invariants=[
            tf.TensorShape([]),
            tf.TensorShape([None]),
            tf.TensorShape([None, units]),
            tf.TensorShape([None, k]),
            tf.TensorShape([None, k]),
            tf.TensorShape([None, k]),
            tf.TensorShape([None, k, steps]),
            tf.TensorShape([None, k, steps, source_steps]),
        ],
    )
    normalized = scores / length_normalizer(lengths, length_penalty) if length_penalty else scores
    best = tf.argmax(normalized, axis=1, output_type=tf.int32)
    pick = lambda x: tf.gather(x, best, batch_dims=1)  # noqa: E731
    return {
        "tokens": pick(tokens),
        "alignment": pick(alignment),
        "score": pick(scores),
        "length": pick(lengths),
    }
