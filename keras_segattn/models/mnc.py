"""Multi-task Network Cascades (Dai, He & Sun, CVPR 2016): instance segmentation as a cascade.

Dai, He & Sun, "Instance-aware Semantic Segmentation via Multi-task Network
Cascades", CVPR 2016. Shared convolutional features feed three stages:

1. a region proposal network (anchors, objectness, box deltas) and its
   proposal layer (NMS) -> ``R`` boxes;
2. **differentiable RoI warping** of each box to a fixed grid and a
   class-agnostic mask head (``m x m``, 28 by default);
3. categorisation of the box features and the **mask-multiplied** features.

The loss is the sum of the stages' losses and the model trains end to end
with ``model.fit(images, targets)``: gradients of stages 2-3 reach the boxes
(so the RPN's regression) through the warping. ``stages=5`` adds stage 3's box
regression and repeats stages 2-3 (same weights) on the refined boxes, the
paper's 5-stage cascade (section 4). Output: the shared detection dict of
:mod:`keras_segattn.models.instance` plus the heads' raw outputs.
"""

from __future__ import annotations

import keras

from keras_segattn.backbones.vgg16 import load_vgg16_weights, preprocessing, vgg16_features
from keras_segattn.models._common import check_backbone_weights, check_image_shape
from keras_segattn.models.instance import losses
from keras_segattn.models.instance.detections import INT8_NMS_UNSUPPORTED, InstanceDetections
from keras_segattn.models.instance.model import InstanceSegmentationModel, register_loss
from keras_segattn.models.instance.proposals import RegionProposals
from keras_segattn.models.instance.roi_features import RoIFeatures
from keras_segattn.models.instance.roi_ops import MaskedRoIFeatures, RefineBoxes, RoIMaxPooling
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_choice,
    check_int_tuple,
    check_number,
    check_positive_int,
    check_positive_numbers,
    message,
)

__all__ = ["mnc", "PAPER", "TINY"]

PAPER = "Dai, He & Sun, Instance-aware Semantic Segmentation via Multi-task Network Cascades, CVPR 2016"

#: the tiny variant (tests, demo): 64x64 images, a 3-stage 16/32/64-wide VGG-style trunk at stride 4
TINY = dict(
    num_classes=3,
    input_shape=(64, 64, 3),
    backbone_widths=(16, 32, 64),
    backbone_depths=(1, 1, 1),
    anchor_sizes=(16.0, 32.0),
    rpn_channels=32,
    num_proposals=16,
    pre_nms_top_k=128,
    roi_size=7,
    mask_size=14,
    mask_units=128,
    head_units=128,
    max_detections=8,
)


def _stage_2_3(prefix, features, boxes, heads):
    """Mask head on the warped features, then the classifier on box + mask-multiplied features."""
    warped = heads["warp"]([features, boxes])
    pooled = heads["pool"](warped)
    mask_logits = heads["mask_out"](heads["mask_hidden"](heads["flatten_roi"](pooled)))
    mask_logits = heads["mask_shape"](mask_logits)
    masked = heads["pool"](MaskedRoIFeatures(name=f"{prefix}masked_features")([warped, mask_logits]))
    box_path = heads["box_fc2"](heads["box_fc1"](heads["flatten_roi"](pooled)))
    mask_path = heads["mask_fc2"](heads["mask_fc1"](heads["flatten_roi"](masked)))
    joint = keras.layers.Concatenate(name=f"{prefix}joint_features")([box_path, mask_path])
    return mask_logits, heads["classifier"](joint), heads["box_regressor"](joint)


