"""Simultaneous Detection and Segmentation (Hariharan, Arbeláez, Girshick & Malik, ECCV 2014).

SDS classifies and segments *given* region proposals (MCG in the paper):

1. **proposals** come in beside the image, ``proposals (B, P, 4)`` boxes, so any
   proposal method plugs in; the built-in source for the embedded data is
   :func:`~keras_segattn.models.instance.proposal_source.sliding_window_proposals`
   (recorded in the model, ``model.default_proposals``). ``P`` is fixed when the
   model is built: pad a shorter list with zero boxes (degenerate boxes are
   ignored: they score 0 and are never detected);
2. two pathways per proposal (section 3): the **box pathway** sees the features
   of the proposal's box, the **region pathway** the same features with the
   background masked out (the region's foreground only); their fc7 features are
   concatenated and classified per category (``K + 1`` logits);
3. **region refinement** (section 5): a coarse ``10 x 10`` figure-ground grid
   over the box, then a refined ``m x m`` mask from the features and the coarse
   mask;
4. **region NMS**: greedy non-maximum suppression by *mask* overlap (region IoU)
   among regions of the same category, not box overlap.

Departures from the paper, all for one end-to-end trainable Keras graph:

* The pathways share one convolutional trunk and read its features under each
  box by differentiable RoI warping (Fast R-CNN / MNC style) instead of running
  two CNNs on warped image crops; boxes keep R-CNN's context (``context_padding``:
  16 pixels around a 195-pixel box in the 227-pixel warp).
* Proposals are boxes, not MCG regions, so the region pathway's foreground is
  the predicted coarse mask (the refinement's 10 x 10 grid: one linear
  classifier per cell, as in the paper, over the box pathway's fc7 features and
  the box's RoI feature grid) multiplied into the box features
  (:class:`~keras_segattn.models.instance.MaskedRoIFeatures`), not the MCG
  region's pixels on the image crop. The feature grid was added because fc7
  alone learned masks slowly: on the embedded data (sds_tiny, 256 steps, one
  run each) mask AP@0.5 was 0.11 with fc7 only, 0.25 with the grid in the
  refinement and 0.32 with it in both mask heads.
* The categories are scored by a softmax classifier trained jointly (as in Fast
  R-CNN / MNC) instead of per-category SVMs; its loss weights the foreground
  regions by R-CNN's 25 % minibatch fraction (in expectation) instead of sampling.
* The refinement's second stage (the paper's superpixel projection of the
  coarse mask, combined with the MCG region) is an fc layer over the box's RoI
  feature grid and the coarse mask giving a class-agnostic ``m x m`` mask.

Output: the shared detection dict of :mod:`keras_segattn.models.instance` plus
the heads' raw outputs; ``model.fit([images, proposals], targets)`` trains it.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.backbones.vgg16 import load_vgg16_weights, preprocessing, vgg16_features
from keras_segattn.models._common import check_backbone_weights, check_image_shape
from keras_segattn.models.instance import losses
from keras_segattn.models.instance.boxes import paste_masks
from keras_segattn.models.instance.model import InstanceSegmentationModel, register_loss
from keras_segattn.models.instance.proposal_boxes import ProposalBoxes
from keras_segattn.models.instance.proposal_source import sliding_window_proposals
from keras_segattn.models.instance.roi_features import RoIFeatures
from keras_segattn.models.instance.roi_ops import MaskedRoIFeatures, RoIMaxPooling
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_int_pair,
    check_int_tuple,
    check_number,
    check_positive_int,
    check_positive_numbers,
    message,
)

__all__ = [
    "sds",
    "sds_loss",
    "ProposalBoxes",
    "RegionDetections",
    "mask_iou",
    "greedy_nms",
    "PAPER",
    "TINY",
]

PAPER = "Hariharan, Arbeláez, Girshick & Malik, Simultaneous Detection and Segmentation, ECCV 2014"

#: R-CNN's context: 16 pixels of image around the box in the 227-pixel warp (the box fills 195)
RCNN_CONTEXT = 16 / 195
#: a region is foreground at box IoU >= this with an instance (SDS / R-CNN fine-tuning)
FOREGROUND_IOU = 0.5
#: R-CNN's foreground fraction of a fine-tuning minibatch (32 of 128 regions)
FOREGROUND_FRACTION = 0.25
#: region NMS compares binary masks pasted on a grid of at most this side (the image's, when smaller)
OVERLAP_GRID = 128

#: the tiny variant (tests, demo): 64x64 images, a 3-stage VGG-style trunk at stride 4, 192 sliding windows
TINY = dict(
    num_classes=3,
    input_shape=(64, 64, 3),
    backbone_widths=(16, 32, 48),
    backbone_depths=(1, 1, 2),
    proposal_sizes=(16.0, 24.0, 32.0),
    proposal_aspect_ratios=(1.0,),
    proposal_stride=8,
    roi_size=4,
    head_units=128,
    coarse_mask_size=10,
    mask_size=16,
    mask_units=128,
    max_detections=8,
    pre_nms_top_k=64,
)


# --------------------------------------------------------------------- region NMS
def mask_iou(masks):
    """Pairwise IoU of binary masks: ``(B, N, H, W)`` -> ``(B, N, N)``; two empty masks have IoU 0.

    One matrix product over the flattened masks (XLA, TFLite and ONNX run it).
    """
    masks = tf.cast(masks, "float32")
    return _mask_iou_flat(tf.reshape(masks, [-1, masks.shape[1], masks.shape[2] * masks.shape[3]]))


def _mask_iou_flat(flat):
    intersection = tf.matmul(flat, flat, transpose_b=True)
    area = tf.reduce_sum(flat, axis=-1)
    union = area[..., :, None] + area[..., None, :] - intersection
    return intersection / tf.maximum(union, 1.0)


def greedy_nms(overlaps, eligible, threshold):
    """Greedy NMS over a precomputed overlap matrix: ``(B, N, N)``, ``(B, N)`` -> keep ``(B, N)`` float 0/1.

    The candidates are in descending score order; candidate ``i`` is kept if it
    is eligible and no kept candidate ``j < i`` overlaps it by more than
    ``threshold``. Not ``tf.image.non_max_suppression_overlaps``: it takes one
    image at a time, and (measured, TF 2.21) XLA has no kernel for its
    ``NonMaxSuppressionWithOverlaps`` and TFLite converts it only as a Flex op.
    Computed as the fixed point of
    ``keep_i = eligible_i and not any_j (j < i, keep_j, overlap_ji > t)``,
    iterated from "all eligible": after ``t`` passes the first ``t`` decisions
    are final, so a ``tf.while_loop`` of at most ``N`` passes (usually a few;
    each one matrix-vector product) gives exactly the greedy result. Measured
    to run under XLA, in TFLite with builtin ops (``WHILE``) and in ONNX (``Loop``).
    """
    overlaps = tf.cast(overlaps, "float32")
    count = overlaps.shape[-1]
    earlier = tf.constant(np.triu(np.ones((count, count), np.float32), 1))  # [j, i] = 1 where j < i
    suppresses = tf.cast(overlaps > threshold, "float32") * earlier
    eligible = tf.cast(eligible, "float32")

    def step(keep, changed):
        hits = tf.squeeze(tf.matmul(keep[:, None, :], suppresses), 1)  # kept earlier candidates overlapping i
        new = eligible * tf.cast(hits < 0.5, "float32")
        return new, tf.reduce_any(tf.not_equal(new, keep))

    keep, _ = tf.while_loop(lambda keep, changed: changed, step, (eligible, tf.constant(True)),
                            maximum_iterations=count)
    return keep


@keras.saving.register_keras_serializable(package="keras_segattn")
class RegionDetections(keras.layers.Layer):
    """Scored regions -> at most ``max_detections`` instances per image after region NMS.

    Each valid region takes its best foreground class (softmax over ``K + 1``
    logits, index 0 the background) and that probability as its score. The
    ``pre_nms_top_k`` best regions' masks (sigmoid of the logits, pasted into
    their context boxes on a grid of ``overlap_size`` and thresholded at 0.5)
    give the region overlaps (:func:`mask_iou`); greedy NMS (:func:`greedy_nms`)
    suppresses a region overlapping a better one *of its category* by more than
    ``nms_iou``; the best ``max_detections`` survivors scoring at least
    ``score_threshold`` are returned, their masks pasted at image size.

    Args:
        image_size: ``(H, W)`` of the output masks.
        max_detections: ``D``, slots per image.
        nms_iou: region (mask) IoU above which a lower-scored region of the same category is suppressed.
        score_threshold: the least score a detection needs.
        pre_nms_top_k: regions entering the NMS (at most ``P``).
        overlap_size: ``(h, w)`` grid of the masks compared by the NMS (default: ``image_size``).

    Call arguments:
        inputs: ``[boxes (B, P, 4), mask_boxes (B, P, 4), class_logits (B, P, K + 1), mask_logits (B, P, m, m),
            valid (B, P)]``: the detected box, the box the mask covers, and ``valid`` > 0 for real regions.

    Returns:
        ``[boxes (B, D, 4), scores (B, D), classes (B, D) int32, masks (B, D, H, W), num_detections (B,) int32]``,
        best first; empty slots are all zeros (class 0).
    """

    def __init__(self, image_size, max_detections=100, nms_iou=0.3, score_threshold=0.05, pre_nms_top_k=300,
                 overlap_size=None, **kwargs):
        super().__init__(**kwargs)
        where = "RegionDetections"
        self.image_size = check_int_pair(where, "image_size", image_size)
        self.max_detections = check_positive_int(where, "max_detections", max_detections)
        self.nms_iou = check_number(where, "nms_iou", nms_iou, minimum=0, maximum=1)
        self.score_threshold = check_number(where, "score_threshold", score_threshold, minimum=0, maximum=1)
        self.pre_nms_top_k = check_positive_int(where, "pre_nms_top_k", pre_nms_top_k)
        self.overlap_size = self.image_size if overlap_size is None else check_int_pair(where, "overlap_size",
                                                                                      overlap_size)

    def compute_output_shape(self, input_shape):
        batch, d = input_shape[0][0], self.max_detections
        return (batch, d, 4), (batch, d), (batch, d), (batch, d, *self.image_size), (batch,)

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape([tuple(x.shape) for x in inputs])
        dtypes = ("float32", "float32", "int32", "float32", "int32")
        return [keras.KerasTensor(s, dtype=d) for s, d in zip(shapes, dtypes)]

    def call(self, inputs):
        boxes, mask_boxes, class_logits, mask_logits, valid = inputs
        regions = boxes.shape[1]
        top_k = min(self.pre_nms_top_k, regions)
        slots = min(self.max_detections, top_k)
        probabilities = tf.nn.softmax(tf.cast(class_logits, "float32"))[..., 1:]
        valid = tf.cast(valid, "float32") > 0
        scores = tf.where(valid, tf.reduce_max(probabilities, axis=-1), 0.0)
        classes = tf.cast(tf.argmax(probabilities, axis=-1), "int32") + 1
        top_scores, order = tf.math.top_k(scores, top_k)

        def pick(x, index):
            return tf.gather(x, index, batch_dims=1)

        boxes, mask_boxes = pick(tf.cast(boxes, "float32"), order), pick(tf.cast(mask_boxes, "float32"), order)
        classes, valid = pick(classes, order), pick(valid, order)
        masks = tf.sigmoid(pick(tf.cast(mask_logits, "float32"), order))
        grid = paste_masks(masks, mask_boxes, self.overlap_size)
        binary = tf.cast(grid >= 0.5, "float32")
        overlaps = mask_iou(binary)
        overlaps = overlaps * tf.cast(tf.equal(classes[:, :, None], classes[:, None, :]), "float32")
        keep = greedy_nms(overlaps, valid & (top_scores >= self.score_threshold), self.nms_iou)
        # the kept regions first, in score order: rank them by (kept, earlier)
        rank = keep * tf.range(top_k, 0, -1, dtype="float32")
        chosen = tf.math.top_k(rank, slots).indices
        count = tf.minimum(tf.cast(tf.reduce_sum(keep, axis=-1), "int32"), slots)
        slot = tf.cast(tf.range(slots)[None, :] < count[:, None], "float32")
        out_boxes = pick(boxes, chosen) * slot[..., None]
        out_scores = pick(top_scores, chosen) * slot
        out_classes = pick(classes, chosen) * tf.cast(slot, "int32")
        out_masks = paste_masks(pick(masks, chosen), pick(mask_boxes, chosen), self.image_size) * slot[..., None, None]
        missing = self.max_detections - slots  # fewer regions than slots: empty slots at the end
        if missing:
            out_boxes = tf.pad(out_boxes, [[0, 0], [0, missing], [0, 0]])
            out_scores = tf.pad(out_scores, [[0, 0], [0, missing]])
            out_classes = tf.pad(out_classes, [[0, 0], [0, missing]])
            out_masks = tf.pad(out_masks, [[0, 0], [0, missing], [0, 0], [0, 0]])
        return [out_boxes, out_scores, out_classes, out_masks, count]

    def get_config(self):
        config = super().get_config()
        config.update(image_size=self.image_size, max_detections=self.max_detections, nms_iou=self.nms_iou,
                      score_threshold=self.score_threshold, pre_nms_top_k=self.pre_nms_top_k,
                      overlap_size=self.overlap_size)
        return config


# --------------------------------------------------------------------- the model
def sds(
    num_classes=20,
    input_shape=(512, 512, 3),
    backbone_widths=(64, 128, 256, 512, 512),
    backbone_depths=(2, 2, 3, 3, 3),
    backbone_weights=None,
    proposal_sizes=(64.0, 128.0, 256.0),
    proposal_aspect_ratios=(0.5, 1.0, 2.0),
    proposal_stride=32,
    context_padding=RCNN_CONTEXT,
    roi_size=7,
    head_units=4096,
    coarse_mask_size=10,
    mask_size=28,
    mask_units=512,
    max_detections=100,
    pre_nms_top_k=300,
    nms_iou=0.3,
    score_threshold=0.05,
    name=None,
):
    """SDS with a VGG16 trunk (the paper's configuration by default).

    Args:
        num_classes: ``K`` object classes (VOC: 20); class 0 is background.
        input_shape: ``(H, W, 3)`` raw RGB in ``[0, 255]``; static (the proposal count is fixed).
        backbone_widths, backbone_depths: the VGG-style trunk (VGG16: 5 stages); the heads read the last
            stage's convolutions (stride ``2 ** (stages - 1)``: 16 for VGG16's conv5_3).
        backbone_weights: ``None``, ``"imagenet"`` or a weights file (VGG16 widths only); ImageNet's fc6/fc7
            initialise both pathways' fc layers, as in the paper (with ``roi_size`` 7).
        proposal_sizes, proposal_aspect_ratios, proposal_stride: the built-in sliding-window proposals
            (pixels; height / width; pixels) the model is built for: they fix ``P``, the proposals input's
            length (the paper's MCG gives ~2000 regions per image; the defaults give 2304 at 512 x 512).
        context_padding: each box grows by this fraction of its size on every side before its features are
            read (R-CNN's 16 / 195).
        roi_size: RoI features are warped to ``2 roi_size`` and max-pooled to ``roi_size`` (VGG's pool5: 7).
        head_units: each pathway's fc6 / fc7 width (VGG: 4096).
        coarse_mask_size: the coarse figure-ground grid's side (the paper: 10).
        mask_size: ``m``, the refined mask's side.
        mask_units: the refinement's hidden fc width.
        max_detections: ``D`` output slots per image.
        pre_nms_top_k: best-scored regions entering the region NMS.
        nms_iou: region-overlap (mask IoU) threshold of the per-category NMS.
        score_threshold: the least score kept.
        name: model name.

    Returns:
        An :class:`~keras_segattn.models.instance.InstanceSegmentationModel`, ``[images, proposals]`` -> dict with
        ``boxes (B, D, 4)``, ``scores (B, D)``, ``classes (B, D)``, ``masks (B, D, H, W)``,
        ``num_detections (B,)`` and the raw ``proposal_boxes`` (clipped, zeros where invalid; not named
        ``proposals`` like the input: tf2onnx cannot convert an output named like an input),
        ``proposal_valid``, ``context_boxes``, ``class_logits (B, P, K + 1)``, ``coarse_mask_logits
        (B, P, c, c)`` and ``mask_logits (B, P, m, m)`` (masks over the context boxes).

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("sds_tiny")
        >>> [tuple(t.shape) for t in model.inputs]
        [(None, 64, 64, 3), (None, 192, 4)]
        >>> model.output["masks"].shape, model.output["class_logits"].shape
        ((None, 8, 64, 64), (None, 192, 4))
    """
    where = "sds"
    height, width, _ = check_image_shape(input_shape, where)
    if height is None or width is None:
        raise ValueError(message(where, "input_shape", "a static (H, W, 3) (the proposal count is fixed)",
                                 input_shape))
    num_classes = check_positive_int(where, "num_classes", num_classes)
    widths = check_int_tuple(where, "backbone_widths", backbone_widths)
    depths = check_int_tuple(where, "backbone_depths", backbone_depths, length=len(widths))
    backbone_weights = check_backbone_weights(backbone_weights, where)
    stride = 2 ** (len(widths) - 1)
    if height % stride or width % stride:
        raise ValueError(message(where, "input_shape", f"(H, W, 3) with H and W multiples of the trunk's stride "
                                 f"{stride}", input_shape))
    proposal_sizes = check_positive_numbers(where, "proposal_sizes", proposal_sizes)
    proposal_aspect_ratios = check_positive_numbers(where, "proposal_aspect_ratios", proposal_aspect_ratios)
    proposal_stride = check_positive_int(where, "proposal_stride", proposal_stride)
    if proposal_stride > min(height, width):
        raise ValueError(message(where, "proposal_stride", f"at most the image side {min(height, width)}",
                                 proposal_stride))
    context_padding = check_number(where, "context_padding", context_padding, minimum=0, maximum=1)
    roi_size = check_positive_int(where, "roi_size", roi_size)
    head_units = check_positive_int(where, "head_units", head_units)
    coarse_mask_size = check_int_tuple(where, "coarse_mask_size", (coarse_mask_size,), minimum=2)[0]
    mask_size = check_int_tuple(where, "mask_size", (mask_size,), minimum=2)[0]
    mask_units = check_positive_int(where, "mask_units", mask_units)
    max_detections = check_positive_int(where, "max_detections", max_detections)
    pre_nms_top_k = check_positive_int(where, "pre_nms_top_k", pre_nms_top_k)
    nms_iou = check_number(where, "nms_iou", nms_iou, minimum=0, maximum=1)
    score_threshold = check_number(where, "score_threshold", score_threshold, minimum=0, maximum=1)

    source = {"sizes": list(proposal_sizes), "aspect_ratios": list(proposal_aspect_ratios), "stride": proposal_stride}
    rois = len(sliding_window_proposals((height, width), **source))
    shrink = max(1, math.ceil(max(height, width) / OVERLAP_GRID))
    detections = RegionDetections((height, width), max_detections, nms_iou, score_threshold, pre_nms_top_k,
                                  overlap_size=(-(-height // shrink), -(-width // shrink)), name="detections",
                                  dtype="float32")

    images = keras.Input((height, width, 3), name="image")
    proposals_in = keras.Input((rois, 4), name="proposals")
    trunk = vgg16_features(preprocessing()(images), widths=widths, depths=depths)
    features = trunk[f"conv{len(widths)}"]
    boxes, valid, context = ProposalBoxes(context_padding, name="proposal_boxes", dtype="float32")(proposals_in)

    warped = RoIFeatures((2 * roi_size, 2 * roi_size), name="roi_warp")([features, context])
    pool = RoIMaxPooling(2, name="roi_pool")
    flatten = keras.layers.Reshape((rois, -1), name="roi_flatten")

    # Box pathway (fc6/fc7 take VGG16's ImageNet fc weights).
    box_fc7 = keras.layers.Dense(head_units, activation="relu", name="fc7")(
        keras.layers.Dense(head_units, activation="relu", name="fc6")(flatten(pool(warped))))
    # Coarse figure-ground grid over the box (the refinement's first stage): the region's foreground.
    box_grid = keras.layers.Reshape((rois, -1), name="roi_grid_flatten")(warped)
    coarse_input = keras.layers.Concatenate(name="coarse_mask_input")([box_fc7, box_grid])
    coarse = keras.layers.Dense(coarse_mask_size ** 2, name="coarse_mask_flat", dtype="float32")(coarse_input)
    coarse = keras.layers.Reshape((rois, coarse_mask_size, coarse_mask_size), name="coarse_mask_logits",
                                  dtype="float32")(coarse)
    # Region pathway: the box features with the background masked out.
    masked = MaskedRoIFeatures(name="region_features")([warped, coarse])
    region_fc7 = keras.layers.Dense(head_units, activation="relu", name="region_fc7")(
        keras.layers.Dense(head_units, activation="relu", name="region_fc6")(flatten(pool(masked))))
    joint = keras.layers.Concatenate(name="joint_features")([box_fc7, region_fc7])
    class_logits = keras.layers.Dense(num_classes + 1, name="classifier", dtype="float32")(joint)
    # Refinement: the RoI feature grid and the coarse mask -> the m x m mask.
    coarse_probabilities = keras.layers.Activation("sigmoid", name="coarse_mask", dtype="float32")(coarse)
    prior = keras.layers.Reshape((rois, coarse_mask_size ** 2), name="coarse_mask_flat_prior")(coarse_probabilities)
    refine = keras.layers.Concatenate(name="refine_input")([box_grid, prior])
    refine = keras.layers.Dense(mask_units, activation="relu", name="refine_fc")(refine)
    mask_logits = keras.layers.Dense(mask_size ** 2, name="mask_logits_flat", dtype="float32")(refine)
    mask_logits = keras.layers.Reshape((rois, mask_size, mask_size), name="mask_logits", dtype="float32")(mask_logits)

    out_boxes, scores, classes, masks, count = detections([boxes, context, class_logits, mask_logits, valid])
    outputs = {"boxes": out_boxes, "scores": scores, "classes": classes, "masks": masks, "num_detections": count,
               "proposal_boxes": boxes, "proposal_valid": valid, "context_boxes": context, "class_logits": class_logits,
               "coarse_mask_logits": coarse, "mask_logits": mask_logits}
    model = InstanceSegmentationModel([images, proposals_in], outputs, name=name or "sds",
                                      task="instance_segmentation", loss_name="sds", proposal_source=source)
    if backbone_weights is not None:
        load_vgg16_weights(model, backbone_weights)
        for layer in ("fc6", "fc7"):  # both pathways start from ImageNet's fc layers (section 3)
            model.get_layer(f"region_{layer}").set_weights(model.get_layer(layer).get_weights())
    return model


def _masked_mean(values, weights):
    weights = tf.cast(weights, values.dtype)
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def _mask_bce(logits, boxes, index, targets, foreground):
    logits = tf.cast(logits, "float32")
    truth = losses.mask_targets(boxes, index, targets, logits.shape[-1])
    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=truth, logits=logits), axis=[-2, -1])
    return _masked_mean(bce, foreground)


@register_loss("sds")
def sds_loss(model, targets, outputs):
    """Per-region classification + refined-mask + coarse-mask losses.

    A valid proposal is foreground at box IoU >= :data:`FOREGROUND_IOU` with an
    instance and takes its class, else background (class 0). Classification:
    softmax cross-entropy, the foreground mean weighted :data:`FOREGROUND_FRACTION`
    and the background mean the rest (R-CNN's 25 % foreground minibatches, in
    expectation). Masks: per-pixel binary cross-entropy of the refined and the
    coarse mask against the matched instance's mask over the context box, over
    the foreground proposals. Invalid (degenerate) proposals take no loss.
    """
    boxes = tf.stop_gradient(tf.cast(outputs["proposal_boxes"], "float32"))
    context = tf.stop_gradient(tf.cast(outputs["context_boxes"], "float32"))
    valid = tf.cast(outputs["proposal_valid"], "float32") > 0
    iou, index = losses.match(boxes, targets)
    foreground = (iou >= FOREGROUND_IOU) & valid
    background = valid & ~foreground
    labels = tf.where(foreground, tf.gather(tf.cast(targets["classes"], "int32"), index, batch_dims=1), 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                        logits=tf.cast(outputs["class_logits"], "float32"))
    classification = FOREGROUND_FRACTION * _masked_mean(ce, foreground) + (1 - FOREGROUND_FRACTION) * _masked_mean(
        ce, background)
    return {
        "classification": classification,
        "mask": _mask_bce(outputs["mask_logits"], context, index, targets, foreground),
        "coarse_mask": _mask_bce(outputs["coarse_mask_logits"], context, index, targets, foreground),
    }


#: measured with TF 2.21 / LiteRT on sds_tiny trained as the learning check (256 steps of 16), 64 embedded test images
_INT8_UNSUPPORTED = (
    "full-integer int8 loses most detections: mask AP@0.5 0.317 in Keras vs 0.049 in the int8 artifact (gate: "
    "a drop of at most 0.05); its class and mask logits differ from Keras' by 0.42 and 0.75 on average (largest "
    "values 13 and 17). Use quantize='dynamic' (int8 weights, "
    "float activations: mask AP@0.5 drop 0.019) or 'float16' (drop -0.002): both pass the gate."
)
register_model("sds", family="sds", task="instance_segmentation", paper=PAPER,
               export_unsupported={"tflite_int8": _INT8_UNSUPPORTED})(sds)
register_variant("sds_tiny", "sds", tiny=True, **TINY)
