"""Embedded image-classification data: distorted handwritten digits (the STN paper's families).

The spatial-transformer paper (Jaderberg et al., NIPS 2015, table 1) tests on
MNIST distorted by rotation (R), rotation-translation-scale (RTS), projective
(P) and elastic (E) warps, and on cluttered MNIST. MNIST needs a download, so
this module builds the same families from a real handwritten-digit set that
ships inside scikit-learn, ``sklearn.datasets.load_digits`` (1797 digits from
the UCI optdigits set, 8x8 pixels, intensities 0-16), upsampled on the fly.

Each example is drawn from its own random stream ``(seed, split, index)``, so
it does not depend on how many others are generated. The 1797 source digits
are split once (stratified by class, fixed permutation independent of
``seed``) into train 70% / validation 10% / test 20%: test examples are
distortions of digits the training split never sees.

Rendering: a source digit spans a ``digit_size`` pixel box (20 px, the size of
an MNIST digit in its 28x28 frame) and is warped in one bilinear resampling
step (``scipy.ndimage.map_coordinates(order=1, mode="grid-constant")``) by the
family's transform:

========== ====== ===============================================================
family     canvas distortion
========== ====== ===============================================================
R          28     rotation uniform in +-90 degrees, centred
RTS        42     rotation +-45 degrees, scale 0.7-1.2, box placed uniformly in the canvas
P          28     scale 0.75-1.0, then each box corner moved by N(0, 3 px) (homography)
E          28     elastic (Simard et al. 2003): random displacement field smoothed by a
                  Gaussian of sigma 4 px, scaled by alpha 34
cluttered  60     digit placed uniformly, plus 6 random 8x8 crops of other digits
========== ====== ===============================================================

Images are grey ``uint8`` in [0, 255] (black background), labels the digit.
``scipy`` comes with scikit-learn.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from keras_segattn.validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_int,
    check_positive_int,
    hint,
    message,
)

__all__ = [
    "FAMILIES",
    "CANVAS_SIZES",
    "SPLITS",
    "digit_pool",
    "render_distorted_digit",
    "distorted_digits_arrays",
    "distorted_digits",
]

FAMILIES = ("R", "RTS", "P", "E", "cluttered")
#: default canvas side per family (the paper: 28 for R/P/E, 42 for RTS, 60 for cluttered).
CANVAS_SIZES = {"R": 28, "RTS": 42, "P": 28, "E": 28, "cluttered": 60}
SPLITS = {"train": 0, "validation": 1, "test": 2}
_FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}
_SPLIT_SEED = 20150605  # fixed: the source-digit split never depends on the user's seed


def _check_family(family):
    return check_choice("distorted_digits", "family", family, FAMILIES)


@functools.cache
def _all_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32) / 16.0, digits.target.astype(np.int32)


@functools.cache
def _split_indices():
    _, labels = _all_digits()
    rng = np.random.default_rng(_SPLIT_SEED)
    parts = {name: [] for name in SPLITS}
    for cls in range(10):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_train = int(round(_FRACTIONS["train"] * len(members)))
        n_val = int(round(_FRACTIONS["validation"] * len(members)))
        parts["train"].append(members[:n_train])
        parts["validation"].append(members[n_train : n_train + n_val])
        parts["test"].append(members[n_train + n_val :])
    return {name: np.sort(np.concatenate(p)) for name, p in parts.items()}


def digit_pool(split: str, num_classes: int = 10):
    """``(images float32 (N, 8, 8) in [0, 1], labels int32 (N,))``: the source digits of ``split``."""
    check_choice("digit_pool", "split", split, SPLITS)
    images, labels = _all_digits()
    index = _split_indices()[split]
    index = index[labels[index] < num_classes]
    return images[index], labels[index]


def _sample(digit, rows, cols):
    """Bilinear samples of an 8x8 digit at source pixel coordinates, zero outside."""
    from scipy.ndimage import map_coordinates

    return map_coordinates(digit, [rows, cols], order=1, mode="grid-constant", cval=0.0)


def _homography(src, dst):
    """3x3 H with dst ~ H src for four (x, y) point pairs (direct linear transform)."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    h = np.linalg.solve(np.array(a, np.float64), np.array(b, np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def _affine_source_coords(xx, yy, center, digit_size, angle=0.0, scale=1.0, shift=(0.0, 0.0)):
    """Canvas (x, y) -> source (row, col) for a digit rotated by ``angle``, scaled, shifted."""
    unit = digit_size / 8.0 * scale  # canvas pixels per source pixel
    dx, dy = xx - center - shift[0], yy - center - shift[1]
    cos, sin = np.cos(angle), np.sin(angle)
    # inverse rotation
    sx = (cos * dx + sin * dy) / unit + 3.5
    sy = (-sin * dx + cos * dy) / unit + 3.5
    return sy, sx


