"""Argument checks shared by the layers (private)."""

from __future__ import annotations


def normalize_square_pool_size(pool_size, layer: str) -> int:
    """``2`` or ``(2, 2)`` -> ``2``; anything else raises with the received value."""
    if isinstance(pool_size, (tuple, list)):
        if len(pool_size) != 2 or pool_size[0] != pool_size[1]:
            raise ValueError(
                f"{layer}: pool_size must be an int or a square (k, k) tuple, received "
                f"{pool_size!r}. Non-square windows are not supported."
            )
        pool_size = pool_size[0]
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ValueError(f"{layer}: pool_size must be a positive int, received {pool_size!r}.")
    return int(pool_size)


def check_rank(shape, rank: int, layer: str, argument: str, expected: str):
    if shape is None or len(shape) != rank:
        raise ValueError(
            f"{layer}: {argument} must have rank {rank} {expected}, received shape {tuple(shape) if shape is not None else None}."
        )


def check_positive_int(value, layer: str, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{layer}: {argument} must be a positive int, received {value!r}.")
    return int(value)
