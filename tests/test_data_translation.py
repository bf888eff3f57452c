"""Embedded Spanish -> English corpus, text handling and the TED talks tfds pipeline."""

import datetime
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.data import (
    spanish_english,
    spanish_english_arrays,
    spanish_english_pairs,
    spanish_number,
    ted_hrlr_translate,
    translation_pipeline,
    translation_vocabulary,
)
from keras_segattn.data.translation import (
    END_ID,
    PAD_ID,
    START_ID,
    detokenize,
    detokenize_tf,
    encode_pairs,
    standardize,
    text_vectorizer,
    tokenize,
)

# ------------------------------------------------ an independent number parser
_VALUES = {
    "cero": 0, "uno": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
    "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13,
    "catorce": 14, "quince": 15, "dieciséis": 16, "diecisiete": 17, "dieciocho": 18,
    "diecinueve": 19, "veinte": 20, "veintiuno": 21, "veintiún": 21, "veintidós": 22,
    "veintitrés": 23, "veinticuatro": 24, "veinticinco": 25, "veintiséis": 26,
    "veintisiete": 27, "veintiocho": 28, "veintinueve": 29, "treinta": 30, "cuarenta": 40,
    "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90, "cien": 100,
    "ciento": 100, "doscientos": 200, "trescientos": 300, "cuatrocientos": 400,
    "quinientos": 500, "seiscientos": 600, "setecientos": 700, "ochocientos": 800,
    "novecientos": 900, "primero": 1,
}  # fmt: skip


def parse_spanish_number(words):
    total, current = 0, 0
    for word in words:
        if word == "y":
            continue
        if word == "mil":
            total += (current or 1) * 1000
            current = 0
        else:
            current += _VALUES[word]
    return total + current


MONTHS = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()
WEEKDAYS = "lunes martes miércoles jueves viernes sábado domingo".split()


def parse_spanish_date(text):
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return datetime.date(year, month, day), None
    words = text.split()
    weekday = None
    if words[0] == "el":
        words = words[1:]
    if words[0] in WEEKDAYS:
        weekday, words = words[0], words[1:]
    first, second = words.index("de"), len(words) - 1 - words[::-1].index("de")
    day_words, month, year_words = words[:first], words[first + 1], words[second + 1 :]
    day = int(day_words[0]) if day_words[0].isdigit() else parse_spanish_number(day_words)
    year = int(year_words[0]) if year_words[0].isdigit() else parse_spanish_number(year_words)
    return datetime.date(year, MONTHS.index(month) + 1, day), weekday


# ------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    "n,words",
    [
        (0, "cero"), (15, "quince"), (16, "dieciséis"), (21, "veintiuno"), (30, "treinta"),
        (31, "treinta y uno"), (100, "cien"), (101, "ciento uno"), (500, "quinientos"),
        (999, "novecientos noventa y nueve"), (1000, "mil"), (1001, "mil uno"),
        (2000, "dos mil"), (21000, "veintiún mil"), (31000, "treinta y un mil"),
        (100000, "cien mil"), (101000, "ciento un mil"), (342817, "trescientos cuarenta y dos mil ochocientos diecisiete"),
        (999999, "novecientos noventa y nueve mil novecientos noventa y nueve"),
    ],
)  # fmt: skip
def test_spanish_number_table(n, words):
    assert spanish_number(n) == words


def test_spanish_number_round_trips_through_an_independent_parser():
    rng = np.random.default_rng(0)
    for n in list(range(0, 1200)) + rng.integers(0, 1_000_000, 3000).tolist():
        assert parse_spanish_number(spanish_number(n).split()) == n, n


def test_spanish_number_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"spanish_number: n must be an int in \[0, 999999\], received 1000000"):
        spanish_number(1_000_000)


# -------------------------------------------------------------------- corpus
def test_pairs_are_deterministic_and_seeded():
    a = spanish_english_pairs("train", 60, seed=3)
    assert a == spanish_english_pairs("train", 60, seed=3)
    assert a != spanish_english_pairs("train", 60, seed=4)
    # Example i does not depend on how many others are generated.
    assert spanish_english_pairs("train", 10, seed=3, start=50) == a[50:60]


def test_splits_are_disjoint_by_source():
    sources = {s: {p[0] for p in spanish_english_pairs(s, 1500)} for s in ("train", "validation", "test")}
    assert not sources["train"] & sources["test"]
    assert not sources["train"] & sources["validation"]
    assert not sources["validation"] & sources["test"]


def test_held_out_sources_use_only_words_seen_in_training():
    train_words = {w for s, _ in spanish_english_pairs("train", 6000) for w in tokenize(s)}
    for split in ("validation", "test"):
        pairs = spanish_english_pairs(split, 1500)
        assert all(len(tokenize(s)) > 2 for s, _ in pairs)
        unseen = {w for s, _ in pairs for w in tokenize(s)} - train_words
        assert not unseen, f"{split} uses words never seen in training: {sorted(unseen)}"


def test_numbers_and_dates_are_translated_correctly():
    for source, target in spanish_english_pairs("test", 600, kinds=("numbers",)):
        assert parse_spanish_number(source.split()) == int(target)
        assert target == str(int(target))
    styles = set()
    for source, target in spanish_english_pairs("test", 900, kinds=("dates",)):
        date, weekday = parse_spanish_date(source)
        assert target == date.isoformat()
        if weekday is not None:
            assert weekday == WEEKDAYS[date.weekday()], source
        styles.add("slash" if "/" in source else ("digits" if source.split()[-1].isdigit() else "words"))
    assert styles == {"slash", "digits", "words"}


