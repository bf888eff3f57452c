"""Embedded semantic-segmentation data: coloured shapes on textured backgrounds.

Generated on the fly, deterministic by seed, no download. Every example is
drawn from its own random stream ``(seed, split, index)``, so an example does
not depend on how many others are generated and splits never overlap.

Each image has 1-4 objects (by default) of random class, colour, size (8-28
pixels across), rotation and position; later objects occlude earlier ones. The
background is a smooth random colour gradient with a sinusoidal texture, and
Gaussian noise covers everything. Objects are shaded with a linear gradient
and differ from the background under them by at least ``min_contrast`` (RGB
distance) so every labelled pixel is visible. Labels: 0 background, then one id
per shape class in the order of :data:`SHAPES`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_segattn.validation import check_choice, check_int, check_number, check_positive_int, hint

__all__ = ["SHAPES", "SPLITS", "render_example", "synthetic_shapes_arrays", "synthetic_shapes"]

#: Shape classes in label order (label = index + 1). The default 4-class task
#: uses the first three.
SHAPES = ("circle", "rectangle", "triangle", "ellipse", "pentagon", "cross")
SPLITS = {"train": 0, "validation": 1, "test": 2}


def _polygon_mask(yy, xx, vertices):
    """Pixels inside a convex polygon given counter-clockwise ``vertices`` (N, 2) as (x, y)."""
    inside = np.ones(yy.shape, bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        inside &= (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0
    return inside


def _regular_polygon(cx, cy, radius, sides, angle, jitter, rng):
    angles = angle + 2 * np.pi * np.arange(sides) / sides
    angles = angles + rng.uniform(-jitter, jitter, sides)
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)


def _rotated_rect(cx, cy, half_w, half_h, angle):
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return corners @ rot.T + np.array([cx, cy])


def _shape_mask(shape, yy, xx, cx, cy, size, rng):
    """Boolean mask of one object whose extent is about ``size`` pixels."""
    r = size / 2.0
    angle = rng.uniform(0, 2 * np.pi)
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if shape == "rectangle":
        aspect = rng.uniform(0.45, 1.0)
        # A rectangle with diagonal ``size``.
        half_w = r / np.sqrt(1 + aspect**2)
        return _polygon_mask(yy, xx, _rotated_rect(cx, cy, half_w, half_w * aspect, angle))
    if shape == "triangle":
        return _polygon_mask(yy, xx, _regular_polygon(cx, cy, r, 3, angle, 0.35, rng))
    if shape == "ellipse":
        a, b = r, r * rng.uniform(0.35, 0.6)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        return (u / a) ** 2 + (v / b) ** 2 <= 1
    if shape == "pentagon":
        return _polygon_mask(yy, xx, _regular_polygon(cx, cy, r, 5, angle, 0.1, rng))
    if shape == "cross":
        arm = r * rng.uniform(0.3, 0.45)
        return _polygon_mask(yy, xx, _rotated_rect(cx, cy, r, arm, angle)) | _polygon_mask(
            yy, xx, _rotated_rect(cx, cy, arm, r, angle)
        )
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def _background(rng, size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    corners = rng.uniform(0, 255, (4, 3)).astype(np.float32)
    w = [(1 - yy) * (1 - xx), (1 - yy) * xx, yy * (1 - xx), yy * xx]
    image = sum(wi[..., None] * c for wi, c in zip(w, corners))
    freq = rng.uniform(2, 8, 2)
    phase = rng.uniform(0, 2 * np.pi)
    texture = np.sin(2 * np.pi * (freq[0] * xx + freq[1] * yy) + phase)
    image += rng.uniform(8, 25) * texture[..., None] * rng.choice([-1, 1], 3)
    return image


def render_example(
    rng: np.random.Generator,
    image_size: int = 64,
    num_classes: int = 4,
    min_objects: int = 1,
    max_objects: int = 4,
    min_size: int = 8,
    max_size: int = 28,
    noise: float = 8.0,
    min_contrast: float = 60.0,
):
    """One ``(image uint8 (S, S, 3), label uint8 (S, S))`` example from ``rng``."""
    where = "render_example"
    check_int(where, "image_size", image_size, minimum=1)
    check_int(where, "num_classes", num_classes, minimum=2, maximum=len(SHAPES) + 1)
    check_int(where, "min_objects", min_objects, minimum=0)
    check_int(where, "max_objects", max_objects, minimum=max(1, min_objects))
    check_int(where, "min_size", min_size, minimum=1)
    check_int(where, "max_size", max_size, minimum=min_size)
    check_number(where, "noise", noise, minimum=0)
    check_number(where, "min_contrast", min_contrast, minimum=0)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32) + 0.5
    image = _background(rng, image_size)
    label = np.zeros((image_size, image_size), np.uint8)
    shapes = SHAPES[: num_classes - 1]
    for _ in range(rng.integers(min_objects, max_objects + 1)):
        cls = int(rng.integers(len(shapes)))
        size = rng.uniform(min_size, max_size)
        cx, cy = rng.uniform(0, image_size, 2)
        mask = _shape_mask(shapes[cls], yy, xx, cx, cy, size, rng)
        if not mask.any():
            continue
        under = image[mask].mean(axis=0)
        colour = rng.uniform(0, 255, 3)
        for _ in range(20):
            if np.linalg.norm(colour - under) >= min_contrast:
                break
            colour = rng.uniform(0, 255, 3)
        shade = rng.uniform(-0.6, 0.6, 2)
        gradient = shade[0] * (xx - cx) + shade[1] * (yy - cy)
        image[mask] = colour + gradient[mask][:, None]
        label[mask] = cls + 1
    image += rng.normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label


def _check(split, num_examples, image_size, num_classes):
    where = "synthetic_shapes"
    check_choice(where, "split", split, SPLITS)
    check_positive_int(where, "num_examples", num_examples)
    check_int(where, "image_size", image_size, minimum=16)
    with hint(f"The classes are the background and the shapes {SHAPES}."):
        check_int(where, "num_classes", num_classes, minimum=2, maximum=len(SHAPES) + 1)


def synthetic_shapes_arrays(
    split: str = "train",
    num_examples: int = 1000,
    *,
    image_size: int = 64,
    num_classes: int = 4,
    seed: int = 0,
    start: int = 0,
    **render_kwargs,
):
    """NumPy arrays ``(images uint8 (N, S, S, 3), labels uint8 (N, S, S))``.

    Example ``i`` of a split is the same whatever ``num_examples`` is; ``start``
    skips the first examples.

    Example:
        >>> from keras_segattn.data import synthetic_shapes_arrays
        >>> images, labels = synthetic_shapes_arrays("test", 2, seed=1)
        >>> images.shape, labels.shape, bool(labels.max() <= 3)
        ((2, 64, 64, 3), (2, 64, 64), True)
    """
    _check(split, num_examples, image_size, num_classes)
    images = np.empty((num_examples, image_size, image_size, 3), np.uint8)
    labels = np.empty((num_examples, image_size, image_size), np.uint8)
    check_int("synthetic_shapes", "seed", seed, minimum=0)
    check_int("synthetic_shapes", "start", start, minimum=0)
    for i in range(num_examples):
        rng = np.random.default_rng([seed, SPLITS[split], start + i])
        images[i], labels[i] = render_example(
            rng, image_size=image_size, num_classes=num_classes, **render_kwargs
        )
    return images, labels


def synthetic_shapes(
    split: str = "train",
    num_examples: int = 1000,
    *,
    image_size: int = 64,
    num_classes: int = 4,
    seed: int = 0,
    **render_kwargs,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(image float32 (S, S, 3) in [0, 255], label int32 (S, S))``.

    Unbatched, not shuffled; see :func:`keras_segattn.data.segmentation_pipeline`
    for batching and augmentation.

    Example:
        >>> from keras_segattn.data import synthetic_shapes
        >>> ds = synthetic_shapes("validation", 4, seed=0)
        >>> image, label = next(iter(ds))
        >>> image.dtype.name, label.dtype.name, tuple(label.shape)
        ('float32', 'int32', (64, 64))
    """
    images, labels = synthetic_shapes_arrays(
        split, num_examples, image_size=image_size, num_classes=num_classes, seed=seed, **render_kwargs
    )
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return ds.map(
        lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
