"""Embedded instance-segmentation data: separate, possibly overlapping coloured shapes.

The instance-level companion of :mod:`keras_segattn.data.synthetic_shapes` (same
shapes, backgrounds and drawing helpers) for the SDS / Hypercolumns / MNC
family: generated on the fly, deterministic by seed, no download. Every example
is drawn from its own random stream ``(seed, split, index)`` (a stream distinct
from synthetic_shapes' own), so an example does not depend on how many others
are generated and splits never overlap.

Each image holds 0..``max_instances`` shapes (mostly 1-3; about 8% of the
images hold none, and those are valid examples with only padding rows) of the
first ``num_classes`` classes of :data:`~keras_segattn.data.SHAPES`, with random
size (from 3/16 to 1/2 of the image side: 12-32 pixels at 64), position,
rotation and colour. Later shapes occlude earlier ones: an occluded instance's
mask loses the covered pixels, and an instance whose visible area falls below
a minimum (20 pixels at 64x64, scaled with the image area, at least 4) is not
drawn at all, so every labelled instance is visible and no unlabelled fragment
is left in the picture. Shapes differ in colour from what lies under them.

The layout (shared by the instance models, their losses and
:func:`~keras_segattn.training.coco_instance_evaluation`):

* images: float32 ``(N, H, W, 3)`` raw RGB in [0, 255];
* targets: a dict of arrays padded to ``M = max_instances`` rows per image,
  instances first, then padding:

  - ``"boxes"`` float32 ``(N, M, 4)``: normalised ``(y1, x1, y2, x2)`` pixel
    edges, tight around the visible mask (a box over pixel columns ``a..b``
    has ``x1 = a / W`` and ``x2 = (b + 1) / W``); zeros for padding;
  - ``"classes"`` int32 ``(N, M)``: 1..K for instances, 0 for padding;
  - ``"masks"`` uint8 ``(N, M, H, W)``: binary, zeros for padding.
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from keras_segattn.data.synthetic_shapes import SHAPES, SPLITS, _background, _shape_mask
from keras_segattn.validation import (
    check_choice,
    check_int,
    check_optional_int,
    hint,
    is_int,
    message,
)

__all__ = [
    "instance_shapes",
    "instance_shapes_arrays",
    "instances_to_coco",
    "write_coco_annotations",
    "boxes_from_masks",
]

# The stream tag that keeps these examples apart from synthetic_shapes' (seed, split, index).
_STREAM = 7919
#: Probability of an image with no instance.
EMPTY_FRACTION = 0.08


def _min_area(image_size: int) -> int:
    return max(4, round(20 * (image_size / 64) ** 2))


def _instance_count(rng, max_instances):
    """0 with probability EMPTY_FRACTION, else mostly 1..3 (4..M share 10%)."""
    weights = np.zeros(max_instances + 1)
    weights[0] = EMPTY_FRACTION
    weights[1 : min(3, max_instances) + 1] = 0.82 / min(3, max_instances)
    if max_instances > 3:
        weights[4:] = 0.10 / (max_instances - 3)
    return int(rng.choice(max_instances + 1, p=weights / weights.sum()))


def boxes_from_masks(masks):
    """Tight normalised ``(y1, x1, y2, x2)`` pixel-edge boxes of binary masks ``(..., H, W)``; zeros for empty masks.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.data.instance_shapes import boxes_from_masks
        >>> mask = np.zeros((4, 8), np.uint8); mask[1:3, 2:4] = 1   # rows 1-2, columns 2-3
        >>> boxes_from_masks(mask[None]).tolist()
        [[0.25, 0.25, 0.75, 0.5]]
    """
    masks = np.asarray(masks).astype(bool)
    if masks.ndim < 2:
        raise ValueError(message("boxes_from_masks", "masks", "an array of rank >= 2 (..., height, width)",
                                 f"shape {masks.shape}"))
    height, width = masks.shape[-2:]
    rows, cols = masks.any(-1), masks.any(-2)
    present = rows.any(-1)
    y1 = rows.argmax(-1)
    y2 = height - rows[..., ::-1].argmax(-1)
    x1 = cols.argmax(-1)
    x2 = width - cols[..., ::-1].argmax(-1)
    boxes = np.stack([y1 / height, x1 / width, y2 / height, x2 / width], -1).astype(np.float32)
    return np.where(present[..., None], boxes, np.float32(0))


def _render(rng, image_size, num_classes, max_instances, noise=8.0, min_contrast=60.0):
    """One ``(image uint8 (S, S, 3), classes int32 (n,), masks bool (n, S, S))`` example."""
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32) + 0.5
    image = _background(rng, image_size)
    # Geometry first: every shape's full mask, in drawing order.
    shapes = []
    for _ in range(_instance_count(rng, max_instances)):
        cls = int(rng.integers(num_classes))
        size = rng.uniform(3 / 16, 1 / 2) * image_size
        cx, cy = rng.uniform(size / 2, image_size - size / 2, 2)
        shapes.append((cls, cx, cy, _shape_mask(SHAPES[cls], yy, xx, cx, cy, size, rng)))
    # Visible parts (later shapes on top); a shape too hidden to see is not drawn at all.
    order = np.full((image_size, image_size), -1)
    for i, (*_, mask) in enumerate(shapes):
        order[mask] = i
    minimum = _min_area(image_size)
    kept = [i for i in range(len(shapes)) if (order == i).sum() >= minimum]
    # Paint the kept ones, each in a colour distinct from what is under it.
    label = np.full((image_size, image_size), -1)
    for i in kept:
        _, cx, cy, mask = shapes[i]
        under = image[mask].mean(axis=0)
        colour = rng.uniform(0, 255, 3)
        for _ in range(20):
            if np.linalg.norm(colour - under) >= min_contrast:
                break
            colour = rng.uniform(0, 255, 3)
        shade = rng.uniform(-0.6, 0.6, 2)
        gradient = shade[0] * (xx - cx) + shade[1] * (yy - cy)
        image[mask] = colour + gradient[mask][:, None]
        label[mask] = i
    image += rng.normal(0, noise, image.shape)
    # Removing a hidden shape only uncovers the ones under it: every kept one stays >= minimum.
    masks = np.stack([label == i for i in kept]) if kept else np.zeros((0, image_size, image_size), bool)
    classes = np.array([shapes[i][0] + 1 for i in kept], np.int32)
    return np.clip(image, 0, 255).astype(np.uint8), classes, masks


def _check(where, split, num_examples, image_size, num_classes, max_instances, seed, start=0):
    check_choice(where, "split", split, SPLITS)
    check_int(where, "num_examples", num_examples, minimum=1)
    check_int(where, "image_size", image_size, minimum=16)
    with hint(f"Instance classes are 1..num_classes, the shapes {SHAPES} in order (no background class)."):
        check_int(where, "num_classes", num_classes, minimum=1, maximum=len(SHAPES))
    check_int(where, "max_instances", max_instances, minimum=1)
    check_int(where, "seed", seed, minimum=0)
    check_int(where, "start", start, minimum=0)


def instance_shapes_arrays(
    split: str = "train",
    num_examples: int = 256,
    *,
    image_size: int = 64,
    num_classes: int = 3,
    max_instances: int = 4,
    seed: int = 0,
    start: int = 0,
):
    """NumPy ``(images float32 (N, S, S, 3) in [0, 255], targets)`` in the module's padded layout.

    ``targets`` holds ``"boxes"`` float32 ``(N, M, 4)``, ``"classes"`` int32
    ``(N, M)`` and ``"masks"`` uint8 ``(N, M, S, S)`` with ``M = max_instances``.
    Example ``i`` of a split is the same whatever ``num_examples`` is; ``start``
    skips the first examples.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        num_examples: number of images.
        image_size: side ``S`` of the square images, >= 16.
        num_classes: instance classes ``K`` (1..6): the first ``K`` shapes of
            :data:`~keras_segattn.data.SHAPES` are classes 1..K.
        max_instances: ``M``, the padded number of rows per image (an image
            holds at most ``M`` instances).
        seed: the data seed.
        start: index of the first example.

    Example:
        >>> from keras_segattn.data import instance_shapes_arrays
        >>> images, targets = instance_shapes_arrays("test", 2, image_size=32)
        >>> images.shape, targets["boxes"].shape, targets["classes"].shape, targets["masks"].shape
        ((2, 32, 32, 3), (2, 4, 4), (2, 4), (2, 4, 32, 32))
    """
    return _arrays("instance_shapes_arrays", split, num_examples, image_size, num_classes, max_instances, seed, start)


def _arrays(where, split, num_examples, image_size, num_classes, max_instances, seed, start):
    _check(where, split, num_examples, image_size, num_classes, max_instances, seed, start)
    n, s, m = int(num_examples), int(image_size), int(max_instances)
    images = np.empty((n, s, s, 3), np.float32)
    classes = np.zeros((n, m), np.int32)
    masks = np.zeros((n, m, s, s), np.uint8)
    for i in range(n):
        rng = np.random.default_rng([int(seed), _STREAM, SPLITS[split], int(start) + i])
        image, cls, mask = _render(rng, s, int(num_classes), m)
        images[i] = image
        classes[i, : len(cls)] = cls
        masks[i, : len(cls)] = mask
    return images, {"boxes": boxes_from_masks(masks), "classes": classes, "masks": masks}


def instance_shapes(
    split: str = "train",
    num_examples: int = 256,
    *,
    image_size: int = 64,
    num_classes: int = 3,
    max_instances: int = 4,
    seed: int = 0,
    batch_size: int | None = None,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(image float32 (S, S, 3), targets dict)`` pairs, not shuffled.

    The examples of :func:`instance_shapes_arrays` one by one (``targets``:
    ``"boxes"`` ``(M, 4)``, ``"classes"`` ``(M,)`` int32, ``"masks"`` ``(M, S, S)``
    uint8), or in batches of ``batch_size`` (the last one may be smaller).

    Example:
        >>> from keras_segattn.data import instance_shapes
        >>> image, targets = next(iter(instance_shapes("validation", 3, image_size=32, max_instances=5)))
        >>> image.dtype.name, tuple(targets["masks"].shape), targets["classes"].dtype.name
        ('float32', (5, 32, 32), 'int32')
    """
    batch_size = check_optional_int("instance_shapes", "batch_size", batch_size, minimum=1)
    images, targets = _arrays("instance_shapes", split, num_examples, image_size, num_classes, max_instances, seed, 0)
    ds = tf.data.Dataset.from_tensor_slices((images, targets))
    return ds if batch_size is None else ds.batch(batch_size)


