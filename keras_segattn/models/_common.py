"""Argument checks shared by the model builders (private)."""

from __future__ import annotations


def check_num_classes(num_classes, model: str) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"{model}: num_classes must be an int >= 1, received {num_classes!r}."
        )
    return num_classes


def check_image_shape(input_shape, model: str, channels=3) -> tuple:
    """``input_shape`` must be ``(height, width, channels)``; None allowed for H and W."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"{model}: input_shape must be (height, width, channels) without the batch "
            f"dimension, received {input_shape!r}."
        )
    for label, value in zip(("height", "width"), shape[:2]):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(
                f"{model}: input_shape {label} must be a positive int or None, received {value!r}."
            )
    if channels is not None and shape[2] != channels:
        raise ValueError(
            f"{model}: input_shape must have {channels} channels (raw RGB in [0, 255]), "
            f"received {shape[2]!r}."
        )
    return shape


def nearest_valid_sizes(size: int, multiple: int, minimum: int) -> list[int]:
    """The valid sizes just below and above ``size`` (multiples of ``multiple``, >= ``minimum``)."""
    lower = max(minimum, (size // multiple) * multiple)
    upper = max(minimum, -(-size // multiple) * multiple)
    return sorted({lower, upper})
