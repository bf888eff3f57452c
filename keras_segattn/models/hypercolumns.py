"""Hypercolumns (Hariharan, Arbeláez, Girshick & Malik, CVPR 2015): figure-ground masks from hypercolumns.

Hariharan, Arbeláez, Girshick & Malik, "Hypercolumns for Object Segmentation
and Fine-grained Localization", CVPR 2015. The *hypercolumn* of a pixel is the
stack of the activations of several layers above it (the paper: pool2, conv4
and fc7), upsampled to the pixel. A box is divided into a ``G x G`` grid
(the paper: 5 x 5) and each grid cell has its own linear classifier over the
hypercolumn, per category (*location-specific classifiers*); a pixel's
figure-ground probability is the bilinear interpolation, over the grid, of the
outputs of the classifiers nearest to its position in the box.

The paper's efficient form, its classifiers written as a network, is what is built here:
every classifier is split into its per-layer parts, so a ``1 x 1`` convolution
per layer gives the ``G G K`` scores of all classifiers at every location of
that layer; the score maps are upsampled bilinearly to the finest chosen layer
and summed; fc7, being one vector per box, adds the same ``G G K`` scores to
every location of its box. Then a sigmoid, and the "classifier interpolation"
with fixed weights (:func:`interpolation_matrix`).

Like the paper (which segments given detections), the model takes **boxes as
input**: ``[image (B, H, W, 3), proposals (B, P, 4)]``. Each box is classified
R-CNN style (RoI features of the trunk's top layer, two fc layers (fc6,
fc7), ``K + 1`` logits) and segmented by the hypercolumn head of its class:
the ground-truth class in the loss, the predicted class at inference.
:func:`~keras_segattn.models.instance.proposal_source.sliding_window_proposals`
is the built-in proposal source (the model records its arguments, and its task
feeds them). Output: the shared detection dict of
:mod:`keras_segattn.models.instance` plus the heads' raw outputs.

Departures from the paper: the boxes and their categories come from the
model's own R-CNN-style head, trained jointly with the mask classifiers,
where the paper segments the detections of a separate detector (R-CNN with
SVMs); the built-in proposals are sliding windows; the final NMS is at IoU
0.47 (see ``detection_nms_iou``).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.backbones.vgg16 import load_vgg16_weights, preprocessing, vgg16_features
from keras_segattn.layers import BilinearUpsampling2D
from keras_segattn.models._common import check_backbone_weights, check_image_shape
from keras_segattn.models.instance import losses
from keras_segattn.models.instance.detections import INT8_NMS_UNSUPPORTED, InstanceDetections
from keras_segattn.models.instance.model import InstanceSegmentationModel, register_loss
from keras_segattn.models.instance.proposal_boxes import ProposalBoxes
from keras_segattn.models.instance.proposal_source import sliding_window_proposals
from keras_segattn.models.instance.roi_features import RoIFeatures
from keras_segattn.models.instance.roi_ops import RoIMaxPooling
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_int,
    check_int_tuple,
    check_number,
    check_positive_int,
    check_positive_numbers,
    message,
)

__all__ = [
    "hypercolumns",
    "interpolation_matrix",
    "select_class_masks",
    "LocationSpecificClassifiers",
    "PredictedClassMasks",
    "PAPER",
    "TINY",
]

PAPER = ("Hariharan, Arbeláez, Girshick & Malik, Hypercolumns for Object Segmentation and Fine-grained "
         "Localization, CVPR 2015")

#: the tiny variant (tests, demo): 64x64 images, a 3-stage 16/32/48-wide VGG-style trunk, a 5 x 5 grid
TINY = dict(
    num_classes=3,
    input_shape=(64, 64, 3),
    backbone_widths=(16, 32, 48),
    backbone_depths=(1, 1, 2),
    hypercolumn_layers=("conv2", "conv3", "fc7"),
    grid_size=5,
    mask_size=14,
    roi_size=4,
    head_units=128,
    proposal_sizes=(16.0, 24.0, 32.0),
    proposal_aspect_ratios=(1.0,),
    proposal_stride=8,
    max_detections=10,
)

# ----------------------------------------------------------------------------- the classifier interpolation
def interpolation_matrix(mask_size: int, grid_size: int) -> np.ndarray:
    """The fixed "classifier interpolation" weights: ``(m m, G G)`` float32, rows summing to 1.

    Box-relative positions: mask cell ``(a, b)`` of ``m x m`` is centred at
    ``((a + 1/2) / m, (b + 1/2) / m)``, grid classifier ``(i, j)`` of ``G x G``
    at ``((i + 1/2) / G, (j + 1/2) / G)``. Each cell takes the bilinear
    interpolation of the (at most four) classifiers around it; beyond the
    outermost classifier centres (the outer half grid cell) the nearest ones
    (clamped). Row ``a m + b``, column ``i G + j``; separable: the outer
    product of two ``(m, G)`` 1-D interpolations.

    Example:
        >>> interpolation_matrix(4, 2).reshape(4, 4, 4)[1, 1].tolist()  # cell (1, 1): 3/8 of the box
        [0.5625, 0.1875, 0.1875, 0.0625]
    """
    mask_size = check_positive_int("interpolation_matrix", "mask_size", mask_size)
    grid_size = check_positive_int("interpolation_matrix", "grid_size", grid_size)
    position = (np.arange(mask_size) + 0.5) / mask_size * grid_size - 0.5  # in classifier-centre units
    position = np.clip(position, 0.0, grid_size - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, grid_size - 1)
    fraction = position - lower
    axis = np.zeros((mask_size, grid_size))
    np.add.at(axis, (np.arange(mask_size), lower), 1.0 - fraction)
    np.add.at(axis, (np.arange(mask_size), upper), fraction)
    return np.einsum("ai,bj->abij", axis, axis).reshape(mask_size**2, grid_size**2).astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_segattn")
class LocationSpecificClassifiers(keras.layers.Layer):
    """Class-specific figure-ground logits of each box from its ``G x G`` grid of classifiers' scores.

    The end of the paper's network: the summed scores of the
    ``G G`` classifiers of every category, sampled at the ``m x m`` cells of a
    box (plus, optionally, per-box scores added to every cell: the fc7 part),
    go through a sigmoid, and each cell's probability is the bilinear
    interpolation of the probabilities of the classifiers nearest to its
    position in the box (:func:`interpolation_matrix`):
    ``p = sum_g W[cell, g] sigmoid(s_g)``. The layer returns ``logit(p)``,
    computed as ``log(sum_g W sigmoid(s_g)) - log(sum_g W sigmoid(-s_g))``
    (both sums are ``p`` and ``1 - p`` without cancellation), each a
    log-sum-exp of ``log W + log sigmoid``: exact and finite for any finite
    scores, with gradients that never vanish (a saturated wrong classifier
    still learns, as with a plain sigmoid cross-entropy).

    Args:
        num_classes: ``K`` categories.
        grid_size: ``G``, the classifier grid's side.

    Call arguments:
        inputs: ``scores (B, R, m, m, K G G)``, or ``[scores, box_scores (B, R, K G G)]``. Channel
            ``k G G + i G + j`` holds category ``k + 1``'s classifier ``(i, j)`` (row ``i``, column ``j``).

    Returns:
        ``(B, R, K, m, m)`` mask logits, float32.
    """

    def __init__(self, num_classes, grid_size, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_positive_int("LocationSpecificClassifiers", "num_classes", num_classes)
        self.grid_size = check_positive_int("LocationSpecificClassifiers", "grid_size", grid_size)

    def _split(self, shapes):
        if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
            if len(shapes) != 2:
                raise ValueError(message("LocationSpecificClassifiers", "inputs", "scores or [scores, box_scores]",
                                         f"shape {[tuple(s) for s in shapes]}"))
            scores, box = (tuple(s) for s in shapes)
        else:
            scores, box = tuple(shapes), None
        channels = self.num_classes * self.grid_size**2
        if len(scores) != 5 or scores[2] != scores[3] or scores[4] != channels:
            raise ValueError(message("LocationSpecificClassifiers", "scores",
                                     f"of shape (batch, boxes, m, m, {channels}) (K G G channels)", f"shape {scores}"))
        if box is not None and (len(box) != 3 or box[2] != channels):
            raise ValueError(message("LocationSpecificClassifiers", "box_scores",
                                     f"of shape (batch, boxes, {channels})", f"shape {box}"))
        return scores, box

    def build(self, input_shape):
        scores, _ = self._split(input_shape)
        self.mask_size = scores[2]
        self.interpolation = interpolation_matrix(self.mask_size, self.grid_size)  # a constant, not a weight
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        scores, _ = self._split(input_shape)
        return (scores[0], scores[1], self.num_classes, scores[2], scores[3])

    def call(self, inputs):
        scores, box = (inputs[0], inputs[1]) if isinstance(inputs, (list, tuple)) else (inputs, None)
        k, g, m = self.num_classes, self.grid_size**2, scores.shape[2]
        leading = tf.shape(scores)[:2]
        scores = tf.reshape(tf.cast(scores, "float32"), tf.concat([leading, [m * m, k, g]], 0))
        if box is not None:
            scores = scores + tf.reshape(tf.cast(box, "float32"), tf.concat([leading, [1, k, g]], 0))
        # log W, with a finite stand-in for log 0 (exp of it minus the max is exactly 0)
        log_weights = np.where(self.interpolation > 0, np.log(np.maximum(self.interpolation, 1e-30)), -1e30)
        log_weights = tf.constant(log_weights[:, None, :].astype(np.float32))  # (m m, 1, G G)

        def log_mixture(log_probabilities):  # log sum_g W[cell, g] p_g, as a log-sum-exp
            x = log_probabilities + log_weights
            top = tf.stop_gradient(tf.reduce_max(x, axis=-1, keepdims=True))
            return top[..., 0] + tf.math.log(tf.reduce_sum(tf.exp(x - top), axis=-1))

        # log sigmoid(s) = min(s, 0) - log(1 + exp(-|s|)), accurate to float rounding in absolute terms
        # everywhere (a runtime's sigmoid or softplus is only absolutely accurate, and the log of a tiny
        # sigmoid magnified its error: measured 8e-3 on ONNX Runtime); log sigmoid(-s) = log sigmoid(s) - s.
        log_figure = tf.minimum(scores, 0.0) - tf.math.log(1.0 + tf.exp(-tf.abs(scores)))
        logits = log_mixture(log_figure) - log_mixture(log_figure - scores)  # (B, R, m m, K)
        logits = tf.transpose(logits, [0, 1, 3, 2])
        return tf.reshape(logits, tf.concat([leading, [k, m, m]], 0))

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, grid_size=self.grid_size)
        return config


# ----------------------------------------------------------------------------- class selection, proposals
def select_class_masks(mask_logits, classes):
    """``(B, R, K, m, m)`` logits and ``(B, R)`` classes 1..K -> ``(B, R, m, m)``: each box's class's mask
    (all zeros for class 0)."""
    mask_logits = tf.cast(mask_logits, "float32")
    chosen = tf.one_hot(tf.cast(classes, "int32") - 1, mask_logits.shape[2], dtype="float32")  # class 0: no row
    return tf.reduce_sum(mask_logits * chosen[:, :, :, None, None], axis=2)


@keras.saving.register_keras_serializable(package="keras_segattn")
class PredictedClassMasks(keras.layers.Layer):
    """``[mask_logits (B, R, K, m, m), class_logits (B, R, K + 1)]`` -> ``(B, R, m, m)``: each box's mask
    for its predicted category (the best foreground class, as
    :class:`~keras_segattn.models.instance.InstanceDetections` picks it)."""

    def compute_output_shape(self, input_shape):
        masks = tuple(input_shape[0])
        return (*masks[:2], *masks[3:])

    def call(self, inputs):
        mask_logits, class_logits = inputs
        classes = tf.argmax(tf.cast(class_logits, "float32")[..., 1:], axis=-1, output_type=tf.int32) + 1
        return select_class_masks(mask_logits, classes)


# ----------------------------------------------------------------------------- the builder
def _strides(num_stages):
    """Endpoint name -> its stride: ``conv{i}`` 2^(i-1), ``pool{i}`` 2^i."""
    strides = {}
    for i in range(1, num_stages + 1):
        strides[f"conv{i}"], strides[f"pool{i}"] = 2 ** (i - 1), 2**i
    return strides


def _check_layers(where, layers, strides):
    expected = (f"a non-empty tuple of distinct names among {', '.join(strides)} and 'fc7' (the box's fc7), "
                f"with at least one trunk layer")
    try:
        items = None if isinstance(layers, (str, bytes)) else tuple(layers)
    except TypeError:
        items = None
    if (not items or len(set(items)) != len(items) or any(not isinstance(x, str) for x in items)
            or any(x not in strides and x != "fc7" for x in items) or all(x == "fc7" for x in items)):
        raise ValueError(message(where, "hypercolumn_layers", expected, layers))
    return items


def hypercolumns(
    num_classes=20,
    input_shape=(512, 512, 3),
    backbone_widths=(64, 128, 256, 512, 512),
    backbone_depths=(2, 2, 3, 3, 3),
    backbone_weights=None,
    hypercolumn_layers=("pool2", "conv4", "fc7"),
    grid_size=5,
    mask_size=50,
    roi_size=7,
    head_units=4096,
    proposal_sizes=(64.0, 128.0, 256.0),
    proposal_aspect_ratios=(0.5, 1.0, 2.0),
    proposal_stride=64,
    max_detections=100,
    detection_nms_iou=0.47,
    score_threshold=0.05,
    name=None,
):
    """Hypercolumns with a VGG16 trunk (the paper's classifier grid and mask size by default).

    Args:
        num_classes: ``K`` object classes (VOC: 20); class 0 is background.
        input_shape: ``(H, W, 3)`` raw RGB in ``[0, 255]``; static, H and W multiples of the largest stride
            used.
        backbone_widths, backbone_depths: the VGG-style trunk (VGG16: 5 stages); its endpoints are
            ``conv{i}`` (stride ``2 ** (i - 1)``) and ``pool{i}`` (stride ``2 ** i``).
        backbone_weights: ``None`` or ``"imagenet"`` (VGG16 widths only) or a weights file.
        hypercolumn_layers: the layers of the hypercolumn: trunk endpoints (each gets a ``1 x 1``
            convolution to ``G G K`` scores, upsampled to the finest of them and summed) and
            ``"fc7"``, the box's fc7 (a dense layer to ``G G K`` scores added over its box). The
            paper: ``("pool2", "conv4", "fc7")``.
        grid_size: ``G``, the side of each box's grid of location-specific classifiers (the paper: 5).
        mask_size: ``m``, the mask cells per box side (the paper: 50).
        roi_size: the classification branch warps each box's top-layer features to ``2 roi_size`` cells
            and max-pools them to ``roi_size`` (7, as R-CNN's pool5).
        head_units: fc6 / fc7 widths (VGG's 4096).
        proposal_sizes, proposal_aspect_ratios, proposal_stride: the built-in proposal source the model
            is built for (:func:`~keras_segattn.models.instance.proposal_source.sliding_window_proposals`:
            pixels, height / width, pixels); they fix ``P``, the number of boxes the model takes.
        max_detections: ``D`` output slots per image.
        detection_nms_iou, score_threshold: the final NMS and the least score kept. The NMS threshold is
            0.47, not the usual 0.5: sliding windows overlap with IoUs that are ratios of small integers and
            hit 0.5 exactly (a 24-pixel window and its neighbour 8 pixels on), where TensorFlow suppresses and
            LiteRT keeps (measured), so the exports would disagree; boxes on a lattice of step ``s`` with sides
            below ``47 s`` (the built-in windows: ``s`` = 4 pixels tiny, 32 paper) never have IoU 47/100.
        name: model name.

    Returns:
        An :class:`~keras_segattn.models.instance.InstanceSegmentationModel`,
        ``[image (B, H, W, 3), proposals (B, P, 4)]`` -> dict with ``boxes (B, D, 4)``,
        ``scores (B, D)``, ``classes (B, D)``, ``masks (B, D, H, W)``, ``num_detections (B,)`` and the
        raw ``proposal_boxes (B, P, 4)`` (the proposals clipped), ``proposal_valid (B, P)``, ``class_logits (B, P, K + 1)``,
        ``mask_logits (B, P, K, m, m)`` (every category's mask of every box).

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("hypercolumns_tiny")
        >>> [tuple(x.shape) for x in model.inputs], model.output["mask_logits"].shape
        ([(None, 64, 64, 3), (None, 192, 4)], (None, 192, 3, 14, 14))
        >>> model.default_proposals(2).shape
        (2, 192, 4)
    """
    where = "hypercolumns"
    height, width, _ = check_image_shape(input_shape, where)
    if height is None or width is None:
        raise ValueError(message(where, "input_shape", "a static (H, W, 3) (the proposals are fixed)",
                                 input_shape))
    num_classes = check_positive_int(where, "num_classes", num_classes)
    widths = check_int_tuple(where, "backbone_widths", backbone_widths)
    depths = check_int_tuple(where, "backbone_depths", backbone_depths, length=len(widths))
    backbone_weights = check_backbone_weights(backbone_weights, where)
    strides = _strides(len(widths))
    layers = _check_layers(where, hypercolumn_layers, strides)
    grid_size = check_positive_int(where, "grid_size", grid_size)
    mask_size = check_positive_int(where, "mask_size", mask_size)
    roi_size = check_positive_int(where, "roi_size", roi_size)
    head_units = check_positive_int(where, "head_units", head_units)
    proposal_sizes = check_positive_numbers(where, "proposal_sizes", proposal_sizes)
    proposal_aspect_ratios = check_positive_numbers(where, "proposal_aspect_ratios", proposal_aspect_ratios)
    proposal_stride = check_int(where, "proposal_stride", proposal_stride, minimum=1, maximum=min(height, width))
    max_detections = check_positive_int(where, "max_detections", max_detections)
    for argument, value in (("detection_nms_iou", detection_nms_iou), ("score_threshold", score_threshold)):
        check_number(where, argument, value, minimum=0, maximum=1)
    top = f"conv{len(widths)}"
    spatial = [x for x in layers if x != "fc7"]
    largest = max(strides[x] for x in [*spatial, top])
    if height % largest or width % largest:
        raise ValueError(message(where, "input_shape", f"(H, W, 3) with H and W multiples of {largest} (the "
                                 f"largest stride of the layers used)", input_shape))
    source = dict(sizes=proposal_sizes, aspect_ratios=proposal_aspect_ratios, stride=proposal_stride)
    rois = len(sliding_window_proposals((height, width), **source))
    channels = num_classes * grid_size**2
    detections = InstanceDetections((height, width), max_detections, detection_nms_iou, score_threshold,
                                    name="detections", dtype="float32")

    images = keras.Input((height, width, 3), name="image")
    proposals = keras.Input((rois, 4), name="proposals")
    boxes, valid, _ = ProposalBoxes(name="proposal_boxes", dtype="float32")(proposals)
    trunk = vgg16_features(preprocessing()(images), widths=widths, depths=depths)

    # R-CNN classification of every box: RoI features of the top layer, fc6, fc7, K + 1 logits.
    warped = RoIFeatures((2 * roi_size, 2 * roi_size), name="roi_warp")([trunk[top], boxes])
    flat = keras.layers.Reshape((rois, -1), name="roi_flatten")(RoIMaxPooling(2, name="roi_pool")(warped))
    fc6 = keras.layers.Dense(head_units, activation="relu", name="fc6")(flat)
    fc7 = keras.layers.Dense(head_units, activation="relu", name="fc7")(fc6)
    class_logits = keras.layers.Dense(num_classes + 1, name="classifier", dtype="float32")(fc7)

    # The hypercolumn classifiers: per layer a 1x1 convolution to the scores of all G x G classifiers of
    # every category, upsampled to the finest layer and summed (one bias for the sum).
    finest = min(spatial, key=lambda x: strides[x])
    maps = []
    for index, layer in enumerate(spatial):
        scores = keras.layers.Conv2D(channels, 1, use_bias=index == 0, name=f"hypercolumn_{layer}")(trunk[layer])
        factor = strides[layer] // strides[finest]
        if factor > 1:
            scores = BilinearUpsampling2D(factor, name=f"hypercolumn_{layer}_up")([scores, trunk[finest]])
        maps.append(scores)
    summed = keras.layers.Add(name="hypercolumn_sum")(maps) if len(maps) > 1 else maps[0]
    cells = RoIFeatures((mask_size, mask_size), name="mask_warp")([summed, boxes])  # (B, P, m, m, K G G)
    head = [cells]
    if "fc7" in layers:
        head.append(keras.layers.Dense(channels, use_bias=False, name="hypercolumn_fc7")(fc7))
    mask_logits = LocationSpecificClassifiers(num_classes, grid_size, name="mask_logits", dtype="float32")(
        head if len(head) > 1 else cells)
    chosen = PredictedClassMasks(name="class_masks", dtype="float32")([mask_logits, class_logits])

    boxes_out, scores_out, classes_out, masks_out, count = detections([boxes, class_logits, chosen, valid])
    outputs = {"proposal_boxes": boxes, "proposal_valid": valid, "class_logits": class_logits, "mask_logits": mask_logits,
               "boxes": boxes_out, "scores": scores_out, "classes": classes_out, "masks": masks_out,
               "num_detections": count}
    model = InstanceSegmentationModel([images, proposals], outputs, name=name or "hypercolumns",
                                      task="instance_segmentation", loss_name="hypercolumns", proposal_source=source)
    if backbone_weights is not None:
        load_vgg16_weights(model, backbone_weights)
    return model


#: R-CNN's fine-tuning mini-batches: 32 foreground and 96 background windows of 128
FOREGROUND_FRACTION = 0.25


@register_loss("hypercolumns")
def hypercolumns_loss(model, targets, outputs):
    """R-CNN classification of every valid box + per-pixel binary cross-entropy of each foreground box's
    mask **for its ground-truth category** (the paper trains a category's classifiers on its boxes).

    A box is foreground at IoU >= 0.5 with an instance (it takes the instance's class), else background.
    Sliding windows are mostly background (about 3% foreground on the embedded data), so the softmax
    cross-entropy is balanced as R-CNN's fine-tuning batches are (a quarter foreground):
    ``FOREGROUND_FRACTION`` x its mean over the foreground boxes + the rest x its mean over the background
    ones. The mask term is :func:`~keras_segattn.models.instance.losses.stage_losses`' on the
    class-selected masks.
    """
    boxes = tf.stop_gradient(tf.cast(outputs["proposal_boxes"], "float32"))
    valid = tf.cast(outputs["proposal_valid"], "float32") > 0
    iou, index = losses.match(boxes, targets)
    foreground = (iou >= 0.5) & valid  # stage_losses' foreground
    classes = tf.where(foreground, tf.gather(tf.cast(targets["classes"], "int32"), index, batch_dims=1), 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=classes,
                                                        logits=tf.cast(outputs["class_logits"], "float32"))

    def mean(where):
        where = tf.cast(where, "float32")
        return tf.reduce_sum(ce * where) / tf.maximum(tf.reduce_sum(where), 1.0)

    chosen = select_class_masks(outputs["mask_logits"], classes)
    stage = losses.stage_losses(boxes, outputs["proposal_valid"], outputs["class_logits"], chosen, targets,
                                foreground_iou=0.5)
    classification = FOREGROUND_FRACTION * mean(foreground) + (1 - FOREGROUND_FRACTION) * mean(valid & ~foreground)
    return {"classification": classification, "mask": stage["mask"]}


register_model("hypercolumns", family="hypercolumns", task="instance_segmentation", paper=PAPER,
               export_unsupported={"tflite_int8": INT8_NMS_UNSUPPORTED})(hypercolumns)
register_variant("hypercolumns_tiny", "hypercolumns", tiny=True, **TINY)