# ----------------------------------------------------------------- COCO-format ground truth
def _said(where, argument, expected, received: str) -> str:
    """The library's error format with ``received`` written as is (a description, not a repr)."""
    return f"{where}: {argument} must be {expected}, received {received}."


def _shape(value):
    return f"shape {tuple(np.shape(value))}"


def check_targets(where: str, targets, argument: str = "targets"):
    """``targets`` as NumPy ``(boxes float32 (N, M, 4), classes int32 (N, M), masks bool (N, M, H, W))``.

    Raises ``ValueError`` naming ``argument`` for a missing key, a wrong rank or
    disagreeing shapes, class ids below 0, boxes outside [0, 1] or non-binary masks.
    """
    keys = ("boxes", "classes", "masks")
    expected = 'a dict with "boxes" (N, M, 4), "classes" (N, M) and "masks" (N, M, H, W)'
    if not isinstance(targets, dict):
        raise ValueError(message(where, argument, expected, targets))
    if any(k not in targets for k in keys):
        raise ValueError(f"{where}: {argument} must be {expected}, received a dict with keys {sorted(map(str, targets))}.")
    try:
        boxes = np.asarray(targets["boxes"], np.float32)
        classes = np.asarray(targets["classes"])
        masks = np.asarray(targets["masks"])
    except (TypeError, ValueError):
        raise ValueError(_said(where, argument, "a dict of numeric arrays", f"{type(targets['boxes']).__name__} values")) from None
    if masks.ndim != 4:
        raise ValueError(message(where, f'{argument}["masks"]', "of rank 4 (N, M, H, W)", _shape(masks)))
    n, m = masks.shape[:2]
    if classes.shape != (n, m):
        raise ValueError(message(where, f'{argument}["classes"]', f"of shape (N, M) = {(n, m)} like the masks",
                                 _shape(classes)))
    if boxes.shape != (n, m, 4):
        raise ValueError(message(where, f'{argument}["boxes"]', f"of shape (N, M, 4) = {(n, m, 4)} like the masks",
                                 _shape(boxes)))
    if classes.size and not (np.issubdtype(classes.dtype, np.integer) and classes.min() >= 0):
        raise ValueError(_said(where, f'{argument}["classes"]', "integer class ids >= 0 (0 marks padding)",
                                 f"dtype {classes.dtype}, min {classes.min()}"))
    if boxes.size and not (np.isfinite(boxes).all() and boxes.min() >= 0 and boxes.max() <= 1):
        raise ValueError(_said(where, f'{argument}["boxes"]', "normalised (y1, x1, y2, x2) in [0, 1]",
                                 f"values in [{np.nanmin(boxes)}, {np.nanmax(boxes)}]"))
    if masks.size and not np.isin(masks, (0, 1)).all():
        raise ValueError(_said(where, f'{argument}["masks"]', "binary (0/1)", f"values {np.unique(masks)[:5]}"))
    return boxes, classes.astype(np.int32), masks.astype(bool)


