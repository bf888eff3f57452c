"""Embedded Spanish -> English translation data and text handling; the TED talks corpus via tfds.

The embedded corpus is generated on the fly (no download), deterministic by
seed, from three grammars whose translations are unambiguous:

- **numbers** written out in Spanish -> digits: ``"trescientos cuarenta y dos
  mil uno"`` -> ``"342001"`` (0 to 999 999);
- **dates** in Spanish (words, digits or ``dd/mm/yyyy``, with or without the
  weekday) -> ISO 8601: ``"el doce de mayo de dos mil veintiuno"`` ->
  ``"2021-05-12"`` (years 1900-2099; day, month and year reorder);
- **sentences** in the style of the lecture's example: ``"mi gato es el
  mejor"`` -> ``"my cat is the best"``: determiners, numerals, nouns with
  gender and number, adjectives (after the noun in Spanish, before it in
  English), ser/estar/tener/querer/ver/comer in six persons with optional
  pronoun drop, negation (``"no tiene"`` -> ``"does not have"``), places and
  time adverbs.

Every example comes from its own random stream ``(seed, split, index)``. The
splits are disjoint by source sentence: a sentence belongs to ``train``,
``validation`` or ``test`` according to a CRC32 of its text (80/10/10), so
held-out numbers, dates and sentences were never seen in training. Sources of
one or two words (``"cero"``, ``"veintiuno"``) always train: there are only a
few of them, and a held-out ``"cero"`` would be a word never seen in training.

Text handling: :func:`standardize` (lower-case, drop sentence punctuation,
one token per digit and per symbol such as ``-`` or ``/``) is the
``standardize`` callable of the ``keras.layers.TextVectorization`` layers made
by :func:`text_vectorizer`; :func:`detokenize` joins tokens back (digits and
``-``/``/`` without spaces), so ``detokenize(tokenize(english)) == english``
for every reference of the corpus.

Token ids: 0 padding, 1 ``[UNK]`` (any word outside the vocabulary), then the
vocabulary; the target vocabulary starts with ``[start]`` (2) and ``[end]`` (3).
"""

from __future__ import annotations

import datetime
import re
import warnings
import zlib

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.validation import check_choice, check_int, message

__all__ = [
    "KINDS",
    "SPLITS",
    "PAD_ID",
    "UNK_ID",
    "START_ID",
    "END_ID",
    "START_TOKEN",
    "END_TOKEN",
    "DEFAULT_MAX_LENGTH",
    "standardize",
    "tokenize",
    "detokenize",
    "spanish_number",
    "spanish_english_pairs",
    "kind_of",
    "is_monotone",
    "translation_vocabulary",
    "text_vectorizer",
    "encode_pairs",
    "spanish_english_arrays",
    "spanish_english",
    "ted_hrlr_translate",
    "translation_pipeline",
]

KINDS = ("numbers", "dates", "sentences")
SPLITS = {"train": 0, "validation": 1, "test": 2}
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
START_TOKEN, END_TOKEN = "[start]", "[end]"
#: Token budget of the tiny model: every embedded source fits, and every target plus ``[end]``.
DEFAULT_MAX_LENGTH = 14

# ----------------------------------------------------------------- tokenizing
_PUNCTUATION = "[.,;:!?¿¡\"'«»()]"


