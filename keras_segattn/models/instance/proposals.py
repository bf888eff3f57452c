"""``RegionProposals``: the proposal layer of a region proposal network (anchors + deltas -> NMS'd boxes)."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.models.instance.boxes import (
    batched_nms,
    clip_boxes,
    decode_boxes,
    generate_anchors,
)
from keras_segattn.validation import check_int_pair, check_number, check_positive_int, message


@keras.saving.register_keras_serializable(package="keras_segattn")
class RegionProposals(keras.layers.Layer):
    """Turns RPN outputs into a fixed number of proposal boxes.

    Ren, He, Girshick & Sun, "Faster R-CNN", NIPS 2015, section 3.1 (the
    proposal step MNC's stage 1 uses): decode the box deltas on the anchors,
    clip to the image, keep the ``pre_nms_top_k`` best by objectness, greedy
    NMS at ``nms_iou``, and pad to ``num_proposals``. The boxes stay
    differentiable with respect to the deltas (Dai et al., CVPR 2016: the
    later stages' gradients reach the box regression through RoI warping);
    which boxes are kept is not.

    Args:
        feature_size: ``(Hf, Wf)`` of the RPN's feature map.
        image_size: ``(H, W)`` of the image.
        anchor_sizes: anchor sides in pixels.
        aspect_ratios: anchor height / width ratios.
        num_proposals: ``R``, boxes kept per image.
        pre_nms_top_k: candidates entering NMS.
        nms_iou: NMS IoU threshold.

    Call arguments:
        inputs: ``[logits (B, A), deltas (B, A, 4)]`` with ``A = Hf * Wf * len(anchor_sizes) * len(aspect_ratios)``
            in :func:`~keras_segattn.models.instance.boxes.generate_anchors`' order.

    Returns:
        ``[boxes (B, R, 4), scores (B, R)]``: normalised ``(y1, x1, y2, x2)``
        and objectness probabilities, best first; padding slots have score 0
        (and repeat the best box).
    """

    def __init__(self, feature_size, image_size, anchor_sizes, aspect_ratios=(0.5, 1.0, 2.0), num_proposals=300,
                 pre_nms_top_k=6000, nms_iou=0.7, **kwargs):
        super().__init__(**kwargs)
        self.feature_size = check_int_pair("RegionProposals", "feature_size", feature_size)
        self.image_size = check_int_pair("RegionProposals", "image_size", image_size)
        self.anchor_sizes = tuple(float(s) for s in anchor_sizes)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.num_proposals = check_positive_int("RegionProposals", "num_proposals", num_proposals)
        self.pre_nms_top_k = check_positive_int("RegionProposals", "pre_nms_top_k", pre_nms_top_k)
        self.nms_iou = check_number("RegionProposals", "nms_iou", nms_iou, minimum=0, maximum=1)
        self.anchors = generate_anchors(self.feature_size, self.image_size, self.anchor_sizes, self.aspect_ratios)

    @property
    def num_anchors(self) -> int:
        return len(self.anchors)

    def build(self, input_shape):
        logits, deltas = input_shape
        if logits[-1] is not None and logits[-1] != self.num_anchors:
            raise ValueError(message("RegionProposals", "logits", f"shape (batch, {self.num_anchors}) (one per anchor)",
                                     f"shape {tuple(logits)}"))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0]
        return (batch, self.num_proposals, 4), (batch, self.num_proposals)

    def call(self, inputs):
        logits, deltas = inputs
        logits = tf.cast(logits, "float32")
        boxes = clip_boxes(decode_boxes(tf.cast(deltas, "float32"), tf.constant(self.anchors)))
        k = min(self.pre_nms_top_k, self.num_anchors)
        top_logits, top = tf.math.top_k(logits, k=k)
        top_boxes = tf.gather(boxes, top, batch_dims=1)
        scores = tf.sigmoid(top_logits)
        keep, valid = batched_nms(tf.stop_gradient(top_boxes), scores, self.num_proposals, self.nms_iou)
        kept = tf.cast(tf.range(self.num_proposals)[None, :] < valid[:, None], scores.dtype)
        return tf.gather(top_boxes, keep, batch_dims=1), tf.gather(scores, keep, batch_dims=1) * kept

    def get_config(self):
        config = super().get_config()
        config.update(feature_size=self.feature_size, image_size=self.image_size, anchor_sizes=self.anchor_sizes,
                      aspect_ratios=self.aspect_ratios, num_proposals=self.num_proposals,
                      pre_nms_top_k=self.pre_nms_top_k, nms_iou=self.nms_iou)
        return config
