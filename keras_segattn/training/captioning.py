"""Captioning metrics: BLEU-1..4 (sacrebleu) and the attention localisation score."""

from __future__ import annotations

import numpy as np

__all__ = ["bleu_scores", "attention_localisation", "box_coverage"]


def bleu_scores(hypotheses, references) -> dict:
    """Corpus BLEU-1..4 on a 0-100 scale, one reference per caption.

    ``sacrebleu``'s BLEU with ``max_ngram_order`` n (its defaults otherwise:
    13a tokenisation, exponential smoothing); BLEU-4 equals
    :func:`keras_segattn.training.translation.corpus_bleu`.

    Example:
        >>> from keras_segattn.training.captioning import bleu_scores
        >>> scores = bleu_scores(["a red circle above a blue square"], ["a red circle above a blue square"])
        >>> [round(scores[k]) for k in ("bleu1", "bleu2", "bleu3", "bleu4")]
        [100, 100, 100, 100]
    """
    from sacrebleu.metrics import BLEU

    from keras_segattn.training.translation import _check_texts

    hypotheses, references = _check_texts(hypotheses, references)
    if not hypotheses:
        raise ValueError("bleu_scores needs at least one caption.")
    return {f"bleu{n}": float(BLEU(max_ngram_order=n).corpus_score(hypotheses, [references]).score) for n in range(1, 5)}


def box_coverage(grid, image_size, boxes) -> np.ndarray:
    """The share of each annotation-grid cell's area inside each box.

    ``grid = (h, w)`` cells covering an ``image_size = (H, W)`` image evenly;
    ``boxes`` ``(..., 4)`` as pixel ``(x0, y0, x1, y1)``. Returns ``(..., h *
    w)`` in [0, 1]: ``attention . coverage`` is the attention mass inside the
    box, and ``coverage.mean()`` the mass uniform attention would put there
    (chance).
    """
    h, w = grid
    height, width = image_size
    boxes = np.asarray(boxes, np.float64)
    ys = np.arange(h + 1) * height / h
    xs = np.arange(w + 1) * width / w

    def overlap(lo, hi, edges):  # (..., cells): length of [lo, hi] inside each cell
        return np.clip(np.minimum(hi[..., None], edges[1:]) - np.maximum(lo[..., None], edges[:-1]), 0, None) / (
            edges[1:] - edges[:-1]
        )

    fy = overlap(boxes[..., 1], boxes[..., 3], ys)  # (..., h)
    fx = overlap(boxes[..., 0], boxes[..., 2], xs)  # (..., w)
    return (fy[..., :, None] * fx[..., None, :]).reshape(*boxes.shape[:-1], h * w)


def attention_localisation(alignment, tokens, references, boxes, word_types, *, grid, image_size, hard=False) -> dict:
    """How much of each object word's attention falls on that object, per word type.

    For every generated word that names an object (its reference position has
    a box) and equals the reference word there, the score is the attention
    mass inside the object's box: for soft attention the share of the context
    drawn from it, for hard attention the expected share of sampled locations
    inside it. With ``hard=True`` (a decoder that attends to the most likely
    location only) it is whether that location lies in the box, weighted by
    the share of that grid cell inside the box. ``chance`` is the same score for uniform attention (the box's share
    of the image). Captions of the embedded data have a fixed structure, so
    position ``t`` of a correct generated caption names the same object as
    position ``t`` of its reference.

    Args:
        alignment: ``(N, T, L)`` attention weights of the generated words.
        tokens: ``(N, T)`` generated token ids; ``references`` ``(N, T)`` the
            reference's (``caption[:, 1:]``).
        boxes: ``(N, T, 4)`` pixel boxes, -1 where the word names no object.
        word_types: ``{token id: type}`` (e.g. ``"colour"``, ``"shape"``).
        grid, image_size: ``(h, w)`` of the annotations and ``(H, W)`` pixels.
        hard: score the argmax location instead of the attention mass.

    Returns:
        ``{type: {"score", "chance", "ratio", "words"}}`` over the scored words.
    """
    alignment = np.asarray(alignment, np.float64)
    tokens, references, boxes = np.asarray(tokens), np.asarray(references), np.asarray(boxes)
    has_box = boxes[..., 0] >= 0
    steps = min(tokens.shape[1], references.shape[1])
    scored = has_box[:, :steps] & (tokens[:, :steps] == references[:, :steps])
    coverage = box_coverage(grid, image_size, np.where(has_box[..., None], boxes, 0)[:, :steps])
    weights = alignment[:, :steps]
    if hard:
        weights = np.eye(weights.shape[-1])[weights.argmax(-1)]
    inside = (weights * coverage).sum(-1)
    chance = coverage.mean(-1)
    report = {}
    for kind in sorted(set(word_types.values())):
        ids = [i for i, t in word_types.items() if t == kind]
        chosen = scored & np.isin(references[:, :steps], ids)
        if not chosen.any():
            continue
        score, base = float(inside[chosen].mean()), float(chance[chosen].mean())
        report[kind] = {"score": score, "chance": base, "ratio": score / base, "words": int(chosen.sum())}
    return report
