"""COCO-style evaluation of instance segmentation (mask and box AP) with pycocotools.

The metric of the instance-segmentation papers (SDS, Hypercolumns, MNC report
mask AP at IoU 0.5 and 0.7, the "AP^r" of Hariharan et al.; MS COCO reports AP
averaged over IoU 0.50:0.05:0.95): :func:`coco_instance_evaluation` turns the
library's padded targets and batched detections into COCO ground truth and
results and runs ``pycocotools.cocoeval.COCOeval`` twice, with ``iouType``
``"segm"`` and ``"bbox"``. Every AP is read from ``COCOeval.eval["precision"]``
(IoU threshold x 101 recall points x class x area range x max detections) at
area range "all" and 100 detections per image, averaged the way
``COCOeval.summarize`` does (entries of -1, classes without any ground truth,
left out). AP at 0.7 is read the same way at the 0.7 threshold, which
``summarize`` does not print.

Conventions (those of COCOeval, kept on purpose so the numbers compare):

* the classes are 1..K where K is the largest class id among the targets and
  the detections; a class with no ground-truth instance in any image has no
  AP (its detections are not counted against anything), as in COCO;
* a detection's mask is ``mask >= mask_threshold``; its box is its own
  ``"boxes"`` row (not the mask's extent);
* at most 100 detections per image and class are scored (the highest).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from keras_segattn.data.instance_shapes import (
    check_targets,
    instances_to_coco,
    rle_encode,
    xywh_pixels,
)
from keras_segattn.validation import check_number, message

__all__ = ["coco_instance_evaluation", "AP_KEYS"]

#: The AP entries of :func:`coco_instance_evaluation`'s result, all in [0, 1].
AP_KEYS = ("mask_ap", "mask_ap50", "mask_ap70", "mask_ap75", "box_ap", "box_ap50", "box_ap70", "box_ap75")
MAX_DETECTIONS = 100


def _said(where, argument, expected, received: str) -> str:
    """The library's error format with ``received`` written as is (a description, not a repr)."""
    return f"{where}: {argument} must be {expected}, received {received}."


def _shape(value):
    return f"shape {tuple(np.shape(value))}"


def _check_detections(where, detections, n, height, width):
    """NumPy ``(boxes, scores, classes, masks, num_detections)`` of a batch of ``n`` images of ``(height, width)``."""
    keys = ("boxes", "scores", "classes", "masks")
    expected = ('a dict with "boxes" (B, D, 4), "scores" (B, D), "classes" (B, D), "masks" (B, D, H, W) and '
                'optionally "num_detections" (B,)')
    if not isinstance(detections, dict):
        raise ValueError(message(where, "detections", expected, detections))
    if any(k not in detections for k in keys):
        raise ValueError(f"{where}: detections must be {expected}, received a dict with keys "
                         f"{sorted(map(str, detections))}.")
    try:
        boxes, scores, classes, masks = (np.asarray(detections[k]) for k in keys)
        masks = masks.astype(np.float32) if masks.dtype == bool else masks
    except (TypeError, ValueError):
        raise ValueError(_said(where, "detections", "a dict of numeric arrays", "a dict of ragged values")) from None
    if masks.ndim != 4 or masks.shape[0] != n or masks.shape[2:] != (height, width):
        raise ValueError(message(where, 'detections["masks"]',
                                 f"of shape (B, D, H, W) = ({n}, D, {height}, {width}): one row per image of "
                                 f"targets, at the targets' mask size", _shape(masks)))
    d = masks.shape[1]
    for key, value, shape in (("boxes", boxes, (n, d, 4)), ("scores", scores, (n, d)), ("classes", classes, (n, d))):
        if value.shape != shape:
            raise ValueError(message(where, f'detections["{key}"]', f"of shape {shape} like the masks (B, D)",
                                     _shape(value)))
    for key, value in (("boxes", boxes), ("scores", scores), ("masks", masks)):
        if not np.issubdtype(value.dtype, np.number) or not np.isfinite(value).all():
            raise ValueError(_said(where, f'detections["{key}"]', "finite numbers",
                                     f"dtype {value.dtype}" if not np.issubdtype(value.dtype, np.number)
                                     else "non-finite values"))
    if not np.issubdtype(classes.dtype, np.integer) or (classes.size and classes.min() < 0):
        raise ValueError(_said(where, 'detections["classes"]', "integer class ids >= 0 (0 marks an empty slot)",
                                 f"dtype {classes.dtype}" if not np.issubdtype(classes.dtype, np.integer)
                                 else f"min {classes.min()}"))
    count = detections.get("num_detections")
    if count is None:
        count = np.full((n,), d)
    else:
        count = np.asarray(count)
        if count.shape != (n,) or not np.issubdtype(count.dtype, np.integer) or (n and (count.min() < 0 or count.max() > d)):
            raise ValueError(message(where, 'detections["num_detections"]', f"ints in [0, {d}] of shape ({n},)",
                                     _shape(count) if count.shape != (n,) else count.tolist()))
    return boxes.astype(np.float64), scores.astype(np.float64), classes.astype(np.int64), masks, count


