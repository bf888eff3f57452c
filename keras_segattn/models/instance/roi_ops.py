"""Two small per-RoI layers of the cascades: mask-multiplied features and box refinement."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.models.instance.boxes import clip_boxes, decode_boxes

#: Fast R-CNN's box-regression target scaling for the stage-3 refinement
REFINE_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


@keras.saving.register_keras_serializable(package="keras_segattn")
class MaskedRoIFeatures(keras.layers.Layer):
    """``[features (B, R, h, w, C), mask_logits (B, R, m, m)]`` -> features times the mask.

    MNC's stage 3 "mask-based pathway" (Dai et al., CVPR 2016, section 3.3):
    each RoI's features are multiplied by its predicted foreground
    probability, resized bilinearly to the features' ``h x w``, so the
    classifier sees the instance and not the box's background.
    """

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def call(self, inputs):
        features, mask_logits = inputs
        _, rois, h, w, _ = features.shape
        m = mask_logits.shape[-1]
        masks = tf.reshape(tf.sigmoid(tf.cast(mask_logits, "float32")), [-1, m, m, 1])
        masks = tf.image.resize(masks, (h, w), method="bilinear", antialias=False)
        masks = tf.reshape(masks, [-1, rois, h, w, 1])
        return features * tf.cast(masks, features.dtype)


@keras.saving.register_keras_serializable(package="keras_segattn")
class RefineBoxes(keras.layers.Layer):
    """``[boxes (B, R, 4), deltas (B, R, 4)]`` -> the boxes moved by the deltas, clipped to the image.

    The box regression of MNC's 5-stage cascade (section 4): deltas in Fast
    R-CNN's parametrisation, scaled by :data:`REFINE_WEIGHTS`.
    """

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def call(self, inputs):
        boxes, deltas = inputs
        return clip_boxes(decode_boxes(tf.cast(deltas, "float32"), tf.cast(boxes, "float32"), REFINE_WEIGHTS))