@keras.saving.register_keras_serializable(package="keras_segattn")
def standardize(text):
    """TextVectorization ``standardize``: lower-case (UTF-8), drop punctuation, split symbols and digits.

    Example:
        >>> from keras_segattn.data.translation import standardize
        >>> standardize(["¡El 12/05/2021, Mi GATO!"]).numpy()[0].decode()
        'el 1 2 / 0 5 / 2 0 2 1 mi gato'
    """
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _PUNCTUATION, " ")
    text = tf.strings.regex_replace(text, r"([^\pL\s])", r" \1 ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)


_PY_PUNCTUATION = re.compile(_PUNCTUATION)
_PY_SYMBOL = re.compile(r"([^\w\s]|[\d_])")


def tokenize(text: str) -> list[str]:
    """Python twin of :func:`standardize` + whitespace split (tested equal on the corpus)."""
    text = _PY_PUNCTUATION.sub(" ", text.lower())
    return _PY_SYMBOL.sub(r" \1 ", text).split()


_GLUE = re.compile(r"^[0-9/-]$")


def detokenize(tokens) -> str:
    """Join tokens with spaces, except between digits, ``-`` and ``/`` (``"2 0 2 1 - 0 5"`` -> ``"2021-05"``)."""
    out = []
    previous_glue = False
    for token in tokens:
        glue = bool(_GLUE.match(token))
        if out and not (glue and previous_glue):
            out.append(" ")
        out.append(token)
        previous_glue = glue
    return "".join(out)


def detokenize_tf(tokens):
    """:func:`detokenize` for a batch of token strings ``(batch, steps)``; ``""`` = no token."""
    tokens = tf.convert_to_tensor(tokens, tf.string)
    valid = tf.not_equal(tokens, "")
    glue = tf.strings.regex_full_match(tokens, r"[0-9/-]")
    previous = tf.pad(glue[:, :-1], [[0, 0], [1, 0]])
    first = tf.pad(tf.zeros_like(valid[:, 1:]), [[0, 0], [1, 0]], constant_values=True)
    separator = tf.where(first | (glue & previous), "", " ")
    pieces = tf.where(valid, tf.strings.join([separator, tokens]), "")
    return tf.strings.reduce_join(pieces, axis=-1)


# -------------------------------------------------------------------- numbers
_UNITS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
_TEENS = ["diez", "once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve"]
_TWENTIES = [
    "veinte", "veintiuno", "veintidós", "veintitrés", "veinticuatro",
    "veinticinco", "veintiséis", "veintisiete", "veintiocho", "veintinueve",
]  # fmt: skip
_TENS = {3: "treinta", 4: "cuarenta", 5: "cincuenta", 6: "sesenta", 7: "setenta", 8: "ochenta", 9: "noventa"}
_HUNDREDS = {
    2: "doscientos", 3: "trescientos", 4: "cuatrocientos", 5: "quinientos",
    6: "seiscientos", 7: "setecientos", 8: "ochocientos", 9: "novecientos",
}  # fmt: skip


def _below_100(n):
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 30:
        return _TWENTIES[n - 20]
    tens, units = divmod(n, 10)
    return _TENS[tens] + ("" if units == 0 else " y " + _UNITS[units])


def _below_1000(n):
    if n < 100:
        return _below_100(n)
    hundreds, rest = divmod(n, 100)
    head = ("cien" if rest == 0 else "ciento") if hundreds == 1 else _HUNDREDS[hundreds]
    return head if rest == 0 else f"{head} {_below_100(rest)}"


def _apocope(words):
    # Before "mil": uno -> un, veintiuno -> veintiún ("veintiún mil", "treinta y un mil").
    if words.endswith("veintiuno"):
        return words[: -len("veintiuno")] + "veintiún"
    if words.endswith("uno"):
        return words[: -len("uno")] + "un"
    return words


def spanish_number(n: int) -> str:
    """Spanish words for ``0 <= n < 1_000_000``.

    Example:
        >>> from keras_segattn.data.translation import spanish_number
        >>> spanish_number(21_342), spanish_number(100), spanish_number(1_999)
        ('veintiún mil trescientos cuarenta y dos', 'cien', 'mil novecientos noventa y nueve')
    """
    n = check_int("spanish_number", "n", n, minimum=0, maximum=999_999)
    if n < 1000:
        return _below_1000(n)
    thousands, rest = divmod(n, 1000)
    head = "mil" if thousands == 1 else _apocope(_below_1000(thousands)) + " mil"
    return head if rest == 0 else f"{head} {_below_1000(rest)}"


def _number_pair(rng):
    digits = int(rng.integers(1, 7))
    low = 0 if digits == 1 else 10 ** (digits - 1)
    n = int(rng.integers(low, 10**digits))
    return spanish_number(n), str(n)


# ---------------------------------------------------------------------- dates
_MONTHS = [
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
    "agosto", "septiembre", "octubre", "noviembre", "diciembre",
]  # fmt: skip
_WEEKDAYS = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]