def test_sentences_follow_english_grammar():
    pairs = spanish_english_pairs("test", 1500, kinds=("sentences",))
    for source, target in pairs:
        words = target.split()
        for a, b in zip(words, words[1:]):
            assert not (a == "a" and b[0] in "aeiou"), target
            assert not (a == "an" and b[0] not in "aeiou"), target
        assert "no" not in words
        if " no " in f" {source} ":
            assert "not" in words, (source, target)
    # The grammar reorders (adjective before the noun in English) and agrees in number.
    reordered = [
        (s, t) for s, t in pairs if re.search(r"\w (negro|negra|negros|negras)\b", s) and re.search(r"\bblack \w", t)
    ]
    assert reordered
    assert any(s.startswith("mis ") and " son " in f" {s} " and " are " in f" {t} " for s, t in pairs)


def test_vocabulary_covers_the_corpus_and_lengths_fit():
    source_vocab, target_vocab = translation_vocabulary()
    assert target_vocab[:2] == ["[start]", "[end]"]
    for split in ("train", "test"):
        for source, target in spanish_english_pairs(split, 3000):
            assert set(tokenize(source)) <= set(source_vocab), source
            assert set(tokenize(target)) <= set(target_vocab), target
            assert len(tokenize(source)) <= 14 and len(tokenize(target)) <= 13


# --------------------------------------------------------------- text handling
def test_tf_standardize_equals_python_tokenize_and_detokenize_round_trips():
    pairs = spanish_english_pairs("validation", 1200) + [("¡El 12/05/2021, Mi GATO Árbol!", "x")]
    texts = [t for p in pairs for t in p]
    standardized = [s.decode("utf-8").split() for s in standardize(tf.constant(texts)).numpy()]
    assert standardized == [tokenize(t) for t in texts]
    assert tokenize("¡El 12/05/2021, Mi GATO Árbol!") == "el 1 2 / 0 5 / 2 0 2 1 mi gato árbol".split()
    references = [p[1] for p in pairs[:-1]]
    assert [detokenize(tokenize(r)) for r in references] == references
    width = max(len(tokenize(r)) for r in references)
    padded = [tokenize(r) + [""] * (width - len(tokenize(r))) for r in references]
    assert [s.decode() for s in detokenize_tf(tf.constant(padded)).numpy()] == references


def test_encode_pairs_layout_for_teacher_forcing():
    inputs, labels, pairs = spanish_english_arrays("test", 50)
    assert inputs.shape == (50, 2, 14) and labels.shape == (50, 14) and inputs.dtype == np.int32
    _, target_vocab = translation_vocabulary()
    words = ["", "[UNK]"] + target_vocab
    for (source, target), x, y in zip(pairs, inputs, labels):
        n = len(tokenize(target))
        assert x[1, 0] == START_ID and y[n] == END_ID and np.all(y[n + 1 :] == PAD_ID)
        np.testing.assert_array_equal(x[1, 1 : n + 1], y[:n])
        assert [words[i] for i in y[:n]] == tokenize(target)
        assert np.count_nonzero(x[0]) == len(tokenize(source))
    assert 1 not in inputs and 1 not in labels  # no [UNK] in the embedded corpus


def test_encode_pairs_warns_when_it_truncates():
    source_vocab, target_vocab = translation_vocabulary()
    pairs = [("uno dos tres cuatro cinco", "1 2 3"), ("uno", "1")]
    with pytest.warns(UserWarning, match="1 of 2 pairs exceed max_length=4"):
        inputs, labels = encode_pairs(pairs, text_vectorizer(source_vocab), text_vectorizer(target_vocab), 4)
    assert np.count_nonzero(inputs[0, 0]) == 4 and labels[0, 3] == END_ID


def test_dataset_yields_training_examples():
    ds = spanish_english("validation", 8)
    x, y = next(iter(ds.batch(8)))
    assert x.shape == (8, 2, 14) and y.shape == (8, 14)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: spanish_english_pairs("dev", 3), "spanish_english_pairs: split must be one of 'train', 'validation', 'test', received 'dev'"),
        (lambda: spanish_english_pairs("train", 3, kinds=("poems",)), r"spanish_english_pairs: kinds must be a non-empty subset of 'numbers', 'dates', 'sentences', received \('poems',\)"),
        (lambda: spanish_english_pairs("train", -1), "spanish_english_pairs: num_examples must be an int >= 0, received -1"),
        (lambda: ted_hrlr_translate(language_pair="portuguese"), "ted_hrlr_translate: language_pair must be a ted_hrlr_translate config such as 'pt_to_en', received 'portuguese'"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------- tfds
def test_ted_hrlr_translate_pipeline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        raw = ted_hrlr_translate("train")
        examples = list(raw.as_numpy_iterator())
        assert len(examples) == 6 and all(isinstance(s, bytes) and isinstance(t, bytes) for s, t in examples)
        source = keras_vectorizer([s for s, _ in examples])
        target = keras_vectorizer([t for _, t in examples], extra=["[start]", "[end]"])
        batches = list(translation_pipeline(raw, source, target, max_length=12, batch_size=4, drop_long=False))
    inputs = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert inputs.shape == (6, 2, 12) and labels.shape == (6, 12)
    assert np.all(inputs[:, 1, 0] == START_ID)
    for x, y in zip(inputs, labels):
        n = int(np.count_nonzero(y)) - 1
        assert y[n] == END_ID
        np.testing.assert_array_equal(x[1, 1 : n + 1], y[:n])


def keras_vectorizer(texts, extra=()):
    tokens = sorted({w for t in texts for w in tokenize(t.decode("utf-8"))})
    return text_vectorizer(list(extra) + [t for t in tokens if t not in extra])
