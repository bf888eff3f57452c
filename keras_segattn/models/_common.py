"""Argument checks shared by the model builders (private), in :mod:`keras_segattn.validation`'s format."""

from __future__ import annotations

from keras_segattn.validation import check_optional_int, is_int, message


def check_image_shape(input_shape, model: str, channels=3) -> tuple:
    """``input_shape`` must be ``(height, width, channels)``; None allowed for H and W."""
    try:
        shape = None if isinstance(input_shape, (str, bytes)) else tuple(input_shape)
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
    if channels is not None and not (is_int(shape[2]) and shape[2] == channels):
        raise ValueError(
            message(model, "input_shape", f"(height, width, {channels}) (raw RGB in [0, 255])", shape)
        )
    if not is_int(shape[2]) or shape[2] < 1:
        raise ValueError(message(model, "input_shape", "(height, width, channels) with at least 1 channel", shape))
    return (height, width, int(shape[2]))


def nearest_valid_sizes(size: int, multiple: int, minimum: int) -> list[int]:
    """The valid sizes just below and above ``size`` (multiples of ``multiple``, >= ``minimum``)."""
    lower = max(minimum, (size // multiple) * multiple)
    upper = max(minimum, -(-size // multiple) * multiple)
    return sorted({lower, upper})


def check_backbone_weights(backbone_weights, model: str):
    """``None``, ``"imagenet"`` or the path of an existing file: checked before anything is built
    (the loaders check again after the model exists, too late to fail fast)."""
    import os

    if backbone_weights is None or backbone_weights == "imagenet":
        return backbone_weights
    if isinstance(backbone_weights, (str, os.PathLike)) and os.path.exists(backbone_weights):
        return backbone_weights
    raise ValueError(
        message(model, "backbone_weights", "None, 'imagenet' or the path of an existing weights file",
                backbone_weights)
    )
