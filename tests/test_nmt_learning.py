"""bahdanau_nmt_tiny learns the embedded Spanish -> English corpus, with sensible alignments.

About a minute of training on 2 CPU cores (1000 steps of 64 pairs), then
held-out test pairs (never seen in training: the splits are disjoint by
source sentence) are translated with greedy and beam search.
"""

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.data.translation import (
    is_monotone,
    kind_of,
    spanish_english_arrays,
    spanish_english_pairs,
)
from keras_segattn.models.bahdanau_nmt import Translator
from keras_segattn.training.recipes import warmup_cosine
from keras_segattn.training.translation import compile_translation, corpus_bleu, exact_match

pytestmark = [pytest.mark.learning, pytest.mark.xdist_group("nmt_learning")]


@pytest.fixture(scope="module")
def translator():
    keras.utils.set_random_seed(0)
    model = ksa.build_model("bahdanau_nmt_tiny")
    x, y, _ = spanish_english_arrays("train", 32000)
    compile_translation(model, learning_rate=warmup_cosine(5e-3, 1000), jit_compile=False)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    return Translator(model)


@pytest.fixture(scope="module")
def test_pairs():
    return spanish_english_pairs("test", 450)


def argmax_alignment_is_monotone(translation):
    """Argmax source position of every output word (before [end]) never moves left."""
    rows = translation.alignment[: len(translation.tokens) - (translation.tokens[-1:] == ["[end]"])]
    return bool(np.all(np.diff(rows.argmax(-1)) >= 0))


def test_held_out_exact_match_and_bleu(translator, test_pairs):
    sources = [p[0] for p in test_pairs]
    references = [p[1] for p in test_pairs]
    kinds = np.array([kind_of(*p) for p in test_pairs])
    for beam_width, length_penalty in ((1, 0.0), (4, 0.6)):
        hypotheses = [t.text for t in translator.translate(sources, beam_width=beam_width, length_penalty=length_penalty)]
        assert exact_match(hypotheses, references) >= 0.98, (beam_width, [
            (s, r, h) for s, r, h in zip(sources, references, hypotheses) if r != h
        ][:10])  # fmt: skip
        assert corpus_bleu(hypotheses, references) >= 95.0
        for kind in ("numbers", "dates", "sentences"):
            idx = np.flatnonzero(kinds == kind)
            assert len(idx) == 150
            assert exact_match([hypotheses[i] for i in idx], [references[i] for i in idx]) >= 0.95, kind


def test_argmax_alignment_is_monotone_on_monotone_pairs(translator):
    pairs = [p for p in spanish_english_pairs("test", 900) if is_monotone(*p)]
    assert len(pairs) >= 300
    results = translator.translate([p[0] for p in pairs])
    monotone = np.mean([argmax_alignment_is_monotone(r) for r in results])
    assert monotone >= 0.9, monotone
    # The criterion discriminates: ISO dates reorder day, month and year.
    dates = [p[0] for p in spanish_english_pairs("test", 300, kinds=("dates",))]
    reordered = np.mean([argmax_alignment_is_monotone(r) for r in translator.translate(dates)])
    assert reordered <= 0.5, reordered