def _date_pair(rng):
    start = datetime.date(1900, 1, 1).toordinal()
    end = datetime.date(2099, 12, 31).toordinal()
    date = datetime.date.fromordinal(int(rng.integers(start, end + 1)))
    style = int(rng.integers(3))
    if style == 0:  # words
        day = "primero" if date.day == 1 and rng.random() < 0.5 else spanish_number(date.day)
        text = f"{day} de {_MONTHS[date.month - 1]} de {spanish_number(date.year)}"
    elif style == 1:  # digits and month name
        text = f"{date.day} de {_MONTHS[date.month - 1]} de {date.year}"
    else:  # dd/mm/yyyy, zero padding optional
        pad = rng.random() < 0.5
        text = f"{date.day:02d}/{date.month:02d}/{date.year}" if pad else f"{date.day}/{date.month}/{date.year}"
    if style < 2:
        prefix = rng.random()
        if prefix < 0.35:
            text = f"el {_WEEKDAYS[date.weekday()]} {text}"
        elif prefix < 0.7:
            text = f"el {text}"
    return text, date.isoformat()


# ------------------------------------------------------------------ sentences
# (singular, plural, gender, English singular, English plural)
_NOUNS = [
    ("gato", "gatos", "m", "cat", "cats"), ("gata", "gatas", "f", "cat", "cats"),
    ("perro", "perros", "m", "dog", "dogs"), ("casa", "casas", "f", "house", "houses"),
    ("coche", "coches", "m", "car", "cars"), ("libro", "libros", "m", "book", "books"),
    ("ciudad", "ciudades", "f", "city", "cities"), ("hermano", "hermanos", "m", "brother", "brothers"),
    ("hermana", "hermanas", "f", "sister", "sisters"), ("amigo", "amigos", "m", "friend", "friends"),
    ("amiga", "amigas", "f", "friend", "friends"), ("mesa", "mesas", "f", "table", "tables"),
    ("flor", "flores", "f", "flower", "flowers"), ("árbol", "árboles", "m", "tree", "trees"),
    ("caballo", "caballos", "m", "horse", "horses"), ("pájaro", "pájaros", "m", "bird", "birds"),
    ("profesor", "profesores", "m", "teacher", "teachers"), ("profesora", "profesoras", "f", "teacher", "teachers"),
    ("niño", "niños", "m", "boy", "boys"), ("niña", "niñas", "f", "girl", "girls"),
    ("silla", "sillas", "f", "chair", "chairs"), ("ordenador", "ordenadores", "m", "computer", "computers"),
]  # fmt: skip
# (masc. sing., fem. sing., masc. pl., fem. pl., English)
_ADJECTIVES = [
    ("negro", "negra", "negros", "negras", "black"), ("blanco", "blanca", "blancos", "blancas", "white"),
    ("rojo", "roja", "rojos", "rojas", "red"), ("pequeño", "pequeña", "pequeños", "pequeñas", "small"),
    ("nuevo", "nueva", "nuevos", "nuevas", "new"), ("viejo", "vieja", "viejos", "viejas", "old"),
    ("bonito", "bonita", "bonitos", "bonitas", "pretty"), ("alto", "alta", "altos", "altas", "tall"),
    ("grande", "grande", "grandes", "grandes", "big"), ("verde", "verde", "verdes", "verdes", "green"),
    ("feliz", "feliz", "felices", "felices", "happy"),
]  # fmt: skip
# (m sing, f sing, m pl, f pl, English sing, English pl)
_DETERMINERS = [
    ("mi", "mi", "mis", "mis", "my", "my"), ("tu", "tu", "tus", "tus", "your", "your"),
    ("nuestro", "nuestra", "nuestros", "nuestras", "our", "our"), ("el", "la", "los", "las", "the", "the"),
    ("un", "una", "unos", "unas", "a", "some"), ("este", "esta", "estos", "estas", "this", "these"),
    ("ese", "esa", "esos", "esas", "that", "those"),
]  # fmt: skip
_NUMERALS = [("dos", "two"), ("tres", "three"), ("cuatro", "four"), ("cinco", "five"), ("seis", "six")]
_PLACES = [
    ("la casa", "in the house"), ("el jardín", "in the garden"), ("la cocina", "in the kitchen"),
    ("el parque", "in the park"), ("la ciudad", "in the city"), ("la escuela", "at school"),
    ("la mesa", "on the table"), ("el coche", "in the car"),
]  # fmt: skip
_FOODS = [("pan", "bread"), ("pescado", "fish"), ("queso", "cheese"), ("fruta", "fruit"), ("arroz", "rice")]
_ADVERBS = [("hoy", "today"), ("ahora", "now")]
# person -> (Spanish pronoun choices, English pronoun, plural, droppable)
_PERSONS = [
    (["yo"], "i", False, True), (["tú"], "you", False, True), (["él"], "he", False, False),
    (["ella"], "she", False, False), (["nosotros", "nosotras"], "we", True, True),
    (["ellos", "ellas"], "they", True, False),
]  # fmt: skip
# verb -> (six Spanish forms by person, English base form, English third-person singular)
_VERBS = {
    "ser": (["soy", "eres", "es", "es", "somos", "son"], "be", "is"),
    "estar": (["estoy", "estás", "está", "está", "estamos", "están"], "be", "is"),
    "tener": (["tengo", "tienes", "tiene", "tiene", "tenemos", "tienen"], "have", "has"),
    "querer": (["quiero", "quieres", "quiere", "quiere", "queremos", "quieren"], "want", "wants"),
    "ver": (["veo", "ves", "ve", "ve", "vemos", "ven"], "see", "sees"),
    "comer": (["como", "comes", "come", "come", "comemos", "comen"], "eat", "eats"),
}
_THIRD_SINGULAR, _THIRD_PLURAL = 2, 5


