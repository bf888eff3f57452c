"""Embedded online-handwriting data: texts written with real stroke-font glyphs, varied like a hand.

Generated on the fly, deterministic by seed, no download. The glyphs are the
Hershey *script simplex* font's single-stroke vector glyphs, shipped inside
the ``hershey-fonts`` package (Hershey, "Calligraphy for Computers", 1967).
Every example comes from its own random stream ``(seed, split, index)``.

A text is a random lowercase "word" (letters drawn uniformly, so every letter
is seen equally often) or, with ``max_words > 1``, a short line of them. Each
example is written with its own slant (shear), size, aspect, letter spacing,
baseline drift and per-point jitter, so the strokes of a text are never the
same twice and a model has to learn the letters rather than memorise
samples. Long straight glyph segments are resampled so the pen moves at a
roughly even pace (about :data:`STEP` letter heights per point), as a real
pen digitiser samples it.

Strokes follow Graves (2013, section 4) and IAM-OnDB: ``(N, 3)`` float32 rows
``(dx, dy, end_of_stroke)``: pen offsets from the previous point (the first
row is ``(0, 0, e)``: the first point is the origin), ``y`` up, divided by
:data:`OFFSET_SCALE` (so the offsets have a standard deviation near 1), and
``end_of_stroke = 1`` on the last point of every pen-down stroke.

Text ids: 0 padding, 1 ``[end]`` (written after the text: the window passing
it means the text is written, which is how sampling stops), then
:data:`ALPHABET` from id 2.
"""

from __future__ import annotations

import functools

import numpy as np

from keras_segattn.validation import check_choice, check_int, check_positive_int, message

__all__ = [
    "ALPHABET",
    "PAD_ID",
    "END_ID",
    "OFFSET_SCALE",
    "START_POINT",
    "encode_text",
    "decode_text",
    "font_strokes",
    "write_text",
    "handwriting_arrays",
]

ALPHABET = " abcdefghijklmnopqrstuvwxyz"
PAD_ID, END_ID = 0, 1
#: letter heights per sampled pen point (before the random size)
STEP = 0.1
#: offsets are divided by this so their standard deviation is about 1 (measured on the train split)
OFFSET_SCALE = 0.06
#: the row the model reads before the first point: pen up, no move
START_POINT = (0.0, 0.0, 1.0)
SPLITS = {"train": 0, "validation": 1, "test": 2}
FONT = "scripts"


def vocabulary_size() -> int:
    """Text ids in use: padding, ``[end]`` and the alphabet."""
    return len(ALPHABET) + 2


def encode_text(text: str, max_length: int) -> np.ndarray:
    """``text`` then ``[end]`` as ids, 0-padded to ``max_length`` (characters + 1)."""
    bad = sorted({c for c in text if c not in ALPHABET})
    if bad:
        raise ValueError(
            message("encode_text", "text", f"made of the characters {ALPHABET!r}", f"{text!r} with {bad}")
        )
    if not text.strip():
        raise ValueError(message("encode_text", "text", "a non-empty string", repr(text)))
    if len(text) + 1 > max_length:
        raise ValueError(
            message("encode_text", "text", f"at most {max_length - 1} characters (max_length {max_length} "
                    "includes [end])", f"{len(text)} characters ({text!r})")
        )
    ids = [ALPHABET.index(c) + 2 for c in text] + [END_ID]
    return np.array(ids + [PAD_ID] * (max_length - len(ids)), np.int32)


def decode_text(ids) -> str:
    """The characters of a row of ids (stops at ``[end]``)."""
    out = []
    for i in np.asarray(ids).tolist():
        if i in (PAD_ID, END_ID):
            break
        out.append(ALPHABET[i - 2] if 2 <= i < len(ALPHABET) + 2 else "?")
    return "".join(out)


@functools.cache
def _font():
    from HersheyFonts import HersheyFonts

    font = HersheyFonts()
    font.load_default_font(FONT)
    font.normalize_rendering(1.0)  # the font's full height (ascender to descender) is 1
    return font


@functools.cache
def font_strokes(char: str):
    """The glyph of ``char`` as a list of ``(k, 2)`` polylines, x from 0, and its advance width."""
    if len(char) != 1 or char not in ALPHABET:
        raise ValueError(message("font_strokes", "char", f"one character of {ALPHABET!r}", repr(char)))
    if char == " ":
        return (), 0.35
    lines = [np.asarray(s, np.float64) for s in _font().strokes_for_text(char) if len(s) > 1]
    left = min(line[:, 0].min() for line in lines)
    right = max(line[:, 0].max() for line in lines)
    return tuple(line - [left, 0.0] for line in lines), float(right - left)


def _resample(line: np.ndarray, step: float) -> np.ndarray:
    """Insert points so no segment of ``line`` is longer than ``step``."""
    out = [line[:1]]
    for a, b in zip(line[:-1], line[1:]):
        pieces = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out.append(a + (b - a) * (np.arange(1, pieces + 1)[:, None] / pieces))
    return np.concatenate(out)


