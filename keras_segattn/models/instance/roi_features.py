"""``RoIFeatures``: features under each box, one cell per sample (RoI warping at cell centres)."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers import RoIWarp
from keras_segattn.validation import check_int_pair


def crop_boxes(boxes, feature_size, crop_size):
    """Edge-convention boxes -> the ``tf.image.crop_and_resize`` boxes that sample each crop cell's centre.

    A box ``(y1, x1, y2, x2)`` in image fractions split into ``h x w`` cells:
    cell ``i`` is centred at ``y1 + (i + 0.5) (y2 - y1) / h``, feature row
    ``r`` at ``(r + 0.5) / Hf``. ``crop_and_resize`` samples row
    ``y1' (Hf - 1) + i (y2' - y1') (Hf - 1) / (h - 1)``; solving for
    ``y1', y2'`` gives these (linear, so gradients reach the boxes).
    """
    (fh, fw), (h, w) = feature_size, crop_size
    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)

    def axis(lo, hi, size, cells):
        first = (lo + 0.5 * (hi - lo) / cells) * size - 0.5
        last = (lo + (cells - 0.5) * (hi - lo) / cells) * size - 0.5
        scale = 1.0 / max(size - 1, 1)  # a 1-pixel axis: every sample is at row 0 or extrapolated
        return first * scale, last * scale

    ny1, ny2 = axis(y1, y2, fh, h)
    nx1, nx2 = axis(x1, x2, fw, w)
    return tf.stack([ny1, nx1, ny2, nx2], axis=-1)


@keras.saving.register_keras_serializable(package="keras_segattn")
class RoIFeatures(keras.layers.Layer):
    """``[features (B, Hf, Wf, C), boxes (B, R, 4)]`` -> ``(B, R, h, w, C)``: bilinear samples at the cell centres.

    The differentiable RoI warping of Dai, He & Sun, "Instance-aware Semantic
    Segmentation via Multi-task Network Cascades", CVPR 2016, section 3.2:
    boxes are the library's normalised edge-convention ``(y1, x1, y2, x2)``
    and each of the ``h x w`` cells of a box samples the features at its
    centre (:func:`crop_boxes` maps the boxes onto
    :class:`~keras_segattn.layers.RoIWarp`'s ``crop_and_resize`` convention).
    Gradients reach the features and the box coordinates.

    Args:
        output_size: ``(h, w)`` cells per box.
    """

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        self.output_size = check_int_pair("RoIFeatures", "output_size", output_size)
        self.warp = RoIWarp(self.output_size, name="warp")

    def build(self, input_shape):
        self.warp.build(input_shape)

    def compute_output_shape(self, input_shape):
        return self.warp.compute_output_shape(input_shape)

    def call(self, inputs):
        features, boxes = inputs
        feature_size = (features.shape[1], features.shape[2])
        return self.warp([features, crop_boxes(tf.cast(boxes, "float32"), feature_size, self.output_size)])

    def get_config(self):
        config = super().get_config()
        config["output_size"] = self.output_size
        return config
