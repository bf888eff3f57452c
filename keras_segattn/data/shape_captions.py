"""Embedded image-captioning data: coloured shapes in a row, captions that name them in order.

Generated on the fly, deterministic by seed, no download; every example comes
from its own random stream ``(seed, split, index)`` (an example does not depend
on how many are generated, splits never overlap).

An image is a ``grid x grid`` board of cells (default 4 x 4 cells of 16 pixels
on a 64 x 64 canvas) on a noisy, randomly tinted background. Every column holds
exactly one *named* object (a colour and a shape, jittered and sized within its
cell); grey *distractor* shapes sit in other cells and are never named. The
caption names the named objects from left to right and says, between two
neighbours, whether the left one sits higher (``above``), lower (``below``)
or in the same row (``beside``)::

    a red circle above a blue square beside a green triangle below a yellow cross

Describing the image therefore means finding the objects in order and
comparing their rows: a decoder that sees only the mean feature of the image
(no attention) has to pack every object's colour, shape and position into one
vector, which is what makes attention pay off here. The ground-truth box of
every colour and shape word is kept, for the attention localisation score.

Token ids follow the translation data's convention: 0 padding, 1 ``[UNK]``, 2
``[start]``, 3 ``[end]``, then :data:`WORDS`.
"""

from __future__ import annotations

import numpy as np

from keras_segattn.validation import check_choice, check_int, check_positive_int, message

__all__ = [
    "COLOURS",
    "SHAPES",
    "RELATIONS",
    "WORDS",
    "VOCABULARY",
    "WORD_TYPES",
    "render_caption_example",
    "shape_captions_arrays",
    "shape_captions",
    "decode_caption",
    "encode_caption",
]

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 235), "yellow": (235, 220, 40)}
SHAPES = ("circle", "square", "triangle", "cross")
RELATIONS = ("above", "below", "beside")
WORDS = ("a", *COLOURS, *SHAPES, *RELATIONS)
#: The decoder's vocabulary without the padding "" and "[UNK]" (ids 2, 3, ... in this order).
VOCABULARY = ("[start]", "[end]", *WORDS)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
#: word -> its type, for per-type reports ("colour", "shape", "relation", "article").
WORD_TYPES = {"a": "article", **{c: "colour" for c in COLOURS}, **{s: "shape" for s in SHAPES},
              **{r: "relation" for r in RELATIONS}}
SPLITS = {"train": 0, "validation": 1, "test": 2}
_GREY = (128, 128, 128)


def _ids():
    return {word: index + 2 for index, word in enumerate(VOCABULARY)}


def encode_caption(words, max_length: int) -> np.ndarray:
    """``[start] words [end]`` as ids, 0-padded to ``max_length + 1`` (a word outside the vocabulary is 1)."""
    ids = _ids()
    tokens = [START_ID, *(ids.get(w, UNK_ID) for w in words), END_ID]
    if len(tokens) > max_length + 1:
        raise ValueError(
            message("encode_caption", "max_length", f">= {len(tokens) - 1} for this caption ({len(words)} words "
                    "+ [end])", max_length)
        )
    return np.array(tokens + [PAD_ID] * (max_length + 1 - len(tokens)), np.int32)


def decode_caption(ids) -> list[str]:
    """Words of a row of ids (stops at ``[end]``, skips padding and ``[start]``)."""
    vocabulary = ["", "[UNK]", *VOCABULARY]
    words = []
    for i in np.asarray(ids).tolist():
        if i == END_ID:
            break
        if i in (PAD_ID, START_ID):
            continue
        words.append(vocabulary[i] if 0 <= i < len(vocabulary) else "[UNK]")
    return words


def _shape_mask(shape, yy, xx, cx, cy, radius):
    dx, dy = xx - cx, yy - cy
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius
    if shape == "square":
        half = radius * 0.85
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "triangle":  # apex up, base at cy + radius * 0.8
        top, bottom = cy - radius, cy + radius * 0.8
        half_width = radius * (yy - top) / (bottom - top)
        return (yy >= top) & (yy <= bottom) & (np.abs(dx) <= half_width)
    if shape == "cross":
        arm = radius * 0.35
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= radius)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= radius))
    raise ValueError(message("shape_captions", "shape", f"one of {SHAPES}", shape))


