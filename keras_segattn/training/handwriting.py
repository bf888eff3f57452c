"""Handwriting strokes (Graves 2013): absolute points, pen-down polylines, DTW and a legibility distance.

Stroke convention, shared by the whole handwriting family: a sample is a
float32 array ``(N, 3)`` of rows ``(dx, dy, end_of_stroke)``: pen offsets from
the previous point (the first row is the offset from the origin), ``y`` points
up, and ``end_of_stroke`` is ``1.0`` on the last point of each pen-down stroke
(the pen lifts after it; the next row is a pen-up move to the next stroke's
first point). ``end_of_stroke`` is read as ``> 0.5``.

The legibility distance compares a generated sample with a reference one by
dynamic time warping (DTW) of their trajectories after removing position and
size, so it needs no handwriting recogniser: 0 for the same shape, larger the
more the pen paths differ.

Example:
    >>> import numpy as np
    >>> from keras_segattn.training.handwriting import legibility_distance, polylines
    >>> strokes = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0], [0, 1, 1]], np.float32)
    >>> [p.tolist() for p in polylines(strokes)]
    [[[1.0, 1.0], [2.0, 1.0]], [[3.0, 1.0], [3.0, 2.0]]]
    >>> bigger = strokes * np.array([3, 3, 1], np.float32)
    >>> legibility_distance(bigger, strokes)
    0.0
"""

from __future__ import annotations

import numpy as np

from keras_segattn.validation import message

__all__ = [
    "absolute_points",
    "polylines",
    "dtw_distance",
    "normalise_trajectory",
    "legibility_distance",
    "legibility_report",
]

_STROKES = "a non-empty (N, 3) stroke array of rows (dx, dy, end_of_stroke)"