def _a_or_an(words):
    """English indefinite article: ``a`` -> ``an`` before a vowel sound (our lexicon: a vowel letter)."""
    out = list(words)
    for i in range(len(out) - 1):
        if out[i] == "a" and out[i + 1][0] in "aeiou":
            out[i] = "an"
    return out


def _noun_phrase(rng, allow_numeral=True):
    """A Spanish/English noun phrase; returns (es words, en words, gender, plural)."""
    s_sing, s_plur, gender, e_sing, e_plur = _NOUNS[rng.integers(len(_NOUNS))]
    plural = rng.random() < 0.35
    det = _DETERMINERS[rng.integers(len(_DETERMINERS))]
    slot = (0 if gender == "m" else 1) + (2 if plural else 0)
    es, en = [det[slot]], [det[5 if plural else 4]]
    if plural and allow_numeral and det[4] not in ("a",) and rng.random() < 0.3:
        numeral = _NUMERALS[rng.integers(len(_NUMERALS))]
        es.append(numeral[0])
        en.append(numeral[1])
    es.append(s_plur if plural else s_sing)
    noun_en = e_plur if plural else e_sing
    if rng.random() < 0.35:
        adjective = _ADJECTIVES[rng.integers(len(_ADJECTIVES))]
        es.append(adjective[slot])
        en.append(adjective[4])
    en.append(noun_en)
    return es, en, gender, plural


def _english_verb(verb, person, negated):
    """English verb group for a person index 0-5 (0 i, 1 you, 2 he, 3 she, 4 we, 5 they)."""
    base, third = _VERBS[verb][1], _VERBS[verb][2]
    if verb in ("ser", "estar"):
        form = {0: "am", 2: "is", 3: "is"}.get(person, "are")
        return [form, "not"] if negated else [form]
    third_person = person in (2, 3)
    if negated:
        return ["does" if third_person else "do", "not", base]
    return [third if third_person else base]


def _predicate(rng, verb, gender, plural):
    """(es words, en words) after the verb."""
    slot = (0 if gender == "m" else 1) + (2 if plural else 0)
    if verb == "ser":
        if rng.random() < 0.4:
            best = rng.random() < 0.75
            article = ["el", "la", "los", "las"][slot]
            word = ("mejor" if best else "peor") + ("es" if plural else "")
            return [article, word], ["the", "best" if best else "worst"]
        adjective = _ADJECTIVES[rng.integers(len(_ADJECTIVES))]
        very = rng.random() < 0.3
        return (["muy"] if very else []) + [adjective[slot]], (["very"] if very else []) + [adjective[4]]
    if verb == "estar":
        place = _PLACES[rng.integers(len(_PLACES))]
        return ["en", *place[0].split()], place[1].split()
    if verb == "comer":
        food = _FOODS[rng.integers(len(_FOODS))]
        return [food[0]], [food[1]]
    es, en, _, _ = _noun_phrase(rng)
    return es, en