def render_distorted_digit(
    rng: np.random.Generator,
    digit: np.ndarray,
    family: str = "RTS",
    image_size: int | None = None,
    digit_size: float = 20.0,
    clutter_digits: np.ndarray | None = None,
    clutter_pieces: int = 6,
    clutter_size: int = 8,
) -> np.ndarray:
    """One ``uint8 (S, S)`` image: the 8x8 ``digit`` (in [0, 1]) distorted as ``family``.

    ``clutter_digits`` ``(N, 8, 8)``: the digits clutter crops come from
    (``family="cluttered"``).
    """
    _check_family(family)
    where = "render_distorted_digit"
    check_optional_int(where, "image_size", image_size, minimum=8)
    check_number(where, "digit_size", digit_size, minimum=0, exclusive_minimum=True)
    check_int(where, "clutter_pieces", clutter_pieces, minimum=0)
    check_int(where, "clutter_size", clutter_size, minimum=1)
    size = image_size or CANVAS_SIZES[family]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    center = (size - 1) / 2.0
    if family == "R":
        rows, cols = _affine_source_coords(xx, yy, center, digit_size, angle=np.deg2rad(rng.uniform(-90, 90)))
    elif family == "RTS":
        angle = np.deg2rad(rng.uniform(-45, 45))
        scale = rng.uniform(0.7, 1.2)
        room = max(size / 2.0 - digit_size * scale / 2.0, 0.0)
        shift = rng.uniform(-room, room, 2)
        rows, cols = _affine_source_coords(xx, yy, center, digit_size, angle, scale, shift)
    elif family == "P":
        scale = rng.uniform(0.75, 1.0)
        half = digit_size * scale / 2.0
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
        canvas = center + corners * half + rng.normal(0.0, 3.0, (4, 2))
        source = 3.5 + corners * 4.0  # outer edges of the 8x8 source, (x, y)
        h = _homography(canvas, source)  # canvas -> source
        pts = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)])
        sx, sy, sw = h @ pts
        cols, rows = (sx / sw).reshape(size, size), (sy / sw).reshape(size, size)
    elif family == "E":
        from scipy.ndimage import gaussian_filter

        alpha, sigma = 34.0, 4.0
        dx = gaussian_filter(rng.uniform(-1, 1, (size, size)), sigma, mode="constant") * alpha
        dy = gaussian_filter(rng.uniform(-1, 1, (size, size)), sigma, mode="constant") * alpha
        rows, cols = _affine_source_coords(xx + dx, yy + dy, center, digit_size)
    else:  # cluttered
        room = max(size / 2.0 - digit_size / 2.0, 0.0)
        shift = rng.uniform(-room, room, 2)
        rows, cols = _affine_source_coords(xx, yy, center, digit_size, shift=shift)
    image = np.clip(_sample(digit, rows, cols), 0.0, 1.0)
    if family == "cluttered" and clutter_digits is not None and len(clutter_digits):
        frame = 28
        fy, fx = np.mgrid[0:frame, 0:frame].astype(np.float64)
        for _ in range(clutter_pieces):
            other = clutter_digits[rng.integers(len(clutter_digits))]
            r, c = _affine_source_coords(fx, fy, (frame - 1) / 2.0, digit_size)
            rendered = _sample(other, r, c)
            lo, hi = (frame - digit_size) / 2.0, (frame + digit_size) / 2.0 - clutter_size
            top, left = (int(v) for v in rng.uniform(lo, hi, 2))
            piece = rendered[top : top + clutter_size, left : left + clutter_size]
            py, px = (int(v) for v in rng.integers(0, size - clutter_size + 1, 2))
            region = image[py : py + clutter_size, px : px + clutter_size]
            np.maximum(region, np.clip(piece, 0.0, 1.0), out=region)
    return np.round(image * 255.0).astype(np.uint8)


