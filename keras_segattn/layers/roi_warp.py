"""Differentiable RoI warping: a fixed-size bilinear crop of the features per box."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.layers._grid import coordinate_dtype, normalize_output_size
from keras_segattn.validation import check_number, check_rank, message

# Why not ``tf.image.crop_and_resize`` (measured with TF 2.21 on CPU):
# (a) XLA: ``jit_compile=True`` fails, forward and gradient alike ("No
#     registered 'CropAndResize' OpKernel for XLA_CPU_JIT devices");
# (b) TFLite with ``TFLITE_BUILTINS`` only fails ("'tf.CropAndResize' op is
#     neither a custom op nor a flex op"; it needs the Flex delegate).
# tf2onnx does convert it. So the layer is built from ops every target has:
# sample coordinates per axis, floor/fraction and 4 ``tf.gather`` of the
# neighbours from the flattened features (GATHER in TFLite, Gather in ONNX).
# Gathers, not separable interpolation matrices contracted with einsum: they
# cost 4 h w C per box whatever the feature map's size (the matrices cost
# h H W C), and they interpolate with crop_and_resize's own arithmetic
# (top = tl + (tr - tl) x_lerp, ...), so the values agree to float rounding.


@keras.saving.register_keras_serializable(package="keras_segattn")
class RoIWarp(keras.layers.Layer):
    """Crops every box of ``boxes`` out of ``features`` and resizes it to ``output_size`` (bilinear).

    The differentiable RoI warping of Dai, He & Sun, "Instance-aware Semantic
    Segmentation via Multi-task Network Cascades", CVPR 2016, section 3.2
    ("Differentiable RoI warping"): the crop is ``sum_{h,w} G(h, w; box)
    F(h, w)`` with the bilinear kernel ``G = max(0, 1 - |y_s - h|) max(0, 1 -
    |x_s - w|)`` at sample points ``(y_s, x_s)`` that are a function of the
    box, so gradients flow to the features *and* to the box coordinates (the
    derivative of ``G``), and the boxes can be trained end to end, as in the
    paper's cascade.

    **Boxes** are normalised ``(y1, x1, y2, x2)``, exactly as
    ``tf.image.crop_and_resize`` takes them: box coordinate ``y`` is pixel row
    ``y (H - 1)`` (0 and 1 are the centres of the first and last rows). An
    output of ``h > 1`` rows samples rows ``y1 (H - 1) + i (y2 - y1) (H - 1) /
    (h - 1)``, ``i = 0 .. h - 1``, so the first and last output rows sit on the
    box edges; ``h == 1`` samples the middle ``(y1 + y2) (H - 1) / 2``. Columns
    likewise with ``W``. ``y1 > y2`` (or ``x1 > x2``) is allowed and gives a
    flipped crop. A sample outside ``[0, H - 1] x [0, W - 1]`` is
    ``extrapolation_value`` (all channels; no interpolation with the border).
    Values equal ``crop_and_resize``'s to float rounding, with one exception in
    the layer's favour: a box edge at 0 or 1 samples exactly the first or last
    pixel, where ``crop_and_resize``'s sum ``y1 (H - 1) + i step`` can round
    past ``H - 1`` and give ``extrapolation_value`` (e.g. the whole box
    ``(0, 0, 1, 1)`` at ``H = 8``, ``h = 14``: measured).

    The gradient with respect to a box coordinate is the local slope of the
    features at the samples (zero where a sample is outside). At a sample on
    an exact pixel row or column the bilinear kernel has a kink; the layer
    takes the slope towards the next row/column there (``crop_and_resize``
    takes 0), so the whole-image box still gets a useful gradient.

    Built from gathers (not ``crop_and_resize``), so it compiles under XLA and
    converts to TFLite builtins (``GATHER``) and ONNX.

    Args:
        output_size: ``(h, w)`` of every crop (positive ints).
        extrapolation_value: value of samples outside the features (float,
            default 0).

    Input shape:
        ``[features, boxes]``: ``features`` ``(batch, H, W, C)``; ``boxes``
        ``(batch, R, 4)`` as ``(y1, x1, y2, x2)``. H, W and R may be dynamic;
        R may be 0.

    Output shape:
        ``(batch, R, h, w, C)`` in the features' compute dtype. Boxes are not
        autocast: they stay float32 (float64 if the layer's dtype is float64)
        under mixed precision, so the sample points keep their precision.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import RoIWarp
        >>> features = np.arange(25, dtype="float32").reshape(1, 5, 5, 1)  # value = 5 row + column
        >>> boxes = np.array([[[0.25, 0.0, 0.75, 0.5]]], "float32")  # rows 1..3, columns 0..2
        >>> RoIWarp((3, 2))([features, boxes]).numpy()[0, 0, :, :, 0].tolist()
        [[5.0, 7.0], [10.0, 12.0], [15.0, 17.0]]
    """

    def __init__(self, output_size, extrapolation_value=0.0, **kwargs):
        # Features are cast to the compute dtype in call(); the boxes must
        # not be cast to float16 under mixed precision (see the docstring).
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.output_size = normalize_output_size(output_size, "RoIWarp")
        self.extrapolation_value = check_number("RoIWarp", "extrapolation_value", extrapolation_value)

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2:
            raise ValueError(message("RoIWarp", "inputs", "a list [features, boxes]", shapes))
        features, boxes = (None if s is None else tuple(s) for s in shapes)
        check_rank("RoIWarp", "features", features, 4, "(batch, height, width, channels)")
        if boxes is None or len(boxes) != 3 or boxes[-1] != 4:
            raise ValueError(
                message("RoIWarp", "boxes", "of shape (batch, num_boxes, 4) holding normalised (y1, x1, y2, x2)",
                        f"shape {boxes}")
            )
        if features[0] is not None and boxes[0] is not None and features[0] != boxes[0]:
            raise ValueError(
                message("RoIWarp", "boxes", f"of batch size {features[0]} (the features' batch size)",
                        f"shape {boxes} with features of shape {features}")
            )
        return features, boxes

    def build(self, input_shape):
        self._check(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        features, boxes = self._check(input_shape)
        batch = features[0] if features[0] is not None else boxes[0]
        return (batch, boxes[1], *self.output_size, features[3])

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            self._check(inputs)  # raises, naming the inputs
        features = tf.cast(inputs[0], self.compute_dtype)
        dtype = coordinate_dtype(self.compute_dtype)
        boxes = tf.cast(inputs[1], dtype)
        self._check([features.shape, boxes.shape])
        shape = tf.shape(features)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        y1, x1, y2, x2 = (boxes[:, :, k : k + 1] for k in range(4))  # (B, R, 1) each
        top, bottom, y_valid, y_lerp = self._axis(y1, y2, self.output_size[0], height, dtype)  # (B, R, h)
        left, right, x_valid, x_lerp = self._axis(x1, x2, self.output_size[1], width, dtype)  # (B, R, w)

        # Flat indices b H W + row W + column into (B H W, C), (B, R, h, w) per
        # neighbour. expand_dims rather than [..., None]: a new-axis strided
        # slice of a dynamic shape needs Flex in TFLite.
        flat = tf.reshape(features, tf.stack([batch * height * width, channels]))
        base = tf.reshape(tf.range(batch) * (height * width), [-1, 1, 1])

        def rows(index):
            return tf.expand_dims(base + index * width, 3)  # (B, R, h, 1)

        def columns(index):
            return tf.expand_dims(index, 2)  # (B, R, 1, w)

        def take(row, column):
            return tf.gather(flat, rows(row) + columns(column))  # (B, R, h, w, C)

        x_lerp = tf.expand_dims(tf.expand_dims(tf.cast(x_lerp, features.dtype), 2), 4)  # (B, R, 1, w, 1)
        y_lerp = tf.expand_dims(tf.expand_dims(tf.cast(y_lerp, features.dtype), 3), 4)  # (B, R, h, 1, 1)
        # crop_and_resize's own arithmetic.
        top_left, top_right = take(top, left), take(top, right)
        bottom_left, bottom_right = take(bottom, left), take(bottom, right)
        upper = top_left + (top_right - top_left) * x_lerp
        lower = bottom_left + (bottom_right - bottom_left) * x_lerp
        crops = upper + (lower - upper) * y_lerp
        valid = tf.logical_and(tf.expand_dims(y_valid, 3), tf.expand_dims(x_valid, 2))  # (B, R, h, w)
        fill = tf.cast(self.extrapolation_value, features.dtype)
        return tf.where(tf.expand_dims(valid, 4), crops, fill)

    @staticmethod
    def _axis(start, end, size, extent, dtype):
        """Lower and upper neighbour, validity and fraction of the samples along one axis, ``(B, R, size)`` each."""
        # Sample i at (start (1 - t_i) + end t_i) (extent - 1), t_i = i / (size - 1)
        # (1/2 for size 1): the same points as crop_and_resize's start (extent - 1)
        # + i step, but the end points are exact (t = 0 and 1 are exact), so a
        # box edge at 1 is the last pixel, not a rounding error past it.
        t = np.full(1, 0.5) if size == 1 else np.arange(size) / (size - 1)
        ends = tf.constant(np.stack([1.0 - t, t]), dtype)  # (2, size)
        last = tf.cast(extent - 1, dtype)
        pixel = (start * ends[0] + end * ends[1]) * last  # (B, R, size)
        valid = tf.logical_and(pixel >= 0.0, pixel <= last)
        pixel = tf.clip_by_value(pixel, tf.zeros_like(pixel), last * tf.ones_like(pixel))
        lower = tf.floor(pixel)
        # Clamped again: a NaN or infinite box gives any integer here (its
        # samples are invalid, so they read a real pixel and show the fill).
        index = tf.clip_by_value(tf.cast(lower, "int32"), 0, extent - 1)
        # The upper neighbour is the next pixel even when the sample is on one
        # (crop_and_resize uses ceil there): the same value (fraction 0), and
        # the gradient is the slope towards the next pixel instead of 0.
        fraction = tf.where(valid, pixel - lower, tf.zeros_like(pixel))  # no NaN from a NaN box
        return index, tf.minimum(index + 1, extent - 1), valid, fraction

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": self.output_size, "extrapolation_value": self.extrapolation_value})
        return config