def _sentence_pair(rng):
    verb = list(_VERBS)[rng.integers(len(_VERBS))]
    if rng.random() < 0.3:  # pronoun subject
        person = int(rng.integers(len(_PERSONS)))
        pronouns, en_subject, plural, droppable = _PERSONS[person]
        es_subject = [pronouns[rng.integers(len(pronouns))]]
        gender = "f" if es_subject[0] in ("ella", "nosotras", "ellas") else ("f" if rng.random() < 0.5 and person < 2 else "m")
        if droppable and rng.random() < 0.4:
            es_subject = []
        en_subject = [en_subject]
    else:
        es_subject, en_subject, gender, plural = _noun_phrase(rng, allow_numeral=True)
        person = _THIRD_PLURAL if plural else _THIRD_SINGULAR
    negated = rng.random() < 0.2
    es = es_subject + (["no"] if negated else []) + [_VERBS[verb][0][person]]
    en = en_subject + _english_verb(verb, person, negated)
    p_es, p_en = _predicate(rng, verb, gender, plural)
    es += p_es
    en += p_en
    if rng.random() < 0.25:
        adverb = _ADVERBS[rng.integers(len(_ADVERBS))]
        es.append(adverb[0])
        en.append(adverb[1])
    return " ".join(es), " ".join(_a_or_an(en))


_GENERATORS = {"numbers": _number_pair, "dates": _date_pair, "sentences": _sentence_pair}
_ADJECTIVE_FORMS = {form for adjective in _ADJECTIVES for form in adjective[:4]}
_PREDICATIVE = set(_VERBS["ser"][0]) | {"muy"}


def kind_of(source: str, target: str) -> str:
    """``"numbers"``, ``"dates"`` or ``"sentences"`` for a pair of the embedded corpus."""
    if re.fullmatch(r"[0-9]+", target):
        return "numbers"
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", target):
        return "dates"
    return "sentences"


def is_monotone(source: str, target: str) -> bool:
    """Whether the pair keeps the word order (each output word's source word never moves left).

    Numbers are monotone (``"trescientos cuarenta y dos"`` -> ``"342"``);
    ISO dates are not (the year moves to the front); sentences are unless an
    adjective follows its noun (``"gato negro"`` -> ``"black cat"``) or a verb
    is negated (``"no tiene"`` -> ``"does not have"``).
    """
    kind = kind_of(source, target)
    if kind != "sentences":
        return kind == "numbers"
    words = tokenize(source)
    if "no" in words:
        return False
    return all(
        word not in _ADJECTIVE_FORMS or (i > 0 and words[i - 1] in _PREDICATIVE) for i, word in enumerate(words)
    )


# --------------------------------------------------------------------- splits
def _split_of(source: str) -> str:
    # One- and two-word sources ("cero", "veintiuno", "mil uno") are a handful of strings with
    # a large share of the number distribution; held out they would be mostly a word never
    # seen in training ("cero" occurs nowhere else), so they always train.
    if len(tokenize(source)) <= 2:
        return "train"
    bucket = zlib.crc32(source.encode("utf-8")) % 10
    return "train" if bucket < 8 else ("validation" if bucket == 8 else "test")


def _check_kinds(kinds):
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        expected = f"a non-empty subset of {', '.join(repr(k) for k in KINDS)}"
        raise ValueError(message("spanish_english_pairs", "kinds", expected, kinds))
    return kinds


