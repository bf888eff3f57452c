"""Argument validation with one message format, in the spirit of Keras' ``argument_validation``.

Every check raises ``ValueError`` (``TypeError`` where only the type is wrong is
not distinguished: users read one message) worded as::

    <where>: <argument> must be <expected>, received <value>.

and returns the normalised value. Arguments come in the message's order:
``check_positive_int("MaxUnpooling2D", "pool_size", value)``.

Example:
    >>> from keras_segattn.validation import check_positive_int
    >>> check_positive_int("MyLayer", "units", 0)
    Traceback (most recent call last):
    ...
    ValueError: MyLayer: units must be a positive int, received 0.
"""

from __future__ import annotations

import contextlib
import numbers

__all__ = [
    "message",
    "is_int",
    "check_int",
    "check_positive_int",
    "check_optional_int",
    "check_int_pair",
    "check_int_tuple",
    "check_number",
    "check_choice",
    "check_rank",
    "check_bool",
    "hint",
]


def message(where: str, argument: str, expected: str, received) -> str:
    """The one error format: ``"<where>: <argument> must be <expected>, received <value>."``."""
    shown = received if isinstance(received, str) and received.startswith("shape ") else repr(received)
    return f"{where}: {argument} must be {expected}, received {shown}."


def is_int(value) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_expected(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    if minimum is not None:
        return "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if maximum is not None:
        return f"an int <= {maximum}"
    return "an int"


def _int_in_range(value, minimum: int | None, maximum: int | None) -> bool:
    return is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def check_int(where: str, argument: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int within ``[minimum, maximum]`` (each optional)."""
    if not _int_in_range(value, minimum, maximum):
        raise ValueError(message(where, argument, _int_expected(minimum, maximum), value))
    return int(value)


def check_positive_int(where: str, argument: str, value) -> int:
    """``value`` as an int >= 1."""
    return check_int(where, argument, value, minimum=1)


def check_optional_int(where: str, argument: str, value, *, minimum: int | None = None,
                       maximum: int | None = None) -> int | None:
    """``None``, or ``value`` as an int within ``[minimum, maximum]`` (each optional).

    Example:
        >>> check_optional_int("LuongAttention", "units", None, minimum=1) is None
        True
        >>> check_optional_int("LuongAttention", "units", 0, minimum=1)
        Traceback (most recent call last):
        ...
        ValueError: LuongAttention: units must be None or a positive int, received 0.
    """
    if value is None:
        return None
    if not _int_in_range(value, minimum, maximum):
        raise ValueError(message(where, argument, "None or " + _int_expected(minimum, maximum), value))
    return int(value)


def check_int_tuple(where: str, argument: str, values, *, minimum: int = 1, length: int | None = None,
                    allow_none: bool = False) -> tuple:
    """``values`` as a tuple of ints >= ``minimum`` (``None`` entries with ``allow_none``),
    non-empty, of ``length`` items when given."""
    what = f"{length} " if length else ""
    expected = f"a tuple of {what}ints >= {minimum}" + (" or None" if allow_none else "")
    try:
        items = tuple(values)
    except TypeError:
        raise ValueError(message(where, argument, expected, values)) from None
    if isinstance(values, (str, bytes)) or not items or (length is not None and len(items) != length):
        raise ValueError(message(where, argument, expected, values))
    for item in items:
        if item is None and allow_none:
            continue
        if not is_int(item) or item < minimum:
            raise ValueError(message(where, argument, expected, values))
    return tuple(None if v is None else int(v) for v in items)


def check_int_pair(where: str, argument: str, value, *, minimum: int = 1, allow_none: bool = False) -> tuple:
    """``value`` as a pair ``(a, b)`` of ints >= ``minimum``."""
    return check_int_tuple(where, argument, value, minimum=minimum, length=2, allow_none=allow_none)


def check_number(where: str, argument: str, value, *, minimum=None, maximum=None,
                 exclusive_minimum: bool = False) -> float:
    """``value`` as a finite real number within the bounds (``minimum`` exclusive with ``exclusive_minimum``)."""
    import math

    low = "" if minimum is None else (f"> {minimum}" if exclusive_minimum else f">= {minimum}")
    high = "" if maximum is None else f"<= {maximum}"
    expected = "a finite number" + (f" {low}" if low else "") + (f" and {high}" if low and high else f" {high}" if high else "")
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if exclusive_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        raise ValueError(message(where, argument, expected, value))
    return float(value)


def check_positive_numbers(where: str, argument: str, values) -> tuple:
    """``values`` as a non-empty tuple of finite numbers > 0 (anchor or window sizes, aspect ratios)."""
    try:
        values = None if isinstance(values, (str, bytes)) else tuple(values)
    except TypeError:
        values = None
    if not values:
        raise ValueError(message(where, argument, "a non-empty sequence of positive numbers", values))
    return tuple(check_number(where, argument, v, minimum=0, exclusive_minimum=True) for v in values)


def check_choice(where: str, argument: str, value, choices):
    """``value`` if it is one of ``choices`` (compared with ``==``)."""
    choices = tuple(choices)
    if not any(value == c and type(value) is type(c) for c in choices):
        raise ValueError(message(where, argument, f"one of {', '.join(repr(c) for c in choices)}", value))
    return value


def check_rank(where: str, argument: str, shape, rank: int, expected: str = "") -> tuple:
    """``shape`` has ``rank`` dimensions; ``expected`` names them (``"(batch, height, width, channels)"``)."""
    if shape is None or len(shape) != rank:
        shown = f"shape {tuple(shape) if shape is not None else None}"
        raise ValueError(message(where, argument, f"of rank {rank}" + (f" {expected}" if expected else ""), shown))
    return tuple(shape)


def check_bool(where: str, argument: str, value) -> bool:
    """``value`` (a Python or NumPy bool; not 0/1 or a string) as a bool.

    Example:
        >>> check_bool("BilinearSampler", "align_corners", "yes")
        Traceback (most recent call last):
        ...
        ValueError: BilinearSampler: align_corners must be True or False, received 'yes'.
    """
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(message(where, argument, "True or False", value))
    return bool(value)


@contextlib.contextmanager
def hint(text: str):
    """Appends ``text`` (a sentence of help) to the message of a ``ValueError`` raised inside.

    Example:
        >>> with hint("Labels are the digits 0..num_classes-1."):
        ...     check_int("distorted_digits", "num_classes", 11, minimum=2, maximum=10)
        Traceback (most recent call last):
        ...
        ValueError: distorted_digits: num_classes must be an int in [2, 10], received 11. Labels are the digits 0..num_classes-1.
    """
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{error} {text}") from None
