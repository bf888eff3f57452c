"""Argument checks shared by the layers (private): thin wrappers of :mod:`keras_segattn.validation`."""

from __future__ import annotations

from keras_segattn import validation


def normalize_square_pool_size(pool_size, layer: str, minimum: int = 1) -> int:
    """``2`` or ``(2, 2)`` -> ``2`` (an int >= ``minimum``); anything else raises with the received value."""
    if isinstance(pool_size, (tuple, list)):
        if len(pool_size) != 2 or pool_size[0] != pool_size[1] or isinstance(pool_size[0], bool):
            raise ValueError(
                validation.message(layer, "pool_size", "an int or a square (k, k) tuple", pool_size)
                + " Non-square windows are not supported."
            )
        pool_size = pool_size[0]
    if minimum < 2:
        return validation.check_int(layer, "pool_size", pool_size, minimum=minimum)
    with validation.hint("A 1x1 window pools nothing (and space_to_depth, which the layer is built from so "
                         "it runs in TFLite and under XLA, needs a block of 2 or more)."):
        return validation.check_int(layer, "pool_size", pool_size, minimum=minimum)


def check_rank(shape, rank: int, layer: str, argument: str, expected: str):
    """:func:`keras_segattn.validation.check_rank` with the layers' argument order."""
    return validation.check_rank(layer, argument, shape, rank, expected)