def spanish_english_pairs(
    split: str = "train",
    num_examples: int = 1000,
    *,
    seed: int = 0,
    kinds=KINDS,
    max_length: int | None = DEFAULT_MAX_LENGTH,
    start: int = 0,
) -> list[tuple[str, str]]:
    """``num_examples`` (Spanish, English) pairs of ``split``, deterministic by ``seed``.

    Example ``i`` is drawn from ``np.random.default_rng([seed, split, start + i])``
    (kinds in turn, redrawing until the source belongs to ``split`` and, with
    ``max_length``, until the source has at most ``max_length`` tokens and the
    target at most ``max_length - 1``, leaving room for ``[end]``).

    Example:
        >>> from keras_segattn.data import spanish_english_pairs
        >>> len(spanish_english_pairs("test", 3)), spanish_english_pairs("test", 3) == spanish_english_pairs("test", 3)
        (3, True)
    """
    check_choice("spanish_english_pairs", "split", split, SPLITS)
    kinds = _check_kinds(kinds)
    num_examples = check_int("spanish_english_pairs", "num_examples", num_examples, minimum=0)
    pairs = []
    check_int("spanish_english_pairs", "seed", seed, minimum=0)
    check_int("spanish_english_pairs", "start", start, minimum=0)
    if max_length is not None:
        # The shortest examples have one source and one target token (+ [end]).
        check_int("spanish_english_pairs", "max_length", max_length, minimum=2)
    for i in range(num_examples):
        index = start + i
        rng = np.random.default_rng([seed, SPLITS[split], index])
        kind = kinds[index % len(kinds)]
        for _ in range(1000):
            source, target = _GENERATORS[kind](rng)
            if _split_of(source) != split:
                continue
            if max_length is not None and (
                len(tokenize(source)) > max_length or len(tokenize(target)) > max_length - 1
            ):
                continue
            break
        else:  # pragma: no cover - max_length far too small
            raise ValueError(f"no {kind} example of at most max_length={max_length} tokens was found.")
        pairs.append((source, target))
    return pairs


def _lexicon_sources_and_targets():
    """Every word the generators can emit (for the vocabulary)."""
    es, en = set(), set()
    es.update(_UNITS + _TEENS + _TWENTIES + list(_TENS.values()) + list(_HUNDREDS.values()))
    es.update(["y", "cien", "ciento", "mil", "un", "veintiún", "primero", "de", "el"])
    es.update(_MONTHS + _WEEKDAYS)
    en.update("0123456789-")
    es.update("0123456789/")
    for noun in _NOUNS:
        es.update(noun[:2])
        en.update(noun[3:])
    for adjective in _ADJECTIVES:
        es.update(adjective[:4])
        en.add(adjective[4])
    for det in _DETERMINERS:
        es.update(det[:4])
        en.update(det[4:])
    en.add("an")
    for pair in _NUMERALS + _FOODS + _ADVERBS:
        es.add(pair[0])
        en.add(pair[1])
    for place in _PLACES:
        es.update(place[0].split())
        en.update(place[1].split())
    for pronouns, english, _, _ in _PERSONS:
        es.update(pronouns)
        en.add(english)
    for forms, base, third in _VERBS.values():
        es.update(forms)
        en.update([base, third])
    es.update(["no", "en", "muy", "el", "la", "los", "las", "mejor", "peor", "mejores", "peores"])
    en.update(["am", "is", "are", "not", "do", "does", "the", "best", "worst", "very"])
    return es, en


def translation_vocabulary() -> tuple[list[str], list[str]]:
    """``(source tokens, target tokens)`` of the embedded corpus, sorted; the target starts with ``[start]``, ``[end]``.

    Neither list holds the padding ``""`` or ``[UNK]`` (``TextVectorization``
    adds them as ids 0 and 1).
    """
    es, en = _lexicon_sources_and_targets()
    source = sorted({t for word in es for t in tokenize(word)})
    target = [START_TOKEN, END_TOKEN] + sorted({t for word in en for t in tokenize(word)})
    return source, target


# ------------------------------------------------------------------ encoding
def text_vectorizer(vocabulary, max_length: int | None = None, name: str | None = None):
    """A ``keras.layers.TextVectorization`` with :func:`standardize`, whitespace split and ``vocabulary``.

    With ``max_length`` the output is padded/truncated to that many ids.
    """
    from keras_segattn.validation import check_optional_int

    check_optional_int("text_vectorizer", "max_length", max_length, minimum=1)
    if isinstance(vocabulary, (str, bytes)) or not hasattr(vocabulary, "__iter__"):
        raise ValueError(message("text_vectorizer", "vocabulary", "a non-empty list of tokens", vocabulary))
    vocabulary = list(vocabulary)
    if not vocabulary:
        raise ValueError(message("text_vectorizer", "vocabulary", "a non-empty list of tokens", vocabulary))
    return keras.layers.TextVectorization(
        standardize=standardize,
        split="whitespace",
        output_mode="int",
        output_sequence_length=max_length,
        vocabulary=list(vocabulary),
        name=name,
    )


