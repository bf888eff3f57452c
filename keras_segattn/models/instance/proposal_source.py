"""The built-in proposal source of the models that take proposals as input (SDS, Hypercolumns).

SDS and Hypercolumns classify and segment *given* regions (MCG in the papers),
so their models take a box list ``proposals (B, P, 4)`` beside the image and
any proposal method can be plugged in. For the embedded data the library
ships the simplest class-agnostic source there is: sliding windows, every box
of a few sizes and aspect ratios on a regular grid (the lecture's sliding-window
baseline), identical for every image. A model records the arguments it was
built with (``InstanceSegmentationModel(proposal_source=...)``) so its task
can feed it.
"""

from __future__ import annotations

import numpy as np

from keras_segattn.models.instance.boxes import generate_anchors
from keras_segattn.validation import check_int_pair, check_positive_int, message

__all__ = ["sliding_window_proposals"]


def sliding_window_proposals(image_size, sizes=(16.0, 32.0), aspect_ratios=(0.5, 1.0, 2.0), stride=8) -> np.ndarray:
    """Every window of ``sizes`` (pixels) x ``aspect_ratios`` (height / width) every ``stride`` pixels, clipped.

    Returns ``(P, 4)`` float32 normalised ``(y1, x1, y2, x2)`` boxes, P = cells x sizes x ratios.

    Example:
        >>> sliding_window_proposals((64, 64), sizes=(32.0,), aspect_ratios=(1.0,), stride=32).tolist()[0]
        [0.0, 0.0, 0.5, 0.5]
    """
    height, width = check_int_pair("sliding_window_proposals", "image_size", image_size)
    stride = check_positive_int("sliding_window_proposals", "stride", stride)
    if stride > min(height, width):
        raise ValueError(message("sliding_window_proposals", "stride", f"at most the image side {min(height, width)}",
                                 stride))
    cells = (-(-height // stride), -(-width // stride))
    boxes = generate_anchors(cells, (cells[0] * stride, cells[1] * stride), sizes, aspect_ratios)
    scale = np.array([cells[0] * stride / height, cells[1] * stride / width] * 2, np.float32)
    return np.clip(boxes * scale, 0.0, 1.0).astype(np.float32)