def render_caption_example(rng: np.random.Generator, *, grid: int = 4, cell: int = 16, distractors: int = 2,
                           noise: float = 10.0):
    """One example: ``(image uint8 (S, S, 3), words list, objects list)`` with ``S = grid * cell``.

    ``objects`` lists the named objects left to right as dicts with ``colour``,
    ``shape``, ``row``, ``column`` and ``box`` ``(x0, y0, x1, y1)`` in pixels.
    """
    size = grid * cell
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    tint = rng.uniform(20, 70, 3)
    image = np.broadcast_to(tint, (size, size, 3)).astype(np.float32).copy()
    rows = rng.integers(0, grid, size=grid)
    taken = {(int(r), c) for c, r in enumerate(rows)}
    free = [(r, c) for r in range(grid) for c in range(grid) if (r, c) not in taken]
    chosen = rng.choice(len(free), size=min(distractors, len(free)), replace=False) if distractors else []
    objects = []
    placements = [(int(rows[c]), c, True) for c in range(grid)] + [(*free[i], False) for i in chosen]
    for row, column, named in placements:
        radius = rng.uniform(0.3, 0.42) * cell
        jitter = cell / 2 - radius
        cx = (column + 0.5) * cell + rng.uniform(-jitter, jitter)
        cy = (row + 0.5) * cell + rng.uniform(-jitter, jitter)
        shape = SHAPES[rng.integers(len(SHAPES))]
        colour = list(COLOURS)[rng.integers(len(COLOURS))] if named else None
        mask = _shape_mask(shape, yy, xx, cx, cy, radius)
        image[mask] = np.asarray(COLOURS[colour] if named else _GREY, np.float32) + rng.normal(0, 12, 3)
        if named:
            ys, xs = np.nonzero(mask)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            objects.append({"colour": colour, "shape": shape, "row": row, "column": column, "box": box})
    image += rng.normal(0, noise, image.shape)
    words = []
    for index, obj in enumerate(objects):
        if index:
            previous = objects[index - 1]["row"]
            words.append("above" if previous < obj["row"] else "below" if previous > obj["row"] else "beside")
        words += ["a", obj["colour"], obj["shape"]]
    return np.clip(image, 0, 255).astype(np.uint8), words, objects


def _word_boxes(words, objects, max_length):
    """``(max_length, 4)`` boxes: the box of the object a colour/shape word names, else -1."""
    boxes = np.full((max_length, 4), -1, np.int32)
    index = -1
    for position, word in enumerate(words[:max_length]):
        if word == "a":
            index += 1
        if WORD_TYPES.get(word) in ("colour", "shape"):
            boxes[position] = objects[index]["box"]
    return boxes


def caption_length(grid: int) -> int:
    """Words in a caption of a ``grid``-column board (3 per object, one relation between neighbours)."""
    return 4 * grid - 1


def shape_captions_arrays(split: str = "train", count: int = 1000, *, grid: int = 4, cell: int = 16,
                          distractors: int = 2, max_length: int | None = None, seed: int = 0, start: int = 0):
    """NumPy arrays of ``count`` examples of a split.

    Returns a dict:

    - ``images`` uint8 ``(N, S, S, 3)``, ``S = grid * cell``;
    - ``captions`` int32 ``(N, max_length + 1)``: ``[start] words [end]``,
      0-padded (the model input; its targets are ``captions[:, 1:]``);
    - ``boxes`` int32 ``(N, max_length, 4)``: for output position ``t``
      (the word ``captions[:, t + 1]``) the ``(x0, y0, x1, y1)`` pixel box of
      the object a colour or shape word names, else -1;
    - ``words``: the captions as word lists.

    ``max_length`` (decoder steps, the words plus ``[end]``) defaults to the
    caption length + 1; a shorter one raises.

    Example:
        >>> from keras_segattn.data.shape_captions import shape_captions_arrays
        >>> data = shape_captions_arrays("test", 2, seed=1)
        >>> data["images"].shape, data["captions"].shape, len(data["words"][0])
        ((2, 64, 64, 3), (2, 17), 15)
    """
    where = "shape_captions"
    check_choice(where, "split", split, SPLITS)
    count = check_positive_int(where, "count", count)
    grid = check_int(where, "grid", grid, minimum=2, maximum=16)
    cell = check_int(where, "cell", cell, minimum=8)
    distractors = check_int(where, "distractors", distractors, minimum=0, maximum=grid * (grid - 1))
    needed = caption_length(grid) + 1
    max_length = needed if max_length is None else check_int(where, "max_length", max_length, minimum=needed)
    size = grid * cell
    images = np.empty((count, size, size, 3), np.uint8)
    captions = np.empty((count, max_length + 1), np.int32)
    boxes = np.empty((count, max_length, 4), np.int32)
    words = []
    check_int("shape_captions", "seed", seed, minimum=0)
    check_int("shape_captions", "start", start, minimum=0)
    for i in range(count):
        rng = np.random.default_rng([seed, SPLITS[split], start + i])
        images[i], caption, objects = render_caption_example(rng, grid=grid, cell=cell, distractors=distractors)
        captions[i] = encode_caption(caption, max_length)
        boxes[i] = _word_boxes(caption, objects, max_length)
        words.append(caption)
    return {"images": images, "captions": captions, "boxes": boxes, "words": words}


def shape_captions(split: str = "train", count: int = 1000, **kwargs):
    """A ``tf.data.Dataset`` of ``((image float32 (S, S, 3) in [0, 255], caption int32 (T + 1,)), targets (T,))``.

    ``targets = caption[1:]``: ready for ``model.fit`` on a ``show_attend_tell``
    model after ``.batch()``. Arguments as :func:`shape_captions_arrays`.
    """
    import tensorflow as tf

    data = shape_captions_arrays(split, count, **kwargs)
    ds = tf.data.Dataset.from_tensor_slices((data["images"], data["captions"]))
    return ds.map(lambda image, caption: ((tf.cast(image, tf.float32), caption), caption[1:]))