def encode_pairs(pairs, source_vectorizer, target_vectorizer, max_length: int, *, warn: bool = True):
    """``(inputs (N, 2, L) int32, labels (N, L) int32)`` for teacher forcing.

    ``inputs[:, 0]`` are the source ids, ``inputs[:, 1]`` the decoder inputs
    ``[start] y_1 ... y_n``, ``labels`` the targets ``y_1 ... y_n [end]``
    (0-padded to ``L = max_length``). Longer sources or targets are truncated
    with a warning (never silently).
    """
    sources = [p[0] for p in pairs]
    targets = [p[1] for p in pairs]
    src = source_vectorizer(tf.constant(sources, tf.string))
    tgt = target_vectorizer(tf.constant(targets, tf.string))
    src = src.to_tensor() if isinstance(src, tf.RaggedTensor) else src
    tgt = tgt.to_tensor() if isinstance(tgt, tf.RaggedTensor) else tgt
    src, tgt = np.asarray(src, np.int32), np.asarray(tgt, np.int32)
    count = len(pairs)
    inputs = np.zeros((count, 2, max_length), np.int32)
    labels = np.zeros((count, max_length), np.int32)
    too_long = 0
    for i in range(count):
        s = src[i][src[i] != PAD_ID]
        t = tgt[i][tgt[i] != PAD_ID]
        if len(s) > max_length or len(t) + 1 > max_length:
            too_long += 1
        s, t = s[:max_length], t[: max_length - 1]
        inputs[i, 0, : len(s)] = s
        inputs[i, 1, 0] = START_ID
        inputs[i, 1, 1 : len(t) + 1] = t
        labels[i, : len(t)] = t
        labels[i, len(t)] = END_ID
    if too_long and warn:
        warnings.warn(
            f"encode_pairs: {too_long} of {count} pairs exceed max_length={max_length} tokens "
            "(source, or target + [end]) and were truncated.",
            stacklevel=2,
        )
    return inputs, labels


def spanish_english_arrays(
    split: str = "train",
    num_examples: int = 1000,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    seed: int = 0,
    kinds=KINDS,
    start: int = 0,
):
    """``(inputs (N, 2, L), labels (N, L), pairs)`` of the embedded corpus, ready for ``model.fit``.

    Example:
        >>> from keras_segattn.data import spanish_english_arrays
        >>> inputs, labels, pairs = spanish_english_arrays("test", 4)
        >>> inputs.shape, labels.shape, len(pairs)
        ((4, 2, 14), (4, 14), 4)
    """
    check_int("spanish_english_arrays", "max_length", max_length, minimum=2)  # the arrays' width: not None
    pairs = spanish_english_pairs(split, num_examples, seed=seed, kinds=kinds, max_length=max_length, start=start)
    source_vocab, target_vocab = translation_vocabulary()
    inputs, labels = encode_pairs(
        pairs, text_vectorizer(source_vocab), text_vectorizer(target_vocab), max_length
    )
    return inputs, labels, pairs


def spanish_english(
    split: str = "train",
    num_examples: int = 1000,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    seed: int = 0,
    kinds=KINDS,
) -> tf.data.Dataset:
    """Unbatched ``(inputs (2, L), labels (L,))`` examples of the embedded corpus as a ``tf.data.Dataset``."""
    inputs, labels, _ = spanish_english_arrays(split, num_examples, max_length=max_length, seed=seed, kinds=kinds)
    return tf.data.Dataset.from_tensor_slices((inputs, labels))


# ------------------------------------------------------------- tfds (TED talks)
# The configs of tensorflow_datasets' ted_hrlr_translate.
TED_LANGUAGE_PAIRS = ("az_to_en", "aztr_to_en", "be_to_en", "beru_to_en", "es_to_pt", "fr_to_pt", "gl_to_en",
                      "glpt_to_en", "he_to_pt", "it_to_pt", "pt_to_en", "ru_to_en", "ru_to_pt", "tr_to_en")