def mnc(
    num_classes=20,
    input_shape=(512, 512, 3),
    stages=3,
    backbone_widths=(64, 128, 256, 512, 512),
    backbone_depths=(2, 2, 3, 3, 3),
    backbone_weights=None,
    anchor_sizes=(128.0, 256.0, 512.0),
    aspect_ratios=(0.5, 1.0, 2.0),
    rpn_channels=512,
    num_proposals=300,
    pre_nms_top_k=6000,
    rpn_nms_iou=0.7,
    roi_size=7,
    mask_size=28,
    mask_units=256,
    head_units=4096,
    max_detections=100,
    detection_nms_iou=0.5,
    score_threshold=0.05,
    name=None,
):
    """MNC with a VGG16 trunk (the paper's configuration by default).

    Args:
        num_classes: ``K`` object classes (VOC: 20); class 0 is background.
        input_shape: ``(H, W, 3)`` raw RGB in ``[0, 255]``; static (the anchors are fixed).
        stages: 3 (RPN, masks, categories) or 5 (plus box refinement and a second mask / category pass).
        backbone_widths, backbone_depths: the VGG-style trunk (VGG16: 5 stages); features are the last
            stage's convolutions (stride ``2 ** (stages - 1)``: 16 for VGG16's conv5_3).
        backbone_weights: ``None`` or ``"imagenet"`` (VGG16 widths only) or a weights file.
        anchor_sizes, aspect_ratios: the RPN's anchors (pixels; height / width).
        rpn_channels: the RPN's 3x3 convolution width.
        num_proposals: ``R`` boxes from stage 1 (the paper: 300).
        pre_nms_top_k: anchors entering the proposal NMS.
        rpn_nms_iou: proposal NMS threshold (0.7).
        roi_size: RoI features are warped to ``2 roi_size`` and max-pooled to ``roi_size`` (the paper: 14 -> 7).
        mask_size: ``m``, the mask head's output side (28).
        mask_units: the mask head's hidden fc width (256).
        head_units: the categorisation pathways' fc widths (VGG's fc6/fc7: 4096).
        max_detections: ``D`` output slots per image.
        detection_nms_iou, score_threshold: the final NMS and the least score kept.
        name: model name.

    Returns:
        An :class:`~keras_segattn.models.instance.InstanceSegmentationModel`, ``images`` -> dict with
        ``boxes (B, D, 4)``, ``scores (B, D)``, ``classes (B, D)``, ``masks (B, D, H, W)``,
        ``num_detections (B,)`` and the raw ``rpn_logits``, ``rpn_deltas``, ``proposals``,
        ``proposal_scores``, ``mask_logits``, ``class_logits`` (and for 5 stages ``refined_boxes``,
        ``box_deltas``, ``mask_logits_2``, ``class_logits_2``).

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("mnc_tiny")
        >>> model.output["masks"].shape, model.output["boxes"].shape
        ((None, 8, 64, 64), (None, 8, 4))
    """
    where = "mnc"
    height, width, _ = check_image_shape(input_shape, where)
    if height is None or width is None:
        raise ValueError(message(where, "input_shape", "a static (H, W, 3) (the anchors are fixed)", input_shape))
    num_classes = check_positive_int(where, "num_classes", num_classes)
    stages = check_choice(where, "stages", stages, (3, 5))
    widths = check_int_tuple(where, "backbone_widths", backbone_widths)
    depths = check_int_tuple(where, "backbone_depths", backbone_depths, length=len(widths))
    backbone_weights = check_backbone_weights(backbone_weights, where)
    stride = 2 ** (len(widths) - 1)
    if height % stride or width % stride:
        raise ValueError(message(where, "input_shape", f"(H, W, 3) with H and W multiples of the trunk's stride "
                                 f"{stride}", input_shape))
    anchor_sizes = check_positive_numbers(where, "anchor_sizes", anchor_sizes)
    aspect_ratios = check_positive_numbers(where, "aspect_ratios", aspect_ratios)
    num_proposals = check_positive_int(where, "num_proposals", num_proposals)
    pre_nms_top_k = check_positive_int(where, "pre_nms_top_k", pre_nms_top_k)
    max_detections = check_positive_int(where, "max_detections", max_detections)
    for argument, value in (("rpn_nms_iou", rpn_nms_iou), ("detection_nms_iou", detection_nms_iou),
                            ("score_threshold", score_threshold)):
        check_number(where, argument, value, minimum=0, maximum=1)
    rpn_channels = check_positive_int(where, "rpn_channels", rpn_channels)
    roi_size = check_positive_int(where, "roi_size", roi_size)
    mask_size = check_int_tuple(where, "mask_size", (mask_size,), minimum=2)[0]
    mask_units = check_positive_int(where, "mask_units", mask_units)
    head_units = check_positive_int(where, "head_units", head_units)
    feature_size = (height // stride, width // stride)
    proposal_layer = RegionProposals(feature_size, (height, width), anchor_sizes, aspect_ratios, num_proposals,
                                     pre_nms_top_k, rpn_nms_iou, name="proposals", dtype="float32")
    per_cell = len(proposal_layer.anchor_sizes) * len(proposal_layer.aspect_ratios)
    detections = InstanceDetections((height, width), max_detections, detection_nms_iou, score_threshold,
                                    name="detections", dtype="float32")

    images = keras.Input((height, width, 3), name="image")
    trunk = vgg16_features(preprocessing()(images), widths=widths, depths=depths)
    features = trunk[f"conv{len(widths)}"]

    # Stage 1: the region proposal network.
    rpn = keras.layers.Conv2D(rpn_channels, 3, padding="same", activation="relu", name="rpn_conv")(features)
    rpn_logits = keras.layers.Conv2D(per_cell, 1, name="rpn_objectness", dtype="float32")(rpn)
    rpn_deltas = keras.layers.Conv2D(4 * per_cell, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                     name="rpn_box", dtype="float32")(rpn)
    rpn_logits = keras.layers.Reshape((-1,), name="rpn_logits", dtype="float32")(rpn_logits)
    rpn_deltas = keras.layers.Reshape((-1, 4), name="rpn_deltas", dtype="float32")(rpn_deltas)
    proposals, proposal_scores = proposal_layer([rpn_logits, rpn_deltas])

    # Stages 2-3, their layers shared by the 5-stage cascade's second pass.
    rois = num_proposals
    heads = {
        "warp": RoIFeatures((2 * roi_size, 2 * roi_size), name="roi_warp"),
        # not TimeDistributed(MaxPooling2D): Keras unrolls that into one pooling per RoI (see RoIMaxPooling)
        "pool": RoIMaxPooling(2, name="roi_pool"),
        "flatten_roi": keras.layers.Reshape((rois, -1), name="roi_flatten"),
        "mask_hidden": keras.layers.Dense(mask_units, activation="relu", name="mask_fc"),
        "mask_out": keras.layers.Dense(mask_size * mask_size, name="mask_logits_flat", dtype="float32"),
        "mask_shape": keras.layers.Reshape((rois, mask_size, mask_size), name="mask_shape", dtype="float32"),
        "box_fc1": keras.layers.Dense(head_units, activation="relu", name="box_fc6"),
        "box_fc2": keras.layers.Dense(head_units, activation="relu", name="box_fc7"),
        "mask_fc1": keras.layers.Dense(head_units, activation="relu", name="mask_path_fc6"),
        "mask_fc2": keras.layers.Dense(head_units, activation="relu", name="mask_path_fc7"),
        "classifier": keras.layers.Dense(num_classes + 1, name="classifier", dtype="float32"),
        "box_regressor": keras.layers.Dense(4, kernel_initializer="zeros", name="box_regressor", dtype="float32"),
    }
    mask_logits, class_logits, box_deltas = _stage_2_3("", features, proposals, heads)
    outputs = {"rpn_logits": rpn_logits, "rpn_deltas": rpn_deltas, "proposals": proposals,
               "proposal_scores": proposal_scores, "mask_logits": mask_logits, "class_logits": class_logits}
    final_boxes, final_masks, final_classes = proposals, mask_logits, class_logits
    if stages == 5:
        refined = RefineBoxes(name="refined_boxes", dtype="float32")([proposals, box_deltas])
        mask_2, class_2, _ = _stage_2_3("stage5_", features, refined, heads)
        outputs.update(refined_boxes=refined, box_deltas=box_deltas, mask_logits_2=mask_2, class_logits_2=class_2)
        final_boxes, final_masks, final_classes = refined, mask_2, class_2
    boxes, scores, classes, masks, count = detections([final_boxes, final_classes, final_masks, proposal_scores])
    outputs.update(boxes=boxes, scores=scores, classes=classes, masks=masks, num_detections=count)
    model = InstanceSegmentationModel(images, outputs, name=name or "mnc", task="instance_segmentation",
                                      loss_name="mnc")
    if backbone_weights is not None:
        load_vgg16_weights(model, backbone_weights)
    return model


@register_loss("mnc")
def mnc_loss(model, targets, outputs):
    """Stage 1 (RPN objectness + boxes) + stage 2 (masks) + stage 3 (classes), the paper's eq. 4;
    the 5-stage cascade adds the box refinement and the second pass's mask and class losses."""
    anchors = model.get_layer("proposals").anchors
    objectness, rpn_box = losses.rpn_loss(anchors, outputs["rpn_logits"], outputs["rpn_deltas"], targets)
    terms = {"rpn_objectness": objectness, "rpn_box": rpn_box}
    five = "refined_boxes" in outputs
    stage = losses.stage_losses(outputs["proposals"], outputs["proposal_scores"], outputs["class_logits"],
                                outputs["mask_logits"], targets, box_deltas=outputs.get("box_deltas") if five else None)
    terms.update({f"stage_{k}": v for k, v in stage.items()})
    if five:
        second = losses.stage_losses(outputs["refined_boxes"], outputs["proposal_scores"], outputs["class_logits_2"],
                                     outputs["mask_logits_2"], targets)
        terms.update({f"stage5_{k}": v for k, v in second.items()})
    return terms


register_model("mnc", family="mnc", task="instance_segmentation", paper=PAPER,
               export_unsupported={"tflite_int8": INT8_NMS_UNSUPPORTED})(mnc)
register_variant("mnc_tiny", "mnc", tiny=True, **TINY)