def _image_ids(where, image_ids, n):
    if image_ids is None:
        return list(range(1, n + 1))
    ids = list(image_ids) if isinstance(image_ids, (list, tuple, np.ndarray)) else None
    if ids is None or len(ids) != n or not all(is_int(i) for i in ids) or len(set(ids)) != n:
        raise ValueError(message(where, "image_ids", f"None or {n} distinct ints (one per image)", image_ids))
    return [int(i) for i in ids]


def _categories(where, class_names, classes):
    if class_names is None:
        count = int(classes.max()) if classes.size else 0
        return [{"id": k, "name": str(k)} for k in range(1, count + 1)]
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (list, tuple)) or not class_names \
            or not all(isinstance(c, str) for c in class_names):
        raise ValueError(message(where, "class_names", "None or a non-empty list of names (class k is name k-1)",
                                 class_names))
    if classes.size and classes.max() > len(class_names):
        raise ValueError(message(where, "class_names", f"a name for every class id up to {classes.max()}",
                                 class_names))
    return [{"id": k + 1, "name": name} for k, name in enumerate(class_names)]


def rle_encode(mask):
    """A binary ``(H, W)`` mask as COCO compressed RLE ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def xywh_pixels(box, height, width):
    """Normalised ``(y1, x1, y2, x2)`` -> COCO ``[x, y, width, height]`` in pixels."""
    y1, x1, y2, x2 = (float(v) for v in box)
    return [x1 * width, y1 * height, max(x2 - x1, 0.0) * width, max(y2 - y1, 0.0) * height]


def instances_to_coco(targets, image_size=None, *, class_names=None, image_ids=None) -> dict:
    """COCO-format ground truth (the ``instances_*.json`` layout) of padded ``targets``.

    Every non-padding row becomes an annotation with a compressed-RLE
    ``segmentation`` (``pycocotools.mask.encode``), ``bbox`` ``[x, y, w, h]`` in
    pixels from the row's box, ``area`` (mask pixels) and ``iscrowd`` 0.

    Args:
        targets: the padded layout (``"boxes"``, ``"classes"``, ``"masks"``
            ``(N, M, H, W)``).
        image_size: ``None`` (from the masks), or an int / ``(H, W)`` that must
            match the masks.
        class_names: names of classes 1..K (``categories`` ids 1..K); by default
            the classes up to the largest id, named by their number.
        image_ids: ``N`` distinct ints; by default 1..N.

    Example:
        >>> from keras_segattn.data import instance_shapes_arrays, instances_to_coco
        >>> _, targets = instance_shapes_arrays("test", 3, image_size=32)
        >>> coco = instances_to_coco(targets, class_names=["circle", "rectangle", "triangle"])
        >>> len(coco["images"]), len(coco["annotations"]) == int((targets["classes"] > 0).sum())
        (3, True)
        >>> sorted(coco["annotations"][0])
        ['area', 'bbox', 'category_id', 'id', 'image_id', 'iscrowd', 'segmentation']
    """
    return _to_coco("instances_to_coco", targets, image_size, class_names, image_ids)


def _to_coco(where, targets, image_size, class_names, image_ids):
    boxes, classes, masks = check_targets(where, targets)
    n, _, height, width = masks.shape
    if image_size is not None:
        pair = (image_size, image_size) if is_int(image_size) else image_size
        if not isinstance(pair, (tuple, list)) or tuple(pair) != (height, width):
            raise ValueError(message(where, "image_size", f"None or the masks' (H, W) = {(height, width)}",
                                     image_size))
    ids = _image_ids(where, image_ids, n)
    categories = _categories(where, class_names, classes)
    annotations = []
    for i, image_id in enumerate(ids):
        for j in np.flatnonzero(classes[i] > 0):
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": int(classes[i, j]),
                "segmentation": rle_encode(masks[i, j]),
                "area": int(masks[i, j].sum()),
                "bbox": xywh_pixels(boxes[i, j], height, width),
                "iscrowd": 0,
            })
    return {
        "images": [{"id": image_id, "height": int(height), "width": int(width), "file_name": f"{image_id}.png"}
                   for image_id in ids],
        "annotations": annotations,
        "categories": categories,
    }


def write_coco_annotations(path, targets, image_size=None, *, class_names=None, image_ids=None) -> str:
    """Write :func:`instances_to_coco` of ``targets`` as JSON to ``path`` atomically; returns ``path``.

    The file is written beside ``path`` and moved over it (``os.replace``), so
    ``path`` is always either the old file or the complete new one.

    Example:
        >>> import json, os, tempfile
        >>> from keras_segattn.data import instance_shapes_arrays, write_coco_annotations
        >>> _, targets = instance_shapes_arrays("test", 2, image_size=32)
        >>> path = write_coco_annotations(os.path.join(tempfile.mkdtemp(), "gt.json"), targets)
        >>> sorted(json.load(open(path)))
        ['annotations', 'categories', 'images']
    """
    from keras_segattn.training.atomic import atomic_write, check_path

    check_path("write_coco_annotations", "path", path)
    coco = _to_coco("write_coco_annotations", targets, image_size, class_names, image_ids)
    with atomic_write(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(coco, fh)
    return os.fspath(path)