def ted_hrlr_translate(
    split: str = "train",
    *,
    language_pair: str = "pt_to_en",
    data_dir: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """``(source, target)`` string pairs of TED talk transcripts (Qi et al., NAACL 2018) via tensorflow_datasets.

    ``language_pair`` is a ``ted_hrlr_translate`` config such as ``"pt_to_en"``
    (51 785 training pairs) or ``"es_to_pt"``. Needs the prepared dataset in
    ``data_dir`` (``download=True`` fetches it where a network exists); tested
    offline with ``tfds.testing.mock_data``. Feed the result to
    :func:`translation_pipeline` with vectorizers adapted on its training split.
    """
    import tensorflow_datasets as tfds

    if language_pair not in TED_LANGUAGE_PAIRS:
        expected = "a ted_hrlr_translate config such as 'pt_to_en'"
        raise ValueError(f"{message('ted_hrlr_translate', 'language_pair', expected, language_pair)} "
                         f"The configs: {', '.join(TED_LANGUAGE_PAIRS)}.")
    if not (isinstance(split, str) and split.split("[")[0] in ("train", "validation", "test")):
        raise ValueError(message("ted_hrlr_translate", "split", "'train', 'validation' or 'test' (tfds slicing "
                                 "such as 'train[:10%]' works)", split))
    from keras_segattn.validation import check_bool

    check_bool("ted_hrlr_translate", "download", download)
    return tfds.load(
        f"ted_hrlr_translate/{language_pair}",
        split=split,
        data_dir=data_dir,
        download=download,
        as_supervised=True,
    )


def translation_pipeline(
    dataset: tf.data.Dataset,
    source_vectorizer,
    target_vectorizer,
    *,
    max_length: int,
    batch_size: int = 64,
    drop_long: bool = True,
) -> tf.data.Dataset:
    """Batched ``(inputs (B, 2, L), labels (B, L))`` from ``(source, target)`` strings.

    Pairs whose source exceeds ``max_length`` tokens or whose target exceeds
    ``max_length - 1`` are dropped (``drop_long=True``, the usual NMT practice;
    RNNsearch-50 trained on sentences of up to 50 words) or truncated.
    """
    from keras_segattn.validation import check_bool, check_positive_int

    where = "translation_pipeline"
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(message(where, "dataset", "a tf.data.Dataset of (source, target) strings", dataset))
    for argument, vectorizer in (("source_vectorizer", source_vectorizer), ("target_vectorizer", target_vectorizer)):
        if not isinstance(vectorizer, keras.layers.TextVectorization):
            raise ValueError(message(where, argument, "a keras.layers.TextVectorization (text_vectorizer makes one)",
                                     vectorizer))
    max_length = check_positive_int(where, "max_length", max_length)
    batch_size = check_positive_int(where, "batch_size", batch_size)
    drop_long = check_bool(where, "drop_long", drop_long)

    def encode(source, target):
        src = source_vectorizer(source[None])[0]
        tgt = target_vectorizer(target[None])[0]
        if isinstance(src, tf.RaggedTensor):
            src, tgt = src.flat_values, tgt.flat_values
        src = tf.boolean_mask(src, src != PAD_ID)
        tgt = tf.boolean_mask(tgt, tgt != PAD_ID)
        keep = (tf.size(src) <= max_length) & (tf.size(tgt) <= max_length - 1)
        src, tgt = src[:max_length], tgt[: max_length - 1]
        src = tf.cast(src, tf.int32)
        tgt = tf.cast(tgt, tf.int32)
        decoder_in = tf.concat([[START_ID], tgt], 0)
        labels = tf.concat([tgt, [END_ID]], 0)

        def pad(x):
            return tf.pad(x, [[0, max_length - tf.size(x)]])

        inputs = tf.stack([pad(src), pad(decoder_in)])
        inputs.set_shape([2, max_length])
        labels = pad(labels)
        labels.set_shape([max_length])
        return inputs, labels, keep

    ds = dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    if drop_long:
        ds = ds.filter(lambda inputs, labels, keep: keep)
    ds = ds.map(lambda inputs, labels, keep: (inputs, labels))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
