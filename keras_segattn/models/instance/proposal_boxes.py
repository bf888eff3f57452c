"""Given proposals, made safe for the heads of the proposal-driven models (SDS, Hypercolumns)."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.validation import check_number


@keras.saving.register_keras_serializable(package="keras_segattn")
class ProposalBoxes(keras.layers.Layer):
    """``proposals (B, P, 4)`` -> ``[boxes (B, P, 4), valid (B, P), context_boxes (B, P, 4)]``, float32.

    SDS (Hariharan et al., ECCV 2014) and Hypercolumns (Hariharan et al., CVPR
    2015) segment *given* regions: any proposal method's boxes, normalised
    ``(y1, x1, y2, x2)``, padded with zero rows to the model's ``P``. Boxes are
    clipped to the image; a box of zero area (a padding row) or with a
    non-finite coordinate is invalid (``valid`` 0, never trained on nor
    detected) and replaced by zeros so nothing non-finite reaches the heads.
    ``context_boxes`` grow each box by ``context_padding`` of its height and
    width on every side (R-CNN's context); they may extend past the image.

    Args:
        context_padding: the context fraction per side, in ``[0, 1]`` (0: the boxes themselves).

    Example:
        >>> import numpy as np
        >>> boxes, valid, context = ProposalBoxes(0.25)(np.array([[[0.2, 0.2, 0.6, 1.2], [0, 0, 0, 0]]]))
        >>> [round(float(v), 2) for v in boxes[0, 0]], valid.numpy().tolist()
        ([0.2, 0.2, 0.6, 1.0], [[1.0, 0.0]])
        >>> [round(float(v), 2) for v in context[0, 0]]  # a quarter of the clipped box's height and width
        [0.1, 0.0, 0.7, 1.2]
    """

    def __init__(self, context_padding=0.0, **kwargs):
        super().__init__(**kwargs)
        self.context_padding = check_number("ProposalBoxes", "context_padding", context_padding, minimum=0,
                                            maximum=1)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        return shape, shape[:-1], shape

    def compute_output_spec(self, proposals):
        shape = tuple(proposals.shape)
        return [keras.KerasTensor(s, dtype="float32") for s in self.compute_output_shape(shape)]

    def call(self, proposals):
        boxes = tf.clip_by_value(tf.cast(proposals, "float32"), 0.0, 1.0)
        y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
        valid = (y2 > y1) & (x2 > x1)  # False for NaN
        boxes = tf.where(valid[..., None], boxes, tf.zeros_like(boxes))
        y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
        pad_y, pad_x = self.context_padding * (y2 - y1), self.context_padding * (x2 - x1)
        context = tf.stack([y1 - pad_y, x1 - pad_x, y2 + pad_y, x2 + pad_x], axis=-1)
        return [boxes, tf.cast(valid, "float32"), context]

    def get_config(self):
        config = super().get_config()
        config["context_padding"] = self.context_padding
        return config
