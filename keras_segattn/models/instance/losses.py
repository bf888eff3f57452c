"""Training targets and losses of the instance-segmentation heads (graph functions, XLA-compilable).

Ground truth arrives in the library's padded layout (:mod:`keras_segattn.data.instance_shapes`):
``targets = {"boxes": (B, M, 4), "classes": (B, M) with 0 for padding, "masks": (B, M, H, W)}``.
"""

from __future__ import annotations

import tensorflow as tf

from keras_segattn.models.instance.boxes import box_iou, encode_boxes
from keras_segattn.models.instance.roi_features import crop_boxes
from keras_segattn.models.instance.roi_ops import REFINE_WEIGHTS


def _huber(x, delta=1.0 / 9):
    x = tf.abs(x)
    return tf.where(x < delta, 0.5 * x * x / delta, x - 0.5 * delta)


def _masked_mean(values, weights):
    weights = tf.cast(weights, values.dtype)
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def _gt(targets):
    boxes = tf.cast(targets["boxes"], "float32")
    classes = tf.cast(targets["classes"], "int32")
    return boxes, classes, classes > 0


def match(boxes, targets):
    """Each box's best-overlapping ground-truth instance: ``(iou (B, N), index (B, N))``; IoU 0 with no instance."""
    gt_boxes, _, present = _gt(targets)
    iou = box_iou(boxes, gt_boxes) * tf.cast(present[:, None, :], "float32")
    iou = tf.concat([iou, tf.zeros_like(iou[..., :1])], axis=-1)  # an image without instances matches nothing
    index = tf.argmax(iou, axis=-1, output_type=tf.int32)
    return tf.reduce_max(iou, axis=-1), tf.minimum(index, tf.shape(gt_boxes)[1] - 1)


def rpn_loss(anchors, logits, deltas, targets, positive_iou=0.7, negative_iou=0.3):
    """Faster R-CNN's RPN loss (Ren et al. 2015, eq. 1) over all anchors, positives and negatives weighted equally.

    An anchor is positive at IoU >= ``positive_iou`` with an instance, or as an
    instance's best anchor; negative below ``negative_iou``; ignored between.
    Objectness: binary cross-entropy, the mean over positives plus the mean
    over negatives; boxes: smooth L1 on the encoded deltas of positives.
    Returns ``(objectness loss, box loss)``.
    """
    gt_boxes, _, present = _gt(targets)
    anchors = tf.cast(anchors, "float32")
    iou = box_iou(anchors[None], gt_boxes) * tf.cast(present[:, None, :], "float32")  # (B, A, M)
    best_per_gt = tf.reduce_max(iou, axis=1, keepdims=True)
    is_best = tf.reduce_any((iou >= best_per_gt - 1e-6) & (best_per_gt > 0) & present[:, None, :], axis=-1)
    max_iou = tf.reduce_max(iou, axis=-1)
    positive = (max_iou >= positive_iou) | is_best
    negative = (max_iou < negative_iou) & ~positive
    logits = tf.cast(logits, "float32")
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(positive, "float32"), logits=logits)
    objectness = _masked_mean(bce, positive) + _masked_mean(bce, negative)
    matched = tf.gather(gt_boxes, tf.argmax(iou, axis=-1, output_type=tf.int32), batch_dims=1)
    target_deltas = encode_boxes(matched, anchors[None])
    box = _masked_mean(tf.reduce_sum(_huber(tf.cast(deltas, "float32") - target_deltas), -1), positive)
    return objectness, box


def mask_targets(boxes, index, targets, mask_size):
    """``(B, R, m, m)`` float targets: each box's matched instance mask, sampled at the box's cell centres."""
    masks = tf.cast(targets["masks"], "float32")  # (B, M, H, W)
    height, width = masks.shape[2], masks.shape[3]
    channels = tf.transpose(masks, [0, 2, 3, 1])  # instances as channels: one warp crops all of them
    crops = _crop(channels, tf.stop_gradient(boxes), (height, width), (mask_size, mask_size))  # (B, R, m, m, M)
    chosen = tf.one_hot(index, tf.shape(masks)[1], dtype=crops.dtype)  # (B, R, M)
    return tf.cast(tf.einsum("brijm,brm->brij", crops, chosen) >= 0.5, "float32")


_WARPS = {}


def _crop(images, boxes, image_size, crop_size):
    from keras_segattn.layers import RoIWarp

    # one weight-free warp per crop size, reused by every traced step
    warp = _WARPS.setdefault(tuple(crop_size), RoIWarp(crop_size, name=f"target_warp_{crop_size[0]}"))
    return warp([images, crop_boxes(boxes, image_size, crop_size)])


def stage_losses(boxes, valid, class_logits, mask_logits, targets, *, foreground_iou=0.5, box_deltas=None):
    """The per-RoI losses of MNC's stages 2-3 (Dai et al. 2016, eq. 2-3) for one set of boxes.

    Boxes with IoU >= ``foreground_iou`` are foreground and take their
    instance's class, the rest background (class 0). Classification: softmax
    cross-entropy over the valid boxes; masks: per-pixel binary cross-entropy
    over the foreground boxes; with ``box_deltas``, smooth L1 box refinement
    over the foreground boxes. Returns a dict of scalar losses.
    """
    _, gt_classes, _ = _gt(targets)
    boxes = tf.stop_gradient(tf.cast(boxes, "float32"))
    iou, index = match(boxes, targets)
    valid = tf.cast(valid, "float32") > 0
    foreground = (iou >= foreground_iou) & valid
    labels = tf.where(foreground, tf.gather(gt_classes, index, batch_dims=1), 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(class_logits, "float32"))
    losses = {"classification": _masked_mean(ce, valid)}
    mask_logits = tf.cast(mask_logits, "float32")
    truth = mask_targets(boxes, index, targets, mask_logits.shape[-1])
    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=truth, logits=mask_logits), axis=[-2, -1])
    losses["mask"] = _masked_mean(bce, foreground)
    if box_deltas is not None:
        gt_boxes = tf.gather(tf.cast(targets["boxes"], "float32"), index, batch_dims=1)
        target = encode_boxes(gt_boxes, boxes, REFINE_WEIGHTS)
        losses["box"] = _masked_mean(tf.reduce_sum(_huber(tf.cast(box_deltas, "float32") - target, 1.0), -1),
                                     foreground)
    return losses
