"""Translation: loss, token accuracy, corpus BLEU (sacrebleu), exact match and the training recipe."""

from __future__ import annotations

import time

import keras
import numpy as np

__all__ = [
    "translation_loss",
    "TokenAccuracy",
    "compile_translation",
    "corpus_bleu",
    "exact_match",
    "evaluate_translator",
]

PAD_ID = 0


def translation_loss():
    """Token cross-entropy on logits, averaged over real target tokens (padding id 0 ignored).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.translation import translation_loss
        >>> round(float(translation_loss()(np.array([[1, 0]]), np.zeros((1, 2, 3)))), 4)
        1.0986
    """
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)


@keras.saving.register_keras_serializable(package="keras_segattn")
class TokenAccuracy(keras.metrics.Metric):
    """Teacher-forced accuracy of the argmax token over real (non-padding) target positions.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.translation import TokenAccuracy
        >>> m = TokenAccuracy()
        >>> m.update_state(np.array([[2, 1, 0]]), np.array([[[0, 0, 9.0], [0, 0, 9.0], [9.0, 0, 0]]]))
        >>> float(m.result())
        0.5
    """

    def __init__(self, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
        real = keras.ops.cast(keras.ops.not_equal(y_true, PAD_ID), "float32")
        hit = keras.ops.cast(keras.ops.equal(predicted, y_true), "float32") * real
        self.correct.assign_add(keras.ops.sum(hit))
        self.total.assign_add(keras.ops.sum(real))

    def result(self):
        return keras.ops.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)


def compile_translation(model, *, learning_rate=2e-3, clipnorm=1.0, jit_compile="auto"):
    """Compile a ``bahdanau_nmt`` for teacher forcing: Adam (gradient-norm clipping at 1, as the
    paper), token cross-entropy on the logits, no loss on the alignment output, token accuracy.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.training.translation import compile_translation
        >>> model = compile_translation(ksa.build_model("bahdanau_nmt_tiny"))
        >>> model.loss[1] is None
        True
    """
    from keras_segattn.training.schedules import check_learning_rate

    learning_rate = check_learning_rate("compile_translation", learning_rate)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
        loss=[translation_loss(), None],
        metrics=[[TokenAccuracy()], None],
        jit_compile=jit_compile,
    )
    return model


def _check_texts(hypotheses, references):
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references must have the same length, received {len(hypotheses)} and {len(references)}."
        )
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        bad = [t for t in texts if not isinstance(t, str)]
        if bad:
            raise TypeError(f"{name} must be strings, received {type(bad[0]).__name__} {bad[0]!r}.")
    return hypotheses, references


def corpus_bleu(hypotheses, references) -> float:
    """Corpus BLEU on a 0-100 scale: ``sacrebleu.corpus_bleu`` with its defaults (13a tokenisation,
    exponential smoothing), one reference per sentence.

    Example:
        >>> from keras_segattn.training.translation import corpus_bleu
        >>> round(corpus_bleu(["my cat is the best"], ["my cat is the best"]), 6)
        100.0
    """
    import sacrebleu

    hypotheses, references = _check_texts(hypotheses, references)
    if not hypotheses:
        raise ValueError("corpus_bleu needs at least one sentence.")
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def exact_match(hypotheses, references) -> float:
    """Fraction (0-1) of hypotheses equal to their reference after whitespace normalisation.

    Example:
        >>> from keras_segattn.training.translation import exact_match
        >>> exact_match(["2021-05-12", "my cat"], ["2021-05-12 ", "my dog"])
        0.5
    """
    hypotheses, references = _check_texts(hypotheses, references)
    if not hypotheses:
        raise ValueError("exact_match needs at least one sentence.")
    same = [" ".join(h.split()) == " ".join(r.split()) for h, r in zip(hypotheses, references)]
    return float(np.mean(same))


def evaluate_translator(translator, pairs, *, beam_width=1, length_penalty=0.0):
    """BLEU (0-100), exact match (0-1), count and wall time of ``translator`` on ``(source, reference)`` pairs."""
    sources = [p[0] for p in pairs]
    references = [p[1] for p in pairs]
    start = time.perf_counter()
    results = translator.translate(sources, beam_width=beam_width, length_penalty=length_penalty)
    seconds = time.perf_counter() - start
    hypotheses = [r.text for r in results]
    return {
        "bleu": corpus_bleu(hypotheses, references),
        "exact_match": exact_match(hypotheses, references),
        "sentences": len(pairs),
        "seconds": seconds,
        "hypotheses": hypotheses,
    }