def _check_finite(where: str, argument: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(message(where, argument, "finite (no NaN or inf)", float(values[bad][0])))


def _check_strokes(where: str, argument: str, strokes) -> np.ndarray:
    """``strokes`` as a float64 ``(N, 3)`` array with ``N >= 1`` and finite values."""
    try:
        array = np.asarray(strokes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(message(where, argument, _STROKES, type(strokes).__name__)) from None
    if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] == 0:
        raise ValueError(message(where, argument, _STROKES, f"shape {array.shape}"))
    _check_finite(where, argument, array)
    return array


def _check_points(where: str, argument: str, points) -> np.ndarray:
    """``points`` as a float64 ``(n, d)`` array with ``n, d >= 1`` (a 1-D ``(n,)`` is ``(n, 1)``)."""
    expected = "a non-empty (n, d) array of points"
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(message(where, argument, expected, type(points).__name__)) from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(message(where, argument, expected, f"shape {array.shape}"))
    _check_finite(where, argument, array)
    return array


def absolute_points(strokes) -> np.ndarray:
    """The ``(N, 2)`` absolute pen positions of a stroke array: the cumulative sum of its offsets.

    Row ``k`` is where the pen is after row ``k`` of ``strokes`` (the origin
    itself is not included). Computed in float64.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.handwriting import absolute_points
        >>> absolute_points(np.array([[1, 2, 0], [3, -1, 1]], np.float32)).tolist()
        [[1.0, 2.0], [4.0, 1.0]]
    """
    array = _check_strokes("absolute_points", "strokes", strokes)
    return np.cumsum(array[:, :2], axis=0)


def polylines(strokes) -> list[np.ndarray]:
    """The pen-down strokes of a sample, as a list of ``(k, 2)`` absolute-coordinate polylines.

    The array is split after each row whose ``end_of_stroke`` is set; the move
    from one stroke's last point to the next stroke's first point (pen up)
    belongs to no polyline. Rows after the last ``end_of_stroke`` (an
    unfinished stroke, e.g. a sample cut at a length) form a last polyline. A
    polyline of one point is a dot.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.handwriting import polylines
        >>> [len(p) for p in polylines(np.array([[0, 0, 1], [1, 0, 0], [1, 0, 0], [1, 0, 1]]))]
        [1, 3]
    """
    array = _check_strokes("polylines", "strokes", strokes)
    points = np.cumsum(array[:, :2], axis=0)
    ends = np.flatnonzero(array[:, 2] > 0.5) + 1
    return [piece for piece in np.split(points, ends) if len(piece)]


# Our own DTW: the well-kept Python DTW package (dtw-python) is GPL-3, and this
# project is Apache-2.0, so it cannot be a dependency. A few lines of NumPy do.
def dtw_distance(a, b) -> float:
    """Dynamic-time-warping distance between point sequences ``a`` ``(n, d)`` and ``b`` ``(m, d)``.

    The local cost is the Euclidean distance ``c[i, j] = |a[i] - b[j]|`` and
    the accumulated cost the standard recurrence (both ends aligned)::

        D[0, 0] = c[0, 0]
        D[i, j] = c[i, j] + min(D[i-1, j], D[i, j-1], D[i-1, j-1])

    The result is ``D[n-1, m-1] / (n + m)``: normalised by the sum of the
    lengths (an upper bound on the length of any warping path, which has
    between ``max(n, m)`` and ``n + m - 1`` steps), so it is a per-point cost in
    the units of the points and does not grow with the sampling rate.
    Symmetric, 0 for identical sequences. 1-D inputs are sequences of scalars.

    Runs in ``O(n m)`` time and ``O(m)`` memory with a Python loop over the rows
    of ``a`` only; each row is solved in closed form (see the code).

    Example:
        >>> from keras_segattn.training.handwriting import dtw_distance
        >>> dtw_distance([0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 2.0])
        0.0
        >>> dtw_distance([[0.0, 0.0]], [[3.0, 4.0]])
        2.5
    """
    a = _check_points("dtw_distance", "a", a)
    b = _check_points("dtw_distance", "b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            message("dtw_distance", "b", f"points of the same dimension as a ({a.shape[1]})", f"shape {b.shape}")
        )
    # Row 0 can only be reached from the left: D[0, j] = c[0, 0] + ... + c[0, j].
    row = np.cumsum(np.linalg.norm(b - a[0], axis=1))
    for i in range(1, len(a)):
        c = np.linalg.norm(b - a[i], axis=1)
        # From the row above: t[j] = c[j] + min(D[i-1, j], D[i-1, j-1]), with D[i-1, -1] = inf.
        t = c.copy()
        t[0] += row[0]
        t[1:] += np.minimum(row[1:], row[:-1])
        # Within the row: D[j] = min(t[j], c[j] + D[j-1]), D[-1] = inf. Unrolled, a path enters the
        # row at some k <= j and then moves right: D[j] = min_k (t[k] + c[k+1] + ... + c[j]). With
        # the prefix sums S[j] = c[0] + ... + c[j] that is S[j] + min_{k<=j} (t[k] - S[k]), a
        # running minimum (at j = 0 it is t[0], as it should be).
        s = np.cumsum(c)
        row = s + np.minimum.accumulate(t - s)
    return float(row[-1] / (len(a) + len(b)))


def normalise_trajectory(points) -> np.ndarray:
    """``points`` ``(n, 2)`` translated to zero mean and divided by their height (the ``y`` range).

    Handwriting of any position and size then compares: a line of text is
    about one unit high. When the height is 0 (a horizontal line, a single
    point) the largest coordinate range is used instead, and when that is 0 too
    the points are only centred.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.handwriting import normalise_trajectory
        >>> normalise_trajectory(np.array([[0.0, 0.0], [4.0, 2.0]])).tolist()
        [[-1.0, -0.5], [1.0, 0.5]]
    """
    array = _check_points("normalise_trajectory", "points", points)
    if array.shape[1] != 2:
        raise ValueError(message("normalise_trajectory", "points", "an (n, 2) array of (x, y) points",
                                 f"shape {array.shape}"))
    centred = array - array.mean(axis=0)
    ranges = np.ptp(array, axis=0)
    scale = ranges[1] if ranges[1] > 0 else ranges.max()
    return centred / scale if scale > 0 else centred


def legibility_distance(generated, reference) -> float:
    """DTW distance (:func:`dtw_distance`) between the normalised trajectories of two stroke arrays.

    Each ``(N, 3)`` stroke array becomes its absolute points (all of them, so
    the pen-up moves between strokes are part of the trajectory: where the
    next stroke starts matters as much as its shape), normalised by
    :func:`normalise_trajectory`. The result is a per-point distance in units
    of the writing's height: 0 for the same writing at another position or
    size, growing as the pen paths differ.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.handwriting import legibility_distance
        >>> line = np.array([[0, 0, 0], [1, 1, 0], [1, 1, 1]], np.float32)
        >>> legibility_distance(line, line * [2, 2, 1])
        0.0
    """
    where = "legibility_distance"
    g = _check_strokes(where, "generated", generated)
    r = _check_strokes(where, "reference", reference)
    return dtw_distance(normalise_trajectory(np.cumsum(g[:, :2], axis=0)),
                        normalise_trajectory(np.cumsum(r[:, :2], axis=0)))


def legibility_report(generated_list, reference_list) -> dict:
    """:func:`legibility_distance` of each generated sample to its reference, and their mean and median.

    Args:
        generated_list: a list of ``(N_i, 3)`` stroke arrays.
        reference_list: a list of ``(M_i, 3)`` stroke arrays, as many.

    Returns:
        ``{"mean": float, "median": float, "per_sample": [float, ...]}``.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.training.handwriting import legibility_report
        >>> line = np.array([[0, 0, 0], [1, 1, 0], [1, 1, 1]], np.float32)
        >>> legibility_report([line, line], [line, line * [1, 2, 1]])["per_sample"][0]
        0.0
    """
    where = "legibility_report"
    lists = {}
    for name, value in (("generated_list", generated_list), ("reference_list", reference_list)):
        if isinstance(value, np.ndarray) and value.ndim == 2:
            raise ValueError(message(where, name, "a list of (N, 3) stroke arrays (wrap one array in a list)",
                                     f"shape {value.shape}"))
        try:
            lists[name] = list(value)
        except TypeError:
            raise ValueError(message(where, name, "a list of (N, 3) stroke arrays", type(value).__name__)) from None
        if not lists[name]:
            raise ValueError(message(where, name, "a non-empty list of (N, 3) stroke arrays", []))
    generated_list, reference_list = lists["generated_list"], lists["reference_list"]
    if len(generated_list) != len(reference_list):
        raise ValueError(message(where, "len(reference_list)", f"len(generated_list) = {len(generated_list)}",
                                 len(reference_list)))
    per_sample = []
    for k, (g, r) in enumerate(zip(generated_list, reference_list)):
        g = _check_strokes(where, f"generated_list[{k}]", g)
        r = _check_strokes(where, f"reference_list[{k}]", r)
        per_sample.append(legibility_distance(g, r))
    return {
        "mean": float(np.mean(per_sample)),
        "median": float(np.median(per_sample)),
        "per_sample": per_sample,
    }
