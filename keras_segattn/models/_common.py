"""Argument checks shared by the model builders (private), in :mod:`keras_segattn.validation`'s format."""

from __future__ import annotations

from keras_segattn.validation import check_optional_int, message


def check_image_shape(input_shape, model: str, channels=3) -> tuple:
    """``input_shape`` must be ``(height, width, channels)``; None allowed for H and W."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if shape is None or len(shape) != 3:
        raise ValueError(
            message(model, "input_shape", "(height, width, channels) without the batch dimension", input_shape)
        )
    height, width = (
        check_optional_int(model, f"input_shape {label}", value, minimum=1)
        for label, value in zip(("height", "width"), shape[:2])
    )
    if channels is not None and shape[2] != channels:
        raise ValueError(
            message(model, "input_shape", f"(height, width, {channels}) (raw RGB in [0, 255])", shape)
        )
    return (height, width, shape[2])


def nearest_valid_sizes(size: int, multiple: int, minimum: int) -> list[int]:
    """The valid sizes just below and above ``size`` (multiples of ``multiple``, >= ``minimum``)."""
    lower = max(minimum, (size // multiple) * multiple)
    upper = max(minimum, -(-size // multiple) * multiple)
    return sorted({lower, upper})
