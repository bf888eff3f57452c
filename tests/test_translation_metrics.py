"""Translation loss, token accuracy, BLEU, exact match and the quantised-export gate for translation."""

import numpy as np
import pytest

from keras_segattn.export.parity import compare_task, compare_translation
from keras_segattn.training.translation import (
    TokenAccuracy,
    corpus_bleu,
    exact_match,
    translation_loss,
)


def np_masked_cross_entropy(labels, logits, pad=0):
    logits = logits.astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    real = labels != pad
    return -picked[real].mean()


def test_loss_and_token_accuracy_ignore_padding():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7)).astype("float32")
    labels = rng.integers(1, 7, (3, 5)).astype("int32")
    labels[0, 3:] = 0
    labels[2, 1:] = 0
    np.testing.assert_allclose(float(translation_loss()(labels, logits)), np_masked_cross_entropy(labels, logits), rtol=1e-5)
    metric = TokenAccuracy()
    metric.update_state(labels, logits)
    real = labels != 0
    expected = (logits.argmax(-1) == labels)[real].mean()
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_bleu_is_sacrebleu_on_a_0_100_scale():
    import sacrebleu

    hypotheses = ["my cat is the best", "the dog is in the house", "2021-05-12"]
    references = ["my cat is the best", "the dog is in the garden", "2021-05-12"]
    expected = sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert corpus_bleu(hypotheses, references) == pytest.approx(expected)
    assert 0.0 < corpus_bleu(hypotheses, references) < 100.0
    assert corpus_bleu(references, references) == pytest.approx(100.0)
    assert corpus_bleu(["x y z"], ["my cat is the best"]) == 0.0


def test_exact_match_and_argument_errors():
    assert exact_match(["a b", "c"], ["a  b", "d"]) == 0.5
    with pytest.raises(ValueError, match="same length, received 1 and 2"):
        exact_match(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="hypotheses must be strings, received int"):
        corpus_bleu([1], ["a"])
    with pytest.raises(ValueError, match="at least one sentence"):
        exact_match([], [])


def test_translation_gate_counts_real_positions_and_sentence_drops():
    labels = np.array([[3, 4, 2, 0, 0], [5, 2, 0, 0, 0]])
    reference = np.zeros((2, 5, 6), "float32")
    for b in range(2):
        for t in range(5):
            reference[b, t, labels[b, t]] = 5.0
    ok = compare_task({"logits": reference}, {"logits": reference + 0.01}, task="translation", labels=labels)
    assert ok["passed"] and ok["argmax_agreement"] == 1.0 and ok["keras"] == 1.0 and ok["drop_points"] == 0.0
    # Flipping a padded position does not count; flipping a real one does.
    padded = reference.copy()
    padded[0, 4] = np.eye(6)[1] * 9.0
    assert compare_translation({"logits": reference}, {"logits": padded}, labels=labels)["argmax_agreement"] == 1.0
    broken = reference.copy()
    broken[1, 0] = np.eye(6)[1] * 9.0
    report = compare_translation({"logits": reference}, {"logits": broken}, labels=labels)
    assert not report["passed"]
    assert report["argmax_agreement"] == pytest.approx(4 / 5)
    assert report["drop_points"] == pytest.approx(50.0) and report["token_accuracy_drop_points"] == pytest.approx(20.0)
