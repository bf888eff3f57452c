"""Box geometry shared by the instance-segmentation models: IoU, anchors, encoding, NMS, mask pasting.

Boxes are normalised ``(y1, x1, y2, x2)`` in image fractions (``tf.image``'s
order), measured at pixel *edges*: a box covering pixel columns ``c0..c1``
(inclusive) of a ``W``-wide image has ``x1 = c0 / W`` and ``x2 = (c1 + 1) / W``.
Every function is a TensorFlow graph function that runs under XLA and converts
to TFLite builtins (NMS is ``tf.image.non_max_suppression_padded``, measured to
do both); the tests compare each with a NumPy reference.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from keras_segattn.validation import check_int_pair, check_positive_numbers

__all__ = [
    "BBOX_CLIP",
    "box_iou",
    "clip_boxes",
    "decode_boxes",
    "encode_boxes",
    "generate_anchors",
    "batched_nms",
    "paste_masks",
]

#: the largest log-scale a decoded box may grow by (Faster R-CNN's log(1000 / 16)): keeps exp() finite
BBOX_CLIP = math.log(1000.0 / 16)


def box_iou(boxes_a, boxes_b):
    """Pairwise intersection over union: ``(..., N, 4)`` x ``(..., M, 4)`` -> ``(..., N, M)``.

    Degenerate boxes (zero or negative area) have IoU 0 with everything.
    """
    a = tf.convert_to_tensor(boxes_a)
    b = tf.cast(boxes_b, a.dtype)
    ay1, ax1, ay2, ax2 = tf.unstack(a[..., :, None, :], axis=-1)
    by1, bx1, by2, bx2 = tf.unstack(b[..., None, :, :], axis=-1)
    height = tf.maximum(tf.minimum(ay2, by2) - tf.maximum(ay1, by1), 0.0)
    width = tf.maximum(tf.minimum(ax2, bx2) - tf.maximum(ax1, bx1), 0.0)
    intersection = height * width
    area_a = tf.maximum(ay2 - ay1, 0.0) * tf.maximum(ax2 - ax1, 0.0)
    area_b = tf.maximum(by2 - by1, 0.0) * tf.maximum(bx2 - bx1, 0.0)
    union = area_a + area_b - intersection
    return tf.math.divide_no_nan(intersection, union)


def clip_boxes(boxes):
    """Boxes clipped to the image, ``[0, 1]``."""
    return tf.clip_by_value(boxes, 0.0, 1.0)


def _centres(boxes):
    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
    height, width = y2 - y1, x2 - x1
    return y1 + 0.5 * height, x1 + 0.5 * width, height, width


def encode_boxes(boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    """Regression targets of ``boxes`` relative to ``anchors`` (Girshick et al., R-CNN appendix C).

    ``(dy, dx, dh, dw) = (wy (y - ya) / ha, wx (x - xa) / wa, wh log(h / ha), ww log(w / wa))``
    with box centres ``y, x`` and sizes ``h, w``; shapes broadcast. Sizes are
    floored at 1e-6 so degenerate boxes give finite targets.
    """
    boxes = tf.convert_to_tensor(boxes)
    anchors = tf.cast(anchors, boxes.dtype)
    y, x, h, w = _centres(boxes)
    ya, xa, ha, wa = _centres(anchors)
    h, w = tf.maximum(h, 1e-6), tf.maximum(w, 1e-6)
    ha, wa = tf.maximum(ha, 1e-6), tf.maximum(wa, 1e-6)
    wy, wx, wh, ww = weights
    return tf.stack([wy * (y - ya) / ha, wx * (x - xa) / wa, wh * tf.math.log(h / ha), ww * tf.math.log(w / wa)], -1)


def decode_boxes(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    """The inverse of :func:`encode_boxes`: ``(..., 4)`` deltas on anchors -> boxes ``(y1, x1, y2, x2)``.

    The log-scales are clipped at :data:`BBOX_CLIP` (an untrained head must not overflow).
    """
    deltas = tf.convert_to_tensor(deltas)
    anchors = tf.cast(anchors, deltas.dtype)
    ya, xa, ha, wa = _centres(anchors)
    wy, wx, wh, ww = weights
    dy, dx, dh, dw = tf.unstack(deltas, axis=-1)
    y = ya + dy / wy * ha
    x = xa + dx / wx * wa
    h = ha * tf.exp(tf.minimum(dh / wh, BBOX_CLIP))
    w = wa * tf.exp(tf.minimum(dw / ww, BBOX_CLIP))
    return tf.stack([y - 0.5 * h, x - 0.5 * w, y + 0.5 * h, x + 0.5 * w], axis=-1)


def generate_anchors(feature_size, image_size, sizes, aspect_ratios=(0.5, 1.0, 2.0)) -> np.ndarray:
    """Anchor boxes of a region proposal network (Ren et al., Faster R-CNN, NIPS 2015, section 3.1.1).

    One anchor per feature-map cell, size (``sizes``, in image pixels) and
    aspect ratio (height / width), centred on the cell; ordered cell-major
    (row, column), then size, then ratio, which is the order of a
    ``(B, Hf, Wf, A)`` head output reshaped to ``(B, Hf * Wf * A)``.

    Args:
        feature_size: ``(Hf, Wf)`` of the feature map.
        image_size: ``(H, W)`` of the image in pixels.
        sizes: anchor sides in pixels (the square root of the area).
        aspect_ratios: height / width ratios.

    Returns:
        ``(Hf * Wf * len(sizes) * len(aspect_ratios), 4)`` float32 normalised boxes (may extend past the image).

    Example:
        >>> generate_anchors((2, 2), (32, 32), sizes=(16,), aspect_ratios=(1.0,))[0].tolist()
        [0.0, 0.0, 0.5, 0.5]
    """
    feature_size = check_int_pair("generate_anchors", "feature_size", feature_size)
    image_size = check_int_pair("generate_anchors", "image_size", image_size)
    sizes = check_positive_numbers("generate_anchors", "sizes", sizes)
    aspect_ratios = check_positive_numbers("generate_anchors", "aspect_ratios", aspect_ratios)
    (fh, fw), (height, width) = feature_size, image_size
    cy = (np.arange(fh) + 0.5) / fh
    cx = (np.arange(fw) + 0.5) / fw
    shapes = np.array([(s * math.sqrt(r) / height, s / math.sqrt(r) / width) for s in sizes for r in aspect_ratios])
    cy, cx = np.meshgrid(cy, cx, indexing="ij")
    centres = np.stack([cy, cx], -1).reshape(-1, 1, 2)
    half = shapes[None] / 2
    anchors = np.concatenate([centres - half, centres + half], axis=-1)
    # + 0.0 turns any -0.0 into 0.0, so printed anchors do not depend on the machine's arithmetic.
    return (anchors.reshape(-1, 4) + 0.0).astype(np.float32)


def batched_nms(boxes, scores, max_output_size: int, iou_threshold: float = 0.5, score_threshold=float("-inf")):
    """Greedy non-maximum suppression per batch element, padded to ``max_output_size``.

    ``tf.image.non_max_suppression_padded`` over ``boxes (B, N, 4)`` and
    ``scores (B, N)``: it runs batched, under XLA and in TFLite with builtin
    ops (measured), where ``tf.image.non_max_suppression`` takes one image.

    Returns:
        ``(indices (B, max_output_size) int32, valid (B,) int32)``: the kept
        boxes' indices in descending score order, then zeros; ``valid`` counts the kept ones.
    """
    indices, valid = tf.image.non_max_suppression_padded(
        boxes,
        scores,
        max_output_size,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        pad_to_max_output_size=True,
        sorted_input=False,
        canonicalized_coordinates=True,
    )
    return indices, valid


def _paste_weights(lo, hi, size: int, mask_size: int):
    """``(..., size, mask_size)`` bilinear weights: image pixel centre ``i`` -> mask cells of box ``[lo, hi]``."""
    extent = tf.maximum(hi - lo, 1e-6)
    centres = (tf.range(size, dtype=lo.dtype) + 0.5) / size
    # the image pixel centre's position in mask-cell units (cell k's centre is at k)
    position = (centres - lo[..., None]) / extent[..., None] * mask_size - 0.5
    cells = tf.range(mask_size, dtype=lo.dtype)
    # the bilinear "hat": zero past half a cell outside the mask (the mask is zero-padded)
    return tf.maximum(1.0 - tf.abs(position[..., :, None] - cells), 0.0)


def paste_masks(masks, boxes, image_size):
    """Paste ``(B, D, m, m)`` box-relative masks into ``(B, D, H, W)`` image-sized masks.

    Mask cell ``(k, l)`` covers the ``k``-th of ``m`` equal rows of the box;
    each image pixel takes the bilinear interpolation of the mask at its
    centre (zero outside the box, fading over half a cell), as Mask R-CNN's
    paste does. Written as two matrix products (separable weights), which XLA,
    TFLite and ONNX all run.
    """
    height, width = image_size
    masks = tf.convert_to_tensor(masks)
    boxes = tf.cast(boxes, masks.dtype)
    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
    rows = _paste_weights(y1, y2, height, masks.shape[-2])  # (B, D, H, m)
    cols = _paste_weights(x1, x2, width, masks.shape[-1])  # (B, D, W, m)
    return tf.matmul(tf.matmul(rows, masks), cols, transpose_b=True)