def _check(split, num_examples, image_size, num_classes, channels):
    where = "distorted_digits"
    check_choice(where, "split", split, SPLITS)
    check_positive_int(where, "num_examples", num_examples)
    with hint("None is the family's canvas size."):
        check_optional_int(where, "image_size", image_size, minimum=16)
    with hint("The labels are the digits 0..num_classes-1."):
        check_int(where, "num_classes", num_classes, minimum=2, maximum=10)
    if isinstance(channels, bool) or channels not in (1, 3):  # `in`, not check_choice: 1.0 and NumPy ints stay accepted
        raise ValueError(message(where, "channels", "1 (grey) or 3 (grey repeated as RGB)", channels))


def distorted_digits_arrays(
    split: str = "train",
    num_examples: int = 1000,
    *,
    family: str = "RTS",
    image_size: int | None = None,
    num_classes: int = 10,
    channels: int = 1,
    seed: int = 0,
    start: int = 0,
    **render_kwargs,
):
    """NumPy arrays ``(images uint8 (N, S, S, channels), labels int32 (N,))``.

    Example ``i`` of a split is the same whatever ``num_examples`` is; ``start``
    skips the first examples. ``image_size`` defaults to the family's canvas
    (:data:`CANVAS_SIZES`); ``num_classes`` < 10 keeps the digits below it.

    Example:
        >>> from keras_segattn.data import distorted_digits_arrays
        >>> images, labels = distorted_digits_arrays("test", 3, family="RTS", seed=1)
        >>> images.shape, images.dtype.name, labels.shape
        ((3, 42, 42, 1), 'uint8', (3,))
    """
    _check_family(family)
    _check(split, num_examples, image_size, num_classes, channels)
    size = image_size or CANVAS_SIZES[family]
    pool, pool_labels = digit_pool(split, num_classes)
    images = np.empty((num_examples, size, size, 1), np.uint8)
    labels = np.empty((num_examples,), np.int32)
    check_int("distorted_digits", "seed", seed, minimum=0)
    check_int("distorted_digits", "start", start, minimum=0)
    for i in range(num_examples):
        rng = np.random.default_rng([seed, SPLITS[split], start + i])
        k = int(rng.integers(len(pool)))
        images[i, :, :, 0] = render_distorted_digit(
            rng, pool[k], family, size, clutter_digits=pool, **render_kwargs
        )
        labels[i] = pool_labels[k]
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return images, labels


def distorted_digits(
    split: str = "train",
    num_examples: int = 1000,
    *,
    family: str = "RTS",
    image_size: int | None = None,
    num_classes: int = 10,
    channels: int = 1,
    seed: int = 0,
    batch_size: int | None = None,
    shuffle: bool = False,
    repeat: bool = False,
    **render_kwargs,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(image float32 (S, S, channels) in [0, 255], label int32)``.

    The examples are rendered once (NumPy) and served from memory. With
    ``shuffle`` the order is reshuffled every epoch (seeded by ``seed``);
    ``repeat`` repeats forever; ``batch_size`` batches (the last partial batch
    is kept unless ``repeat``).

    Example:
        >>> from keras_segattn.data import distorted_digits
        >>> ds = distorted_digits("validation", 8, family="R", batch_size=4)
        >>> images, labels = next(iter(ds))
        >>> tuple(images.shape), images.dtype.name, labels.dtype.name
        ((4, 28, 28, 1), 'float32', 'int32')
    """
    batch_size = check_optional_int("distorted_digits", "batch_size", batch_size, minimum=1)
    images, labels = distorted_digits_arrays(
        split,
        num_examples,
        family=family,
        image_size=image_size,
        num_classes=num_classes,
        channels=channels,
        seed=seed,
        **render_kwargs,
    )
    check_bool("distorted_digits", "shuffle", shuffle)
    check_bool("distorted_digits", "repeat", repeat)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=repeat)
    return ds.prefetch(tf.data.AUTOTUNE)