def write_text(text: str, rng: np.random.Generator | None = None, *, vary: bool = True) -> np.ndarray:
    """``text`` written with the stroke font as ``(N, 3)`` offsets (see the module doc).

    With ``vary=False`` (or no ``rng``) it is the plain font rendering, which
    the legibility score compares generated handwriting with.
    """
    where = "write_text"
    if not isinstance(text, str) or not text.strip() or any(c not in ALPHABET for c in text):
        raise ValueError(message(where, "text", f"a non-empty string of the characters {ALPHABET!r}", repr(text)))
    vary = vary and rng is not None
    size = rng.uniform(0.85, 1.15) if vary else 1.0
    aspect = rng.uniform(0.85, 1.15) if vary else 1.0
    slant = rng.uniform(-0.35, 0.35) if vary else 0.0
    drift = rng.uniform(-0.04, 0.04) if vary else 0.0
    lines, x = [], 0.0
    for char in text:
        glyph, width = font_strokes(char)
        for line in glyph:
            lines.append(line + [x, 0.0])
        x += width + (rng.uniform(0.02, 0.12) if vary else 0.07)
    points, ends = [], []
    for line in lines:
        line = line.copy()
        line[:, 1] += drift * line[:, 0]
        line[:, 0] = (line[:, 0] + slant * line[:, 1]) * aspect
        line = _resample(line * size, STEP * size)
        if vary:
            line = line + rng.normal(0.0, 0.006, line.shape)
        points.append(line)
        ends.append(np.r_[np.zeros(len(line) - 1), 1.0])
    points, ends = np.concatenate(points), np.concatenate(ends)
    offsets = np.diff(points, axis=0, prepend=points[:1]) / OFFSET_SCALE
    return np.concatenate([offsets, ends[:, None]], axis=1).astype(np.float32)


def _random_text(rng, min_letters, max_letters, max_words):
    words = rng.integers(1, max_words + 1)
    letters = ALPHABET[1:]
    return " ".join(
        "".join(letters[i] for i in rng.integers(0, len(letters), rng.integers(min_letters, max_letters + 1)))
        for _ in range(words)
    )


def handwriting_arrays(split: str = "train", count: int = 256, *, max_letters: int = 4, min_letters: int = 1,
                       max_words: int = 1, max_text_length: int | None = None, max_points: int | None = None,
                       seed: int = 0, start: int = 0) -> dict:
    """NumPy arrays of ``count`` examples of a split.

    Returns a dict:

    - ``text`` int32 ``(N, max_text_length)``: the text's ids then ``[end]``, 0-padded;
    - ``strokes`` float32 ``(N, max_points + 1, 3)``: :data:`START_POINT`,
      then the pen points, then padding rows ``(0, 0, -1)`` (the model
      reads ``strokes[:, :-1]`` and predicts ``strokes[:, 1:]``; the loss
      skips rows whose ``end_of_stroke`` is negative);
    - ``length`` int32 ``(N,)``: pen points of each example;
    - ``texts``: the texts as strings.

    ``max_text_length`` defaults to the longest possible text + 1;
    ``max_points`` to the longest example generated. An example longer than
    ``max_points`` is dropped and another drawn in its place (``dropped``
    counts them), so nothing is cut mid-letter.

    Example:
        >>> from keras_segattn.data.handwriting import handwriting_arrays
        >>> data = handwriting_arrays("test", 2, max_points=160, seed=1)
        >>> data["text"].shape, data["strokes"].shape
        ((2, 5), (2, 161, 3))
    """
    where = "handwriting_arrays"
    check_choice(where, "split", split, SPLITS)
    count = check_positive_int(where, "count", count)
    max_letters = check_int(where, "max_letters", max_letters, minimum=1, maximum=40)
    min_letters = check_int(where, "min_letters", min_letters, minimum=1, maximum=max_letters)
    max_words = check_int(where, "max_words", max_words, minimum=1, maximum=10)
    longest = max_words * max_letters + max_words - 1
    max_text_length = longest + 1 if max_text_length is None else check_int(
        where, "max_text_length", max_text_length, minimum=longest + 1
    )
    if max_points is not None:
        max_points = check_int(where, "max_points", max_points, minimum=8)
    check_int(where, "seed", seed, minimum=0)
    check_int(where, "start", start, minimum=0)
    texts, samples, dropped, index = [], [], 0, start
    while len(samples) < count:
        rng = np.random.default_rng([seed, SPLITS[split], index])
        index += 1
        text = _random_text(rng, min_letters, max_letters, max_words)
        strokes = write_text(text, rng)
        if max_points is not None and len(strokes) > max_points:
            dropped += 1
            if dropped > 10 * count + 100:
                raise ValueError(
                    message(where, "max_points", f"enough for texts of {max_letters} letters "
                            f"(most examples are longer than {max_points} points)", max_points)
                )
            continue
        texts.append(text)
        samples.append(strokes)
    points = max(len(s) for s in samples) if max_points is None else max_points
    strokes = np.zeros((count, points + 1, 3), np.float32)
    strokes[:, :, 2] = -1.0
    strokes[:, 0] = START_POINT
    for i, sample in enumerate(samples):
        strokes[i, 1 : len(sample) + 1] = sample
    return {
        "text": np.stack([encode_text(t, max_text_length) for t in texts]),
        "strokes": strokes,
        "length": np.array([len(s) for s in samples], np.int32),
        "texts": texts,
        "dropped": dropped,
    }
