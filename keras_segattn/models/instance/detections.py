"""``InstanceDetections``: per-box class scores and masks -> the shared detection layout."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.models.instance.boxes import batched_nms, paste_masks
from keras_segattn.validation import check_int_pair, check_number, check_positive_int

#: the output keys every instance-segmentation model returns, in this order
DETECTION_KEYS = ("boxes", "scores", "classes", "masks", "num_detections")

#: measured with TF 2.21 and ai_edge_litert (the converter succeeds, the interpreter aborts)
INT8_NMS_UNSUPPORTED = (
    "LiteRT cannot run the int8 model: the detection NMS (tf.image.non_max_suppression_padded, in the shared "
    "InstanceDetections) divides each IoU by the boxes' union, which int8 quantises to its zero point for the zero "
    "boxes the NMS pads with, and LiteRT's int8 DIV aborts ('div.cc:262 data[i] != zero_point was not true. "
    "Node (DIV) failed to invoke' inside the NMS WHILE loop); the float exports pass."
)


@keras.saving.register_keras_serializable(package="keras_segattn")
class InstanceDetections(keras.layers.Layer):
    """Scored boxes with masks -> at most ``max_detections`` instances per image, masks at image size.

    Each box takes its best foreground class (softmax over ``K + 1`` logits,
    index 0 the background) and that probability as its score; greedy NMS
    over all classes at ``nms_iou`` keeps the best ``max_detections`` with a
    score of at least ``score_threshold``; their box-relative masks (sigmoid
    of the logits) are pasted into the image
    (:func:`~keras_segattn.models.instance.boxes.paste_masks`).

    Args:
        image_size: ``(H, W)`` of the pasted masks.
        max_detections: ``D``, slots per image.
        nms_iou: IoU above which a lower-scored box is suppressed.
        score_threshold: the least score a detection needs.

    Call arguments:
        inputs: ``[boxes (B, R, 4), class_logits (B, R, K + 1), mask_logits (B, R, m, m), valid (B, R)]``;
            ``valid`` > 0 marks real boxes (a proposal layer's padding has 0).

    Returns:
        ``[boxes (B, D, 4), scores (B, D), classes (B, D) int32, masks (B, D, H, W), num_detections (B,) int32]``:
        best first; empty slots are all zeros (class 0).
    """

    def __init__(self, image_size, max_detections=100, nms_iou=0.5, score_threshold=0.05, **kwargs):
        super().__init__(**kwargs)
        self.image_size = check_int_pair("InstanceDetections", "image_size", image_size)
        self.max_detections = check_positive_int("InstanceDetections", "max_detections", max_detections)
        self.nms_iou = check_number("InstanceDetections", "nms_iou", nms_iou, minimum=0, maximum=1)
        self.score_threshold = check_number("InstanceDetections", "score_threshold", score_threshold, minimum=0,
                                            maximum=1)

    def compute_output_shape(self, input_shape):
        batch, d = input_shape[0][0], self.max_detections
        return (batch, d, 4), (batch, d), (batch, d), (batch, d, *self.image_size), (batch,)

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape([tuple(x.shape) for x in inputs])
        dtypes = ("float32", "float32", "int32", "float32", "int32")
        return [keras.KerasTensor(s, dtype=d) for s, d in zip(shapes, dtypes)]

    def call(self, inputs):
        boxes, class_logits, mask_logits, valid = inputs
        boxes = tf.cast(boxes, "float32")
        probabilities = tf.nn.softmax(tf.cast(class_logits, "float32"))[..., 1:]
        scores = tf.reduce_max(probabilities, axis=-1) * tf.cast(tf.cast(valid, "float32") > 0, "float32")
        classes = tf.cast(tf.argmax(probabilities, axis=-1), "int32") + 1
        keep, count = batched_nms(boxes, scores, self.max_detections, self.nms_iou, self.score_threshold)
        slot = tf.cast(tf.range(self.max_detections)[None, :] < count[:, None], "float32")
        boxes = tf.gather(boxes, keep, batch_dims=1) * slot[..., None]
        scores = tf.gather(scores, keep, batch_dims=1) * slot
        classes = tf.gather(classes, keep, batch_dims=1) * tf.cast(slot, "int32")
        masks = tf.sigmoid(tf.gather(tf.cast(mask_logits, "float32"), keep, batch_dims=1))
        masks = paste_masks(masks, boxes, self.image_size) * slot[..., None, None]
        return [boxes, scores, classes, masks, count]

    def get_config(self):
        config = super().get_config()
        config.update(image_size=self.image_size, max_detections=self.max_detections, nms_iou=self.nms_iou,
                      score_threshold=self.score_threshold)
        return config
