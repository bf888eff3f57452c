"""Differentiable bilinear sampling of images at arbitrary grid locations."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.layers._grid import coordinate_dtype
from keras_segattn.validation import check_bool, check_choice, check_rank, message

PADDINGS = ("zeros", "border")

# Fractional positions within this many pixels (per pixel of the side) of a
# pixel centre are taken as that centre. The identity grid's float32
# normalised coordinates convert back to pixels with an error below
# 0.5 * 2**-24 * side pixels (measured for every side up to 2048, with and
# without a fused multiply-add), so the snap (8x that) stays inside float32
# rounding noise and makes the identity transform reproduce the input
# exactly. The gradient is not snapped (straight-through), see ``_snap``.
_SNAP_PER_PIXEL = 2.0**-22


def _snap(t, tolerance):
    """``t`` in [0, 1) -> 0 or 1 when within ``tolerance`` of them; gradient of ``t`` kept."""
    zero, one = tf.zeros_like(t), tf.ones_like(t)
    snapped = tf.where(t < tolerance, zero, tf.where(t > 1.0 - tolerance, one, t))
    # t + (snapped - t) equals snapped exactly (Sterbenz: t is in [0, 1]).
    return t + tf.stop_gradient(snapped - t)


@keras.saving.register_keras_serializable(package="keras_segattn")
class BilinearSampler(keras.layers.Layer):
    """Samples ``images`` at the ``(x, y)`` locations of ``grid`` with bilinear interpolation.

    The sampler of a spatial transformer (Jaderberg et al., "Spatial
    Transformer Networks", NIPS 2015, eq. 5): output pixel ``(i, j)`` is
    ``sum_nm U_nm max(0, 1 - |x_s - m|) max(0, 1 - |y_s - n|)`` over the input
    pixels ``U_nm``, where ``(x_s, y_s)`` is ``grid[b, i, j]`` converted to pixel
    units. It is differentiable with respect to the images and the grid (so
    to theta); the gradient with respect to a coordinate is the local slope of
    the image, zero where the coordinate is clamped.

    **Coordinates.** ``grid[..., 0]`` is x (along the width) and
    ``grid[..., 1]`` is y (along the height), normalised to ``[-1, 1]``. With
    ``align_corners=True`` (the paper's convention, default) -1 and +1 are the
    centres of the corner pixels: ``x_pixel = (x + 1) (W - 1) / 2``. With
    ``align_corners=False`` they are the outer edges of the corner pixels:
    ``x_pixel = ((x + 1) W - 1) / 2``. Grid generators must use the same value.
    Locations within ``2**-22 * side`` pixels of a pixel centre (float32
    rounding noise) are taken as that centre, so the identity grid of a
    same-sized output reproduces the input exactly; the gradient is unchanged.

    **Borders** (``padding``):

    * ``"zeros"`` (default): the image is extended with zeros and
      interpolation continues across the border, so a location half a pixel
      outside gets half the edge value and locations a pixel or more outside
      get 0. Same as ``scipy.ndimage.map_coordinates(order=1,
      mode="grid-constant", cval=0)`` and PyTorch
      ``grid_sample(padding_mode="zeros")``.
    * ``"border"``: locations are clamped to the image (edge pixels repeat
      outward). Same as ``map_coordinates(order=1, mode="nearest")`` and
      ``grid_sample(padding_mode="border")``.

    Implemented with integer indices and ``tf.gather`` on the flattened
    images (4 gathers): compiles under XLA and converts to TFLite builtins
    (``GATHER``) and ONNX (``Gather``); no ``ResizeBilinear`` or custom ops.

    Args:
        padding: ``"zeros"`` or ``"border"`` (see above).
        align_corners: coordinate convention, default True.

    Input shape:
        ``[images, grid]``: ``images`` ``(batch, H, W, C)``; ``grid``
        ``(batch, H_out, W_out, 2)``. H and W may be dynamic.

    Output shape:
        ``(batch, H_out, W_out, C)``, the images' compute dtype. Coordinates
        are handled in float32 (float64 if the layer's dtype is float64).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import AffineGridGenerator, BilinearSampler
        >>> image = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
        >>> shift = np.array([[1, 0, 0.5, 0, 1, 0]], "float32")  # sample half a pixel to the right
        >>> grid = AffineGridGenerator((3, 3))(shift)
        >>> BilinearSampler(padding="zeros")([image, grid]).numpy()[0, 0, :, 0].tolist()
        [0.5, 1.5, 1.0]
    """

    def __init__(self, padding="zeros", align_corners=True, **kwargs):
        super().__init__(**kwargs)
        self.padding = check_choice("BilinearSampler", "padding", padding, PADDINGS)
        self.align_corners = check_bool("BilinearSampler", "align_corners", align_corners)

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2:
            raise ValueError(
                f"BilinearSampler: inputs must be a list [images, grid], received {shapes!r}."
            )
        images, grid = (None if s is None else tuple(s) for s in shapes)
        check_rank("BilinearSampler", "images", images, 4, "(batch, height, width, channels)")
        if grid is None or len(grid) != 4 or grid[-1] != 2:
            raise ValueError(
                message(
                    "BilinearSampler", "grid", "of shape (batch, out_height, out_width, 2) holding (x, y)",
                    f"shape {grid}",
                )
            )
        if images[0] is not None and grid[0] is not None and images[0] != grid[0]:
            raise ValueError(
                f"BilinearSampler: images and grid must have the same batch size, received "
                f"images {images} and grid {grid}."
            )
        return images, grid

    def build(self, input_shape):
        self._check(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        images, grid = self._check(input_shape)
        return (images[0] if images[0] is not None else grid[0], grid[1], grid[2], images[3])

    def call(self, inputs):
        images, grid = inputs
        self._check([images.shape, grid.shape])
        images = tf.cast(images, self.compute_dtype)
        dtype = coordinate_dtype(self.compute_dtype)
        grid = tf.cast(grid, dtype)
        shape = tf.shape(images)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        if self.padding == "zeros":
            # One ring of zeros; interpolating into it is zero padding.
            images = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
            pad = 1
        else:
            pad = 0
        padded_h, padded_w = height + 2 * pad, width + 2 * pad

        x, y = tf.unstack(grid, axis=-1)  # (B, Ho, Wo) each
        x0, x1, wx = self._axis(x, width, padded_w, pad, dtype)
        y0, y1, wy = self._axis(y, height, padded_h, pad, dtype)

        flat = tf.reshape(images, [-1, channels])
        base = tf.reshape(tf.range(batch) * (padded_h * padded_w), [-1, 1, 1])
        row0, row1 = base + y0 * padded_w, base + y1 * padded_w

        def take(rows, cols):
            return tf.gather(flat, rows + cols)  # (B, Ho, Wo, C)

        wx = tf.expand_dims(tf.cast(wx, images.dtype), -1)
        wy = tf.expand_dims(tf.cast(wy, images.dtype), -1)
        one = tf.ones_like(wx)
        return (
            take(row0, x0) * ((one - wx) * (one - wy))
            + take(row0, x1) * (wx * (one - wy))
            + take(row1, x0) * ((one - wx) * wy)
            + take(row1, x1) * (wx * wy)
        )

    def _axis(self, coord, size, padded_size, pad, dtype):
        """Integer neighbours and the weight of the upper one along one axis."""
        size_f = tf.cast(size, dtype)
        # pixel = coord * scale + offset: one multiply and one add (each a
        # single requantisation in int8 TFLite).
        if self.align_corners:
            scale = (size_f - 1.0) / 2.0  # -1/+1 at the corner pixel centres
            offset = scale + float(pad)
        else:
            scale = size_f / 2.0  # -1/+1 at the corner pixel edges
            offset = (size_f - 1.0) / 2.0 + float(pad)
        pixel = coord * scale + offset
        high = tf.cast(padded_size - 1, dtype)
        pixel = tf.clip_by_value(pixel, tf.zeros_like(pixel), high * tf.ones_like(pixel))
        lower = tf.floor(pixel)
        frac = _snap(pixel - lower, size_f * _SNAP_PER_PIXEL)
        i0 = tf.clip_by_value(tf.cast(lower, "int32"), 0, padded_size - 1)
        i1 = tf.minimum(i0 + 1, padded_size - 1)
        return i0, i1, frac

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "align_corners": self.align_corners})
        return config