def _average(precision, thresholds, at=None):
    """COCOeval.summarize's mean over IoU thresholds (one, or all), recalls and classes; -1 entries left out."""
    if at is not None:
        precision = precision[np.flatnonzero(np.isclose(thresholds, at))]
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else float("nan")


def _evaluate(ground_truth, results, iou_type):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = ground_truth
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluation = COCOeval(coco_gt, coco_dt, iou_type)
        evaluation.params.maxDets = [1, 10, MAX_DETECTIONS]
        evaluation.evaluate()
        evaluation.accumulate()
    params = evaluation.params
    precision = evaluation.eval["precision"][:, :, :, params.areaRngLbl.index("all"), -1]
    thresholds = params.iouThrs
    return {
        "ap": _average(precision, thresholds),
        "ap50": _average(precision, thresholds, 0.5),
        "ap70": _average(precision, thresholds, 0.7),
        "ap75": _average(precision, thresholds, 0.75),
    }


def coco_instance_evaluation(targets, detections, *, mask_threshold: float = 0.5) -> dict:
    """Mask and box AP of a batch of ``detections`` against padded ``targets`` (pycocotools' COCOeval).

    Args:
        targets: the padded ground truth of :func:`~keras_segattn.data.instance_shapes_arrays`:
            ``"boxes"`` ``(N, M, 4)`` normalised ``(y1, x1, y2, x2)``, ``"classes"``
            ``(N, M)`` (0 = padding), ``"masks"`` ``(N, M, H, W)`` binary.
        detections: what the instance models return for the same ``N`` images:
            ``"boxes"`` ``(N, D, 4)``, ``"scores"`` ``(N, D)``, ``"classes"`` ``(N, D)``
            (0 = empty slot), ``"masks"`` ``(N, D, H, W)`` probabilities and
            ``"num_detections"`` ``(N,)`` (slots past it are empty; optional).
        mask_threshold: a detection's mask is ``mask >= mask_threshold``, in (0, 1].

    Returns:
        ``{"mask_ap", "mask_ap50", "mask_ap70", "mask_ap75", "box_ap", "box_ap50",
        "box_ap70", "box_ap75"}`` floats in [0, 1] (AP averaged over IoU
        0.50:0.05:0.95, and at IoU 0.5, 0.7 and 0.75), and the counts
        ``"images"``, ``"instances"`` (ground truth) and ``"detections"`` (scored).
        Images with no detection count their instances as missed; no detection
        at all gives AP 0.

    Raises:
        ValueError: for malformed inputs (naming the argument, with the received
            and expected shapes), and when ``targets`` holds no instance at all:
            AP is undefined without ground truth (COCOeval returns -1).

    Example:
        >>> from keras_segattn.data import instance_shapes_arrays
        >>> from keras_segattn.training import coco_instance_evaluation
        >>> _, targets = instance_shapes_arrays("test", 4, image_size=32)
        >>> perfect = {"boxes": targets["boxes"], "classes": targets["classes"],
        ...            "scores": (targets["classes"] > 0).astype("float32"), "masks": targets["masks"]}
        >>> result = coco_instance_evaluation(targets, perfect)
        >>> result["mask_ap"], result["box_ap70"], result["images"]
        (1.0, 1.0, 4)
    """
    where = "coco_instance_evaluation"
    threshold = check_number(where, "mask_threshold", mask_threshold, minimum=0, exclusive_minimum=True, maximum=1)
    gt_boxes, gt_classes, gt_masks = check_targets(where, targets)
    n, _, height, width = gt_masks.shape
    instances = int((gt_classes > 0).sum())
    if instances == 0:
        raise ValueError(f"{where}: targets must hold at least one instance (a row with class > 0) to score "
                         f"against, received {n} images with only padding rows; AP is undefined without ground truth.")
    boxes, scores, classes, masks, count = _check_detections(where, detections, n, height, width)

    ground_truth = instances_to_coco({"boxes": gt_boxes, "classes": gt_classes, "masks": gt_masks})
    segm, bbox = [], []
    for i in range(n):
        for j in range(int(count[i])):
            if classes[i, j] <= 0:
                continue
            common = {"image_id": i + 1, "category_id": int(classes[i, j]), "score": float(scores[i, j])}
            segm.append({**common, "segmentation": rle_encode(masks[i, j] >= threshold)})
            bbox.append({**common, "bbox": xywh_pixels(np.clip(boxes[i, j], 0, 1), height, width)})
    # Classes 1..K over both sides: a detected class without ground truth is simply not scored.
    top = max(int(gt_classes.max()), max((d["category_id"] for d in segm), default=0))
    ground_truth["categories"] = [{"id": k, "name": str(k)} for k in range(1, top + 1)]

    result = {}
    for prefix, iou_type, results in (("mask", "segm", segm), ("box", "bbox", bbox)):
        # pycocotools cannot load an empty result list; no detection at all is AP 0.
        aps = _evaluate(ground_truth, results, iou_type) if results else dict.fromkeys(("ap", "ap50", "ap70", "ap75"), 0.0)
        result.update({f"{prefix}_{k}": v for k, v in aps.items()})
    result.update(images=int(n), instances=instances, detections=len(segm))
    return result
