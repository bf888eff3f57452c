"""Binarised digits for image generation (DRAW, DCGAN): the embedded stand-in for binarised MNIST.

MNIST needs a download, so the generative models train on scikit-learn's
8x8 digits (the same source digits and train / validation / test split as
:mod:`keras_segattn.data.distorted_digits`), drawn MNIST-style: the digit
scaled to a 20-pixel box in a 28x28 canvas (any canvas size >= 16 works),
jittered by up to ``shift`` pixels, then binarised (threshold 0.5, or a
Bernoulli draw of every pixel's intensity as in stochastically binarised
MNIST). Deterministic by seed; example ``i`` does not depend on the count.
"""

from __future__ import annotations

import numpy as np

from keras_segattn.data.distorted_digits import SPLITS, _affine_source_coords, _sample, digit_pool
from keras_segattn.validation import check_choice, check_int, check_number, check_positive_int

__all__ = ["binarized_digits_arrays"]

BINARIZE = ("threshold", "stochastic")


def binarized_digits_arrays(
    split: str = "train",
    num_examples: int = 1000,
    *,
    image_size: int = 28,
    shift: float = 2.0,
    binarize: str = "threshold",
    num_classes: int = 10,
    seed: int = 0,
):
    """``(images float32 (N, S, S, 1) in {0, 1}, labels int32 (N,))``.

    Example:
        >>> from keras_segattn.data.binarized_digits import binarized_digits_arrays
        >>> images, labels = binarized_digits_arrays("test", 4, seed=1)
        >>> images.shape, sorted(set(images.ravel().tolist()))
        ((4, 28, 28, 1), [0.0, 1.0])
    """
    where = "binarized_digits"
    check_choice(where, "split", split, SPLITS)
    num_examples = check_positive_int(where, "num_examples", num_examples)
    image_size = check_int(where, "image_size", image_size, minimum=16)
    shift = check_number(where, "shift", shift, minimum=0.0)
    check_choice(where, "binarize", binarize, BINARIZE)
    num_classes = check_int(where, "num_classes", num_classes, minimum=1, maximum=10)
    pool, pool_labels = digit_pool(split, max(num_classes, 2))
    keep = pool_labels < num_classes
    pool, pool_labels = pool[keep], pool_labels[keep]
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float64)
    centre = (image_size - 1) / 2.0
    digit_size = 20.0 * image_size / 28.0
    images = np.empty((num_examples, image_size, image_size, 1), np.float32)
    labels = np.empty((num_examples,), np.int32)
    for i in range(num_examples):
        rng = np.random.default_rng([seed, SPLITS[split], i, 28])
        k = int(rng.integers(len(pool)))
        rows, cols = _affine_source_coords(xx, yy, centre, digit_size, shift=rng.uniform(-shift, shift, 2))
        intensity = np.clip(_sample(pool[k], rows, cols), 0.0, 1.0)
        if binarize == "threshold":
            images[i, :, :, 0] = intensity > 0.5
        else:
            images[i, :, :, 0] = rng.random(intensity.shape) < intensity
        labels[i] = pool_labels[k]
    return images, labels
