"""IAM On-Line Handwriting Database (IAM-OnDB) files as pen-offset sequences, for handwriting synthesis.

Liwicki & Bunke, "IAM-OnDB - an On-Line English Sentence Database Acquired
from Handwritten Text on a Whiteboard", ICDAR 2005: about 13 000 lines of
English text written by 221 writers on a whiteboard, recorded as pen
trajectories. Graves, "Generating Sequences With Recurrent Neural Networks"
(2013) trains handwriting prediction and synthesis on it. The database is
free for non-commercial research after registration, so nothing here
downloads it: users who have it point :func:`iam_ondb_lines` at the folder
holding its unpacked ``lineStrokes`` and ``ascii`` archives.

Layout of the database::

    lineStrokes/a01/a01-000/a01-000u-01.xml   one file per written text line
    lineStrokes/a01/a01-000/a01-000u-02.xml
    ascii/a01/a01-000/a01-000u.txt            the transcription of the form

A stroke file holds the pen-down strokes of a line in writing order::

    <WhiteboardCaptureSession>
      <WhiteboardDescription>...</WhiteboardDescription>      (ignored)
      <StrokeSet>
        <Stroke colour="black" start_time="..." end_time="...">
          <Point x="1073" y="1058" time="..."/>
          ...
        </Stroke>
        ...
      </StrokeSet>
    </WhiteboardCaptureSession>

``x`` and ``y`` are whiteboard sensor units, ``y`` growing downward. A
transcription file has header lines, an ``OCR:`` section, then a ``CSR:``
line, a blank line and one line of text per written line: the ``i``-th line
of the ``CSR:`` block is the text of ``...-{i:02d}.xml``.

The stroke convention of the handwriting-synthesis family: a sample is a
float32 array of shape ``(N, 3)``, one row ``(dx, dy, end_of_stroke)`` per pen
point. ``dx, dy`` is the offset from the previous point, the first row's
from the origin; the loaders put the origin on the first point, so the first
row is ``(0, 0, e)`` and ``np.cumsum(strokes[:, :2], axis=0)`` gives every
point relative to the first one. ``y`` points up (IAM's ``y`` is flipped).
``end_of_stroke`` is 1.0 on the last point of every pen-down stroke (the pen
lifts after it, so the next row's offset is a pen-up move) and 0.0
elsewhere. Offsets keep the sensor's units; :func:`normalise_strokes`
rescales them.

The XML is read with the standard library's ``xml.etree.ElementTree``
(expat refuses the exponential entity expansions of hostile files; the
database's own files hold none).
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from keras_segattn.data.files import ON_CORRUPT, CorruptFiles
from keras_segattn.validation import check_choice, check_number, check_optional_int, message

__all__ = [
    "read_strokes_xml",
    "normalise_strokes",
    "read_transcriptions",
    "iam_ondb_lines",
]

_STROKE_FILE = "an IAM-OnDB stroke file (lineStrokes/<a01>/<a01-000>/<a01-000u-01>.xml)"
_TEXT_FILE = "an IAM-OnDB transcription file (ascii/<a01>/<a01-000>/<a01-000u>.txt)"


def _existing_file(where, path, expected):
    try:
        text = os.fspath(path)
    except TypeError:
        raise ValueError(message(where, "path", "a str or os.PathLike naming " + expected, path)) from None
    if not text:
        raise ValueError(message(where, "path", "a str or os.PathLike naming " + expected, path))
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(message(where, "path", "an existing file, " + expected, str(path)))
    return path


def _stroke_points(where, path, root):
    """The ``(x, y)`` points of each non-empty ``Stroke`` of the first ``StrokeSet``, in file order."""
    stroke_set = next(root.iter("StrokeSet"), None)
    if stroke_set is None:
        raise ValueError(
            f"{message(where, 'path', _STROKE_FILE + ' holding a StrokeSet element', str(path))} "
            f"Its root element is <{root.tag}> and holds no <StrokeSet>."
        )
    strokes = []
    for stroke_index, stroke in enumerate(stroke_set.findall("Stroke"), start=1):
        points = []
        for point_index, point in enumerate(stroke.findall("Point"), start=1):
            x, y = point.get("x"), point.get("y")
            try:
                xy = (float(x), float(y))
            except (TypeError, ValueError):
                xy = None
            if xy is None or not np.isfinite(xy).all():
                raise ValueError(
                    f"{message(where, 'path', _STROKE_FILE + ' whose Point elements have numeric x and y', str(path))} "
                    f"Stroke {stroke_index}, point {point_index} has x={x!r}, y={y!r}."
                )
            points.append(xy)
        if points:
            strokes.append(points)
    if not strokes:
        raise ValueError(
            f"{message(where, 'path', _STROKE_FILE + ' with at least one Point in its StrokeSet', str(path))} "
            "Its StrokeSet holds no <Stroke> with <Point> elements."
        )
    return strokes


def read_strokes_xml(path) -> np.ndarray:
    """The pen trajectory of one IAM-OnDB stroke file as float32 ``(N, 3)`` rows ``(dx, dy, end_of_stroke)``.

    Follows the module's convention: the first row is ``(0, 0, e)`` (the
    first point is the origin), ``dy`` points up (IAM's ``y`` is negated),
    ``end_of_stroke`` is 1 on the last point of every stroke. Points keep the
    file's order (the database writes strokes and points in writing order;
    their ``time`` attributes are not read) and the sensor's units; repeated
    points give zero offsets and are kept. ``Stroke`` elements without
    points are skipped; ``WhiteboardDescription`` and every attribute but
    ``x`` and ``y`` are ignored.

    Args:
        path: a ``lineStrokes/.../*.xml`` file (str or ``os.PathLike``).

    Returns:
        A float32 array of shape ``(N, 3)``, ``N`` the number of points.

    Raises:
        FileNotFoundError: ``path`` is not an existing file.
        ValueError: the file is not XML, holds no ``StrokeSet``, no
            ``Point``, or a point whose ``x`` or ``y`` is not a finite number;
            the message names the file (and the point).

    Example:
        >>> import pathlib, tempfile
        >>> from keras_segattn.data.online_handwriting import read_strokes_xml
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = pathlib.Path(folder.name) / "a01-000u-01.xml"
        >>> _ = path.write_text(
        ...     '<WhiteboardCaptureSession><StrokeSet>'
        ...     '<Stroke><Point x="10" y="20" time="0"/><Point x="13" y="16" time="1"/></Stroke>'
        ...     '<Stroke><Point x="20" y="20" time="2"/></Stroke>'
        ...     '</StrokeSet></WhiteboardCaptureSession>')
        >>> read_strokes_xml(path).tolist()
        [[0.0, 0.0, 0.0], [3.0, 4.0, 1.0], [7.0, -4.0, 1.0]]
        >>> folder.cleanup()
    """
    where = "read_strokes_xml"
    path = _existing_file(where, path, _STROKE_FILE)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(
            f"{message(where, 'path', _STROKE_FILE + ' (well-formed XML)', str(path))} The XML parser said: {error}."
        ) from None
    strokes = _stroke_points(where, path, root)
    points = np.array([xy for stroke in strokes for xy in stroke], np.float64)
    points[:, 1] = -points[:, 1]  # y up
    result = np.zeros((len(points), 3), np.float32)
    result[1:, :2] = np.diff(points, axis=0)
    ends = np.cumsum([len(stroke) for stroke in strokes]) - 1
    result[ends, 2] = 1.0
    return result


def _check_strokes(where, strokes):
    expected = "a finite float array of shape (N, 3), rows (dx, dy, end_of_stroke)"
    try:
        array = np.asarray(strokes, np.float32)
    except (TypeError, ValueError):
        raise ValueError(message(where, "strokes", expected, strokes)) from None
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(message(where, "strokes", expected, f"shape {array.shape}"))
    bad = int(np.size(array) - np.isfinite(array).sum())
    if bad:
        verb = "is" if bad == 1 else "are"
        raise ValueError(message(where, "strokes", expected, f"shape {array.shape}") + f" {bad} of its values {verb} NaN or infinite.")
    return array


def normalise_strokes(strokes, scale: float | None = None) -> tuple[np.ndarray, float]:
    """``strokes`` with ``dx, dy`` divided by ``scale``, and the ``scale`` used.

    The family's embedded data (:mod:`keras_segattn.data.handwriting`)
    divides its offsets so that their standard deviation is about 1; the
    default ``scale`` does the same for one sample: the standard deviation
    of its ``dx`` and ``dy`` values pooled, over the rows whose offset is
    not ``(0, 0)`` (the first row and repeated points, where the pen rests,
    carry no spacing and would shrink it). The pen-up jumps between strokes
    count, as they do in the embedded data's statistic. ``end_of_stroke``
    is kept as it is.

    Per-sample scales make every sample's spread 1 whatever the writer's
    size. To keep size differences between samples, give a whole corpus one
    scale, as Graves (2013) normalises the training set by its statistics,
    e.g. ``np.std(np.concatenate([s[:, :2][s[:, :2].any(axis=1)] for _, s in
    lines]))``, and pass it to every call (and to the validation and test
    samples).

    Args:
        strokes: an array of shape ``(N, 3)`` as :func:`read_strokes_xml`
            returns.
        scale: a finite number > 0, or ``None`` for the standard deviation
            of the sample's nonzero offsets.

    Returns:
        ``(normalised, scale)``: a new float32 ``(N, 3)`` array and the scale
        as a float.

    Raises:
        ValueError: ``strokes`` is not a finite ``(N, 3)`` array, ``scale`` is
            not a number > 0, or ``scale`` is ``None`` and the nonzero
            offsets have no spread (none, or a single value repeated).

    Example:
        >>> import numpy as np
        >>> from keras_segattn.data.online_handwriting import normalise_strokes
        >>> strokes = np.array([[0, 0, 0], [3, -3, 0], [0, 0, 0], [-3, 3, 1], [3, 3, 0], [-3, -3, 1]], np.float32)
        >>> normalised, scale = normalise_strokes(strokes)
        >>> scale, normalised[:, :2].tolist()
        (3.0, [[0.0, 0.0], [1.0, -1.0], [0.0, 0.0], [-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])
        >>> normalise_strokes(strokes, scale=1.5)[0].tolist()[1]
        [2.0, -2.0, 0.0]
    """
    where = "normalise_strokes"
    array = _check_strokes(where, strokes)
    if scale is None:
        offsets = array[:, :2].astype(np.float64)
        scale = float(np.std(offsets[offsets.any(axis=1)])) if offsets.any() else 0.0
        if not scale > 0:
            raise ValueError(
                message(where, "strokes", "an array whose nonzero offsets (dx, dy) vary when scale is None",
                        f"shape {array.shape}") + " Pass scale explicitly."
            )
    else:
        scale = check_number(where, "scale", scale, minimum=0, exclusive_minimum=True)
    result = array.copy()
    result[:, :2] = (array[:, :2].astype(np.float64) / scale).astype(np.float32)
    return result, scale


def _read_text(path):
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # the database's files are ASCII; some copies were re-encoded
        return data.decode("latin-1")


def read_transcriptions(path) -> list[str]:
    """The text lines of the ``CSR:`` section of an IAM-OnDB transcription file.

    Line ``i`` (from 1) of the result is the text written in the form's
    ``...-{i:02d}.xml`` stroke file. The section runs from the first
    non-blank line after ``CSR:`` to the next blank line or the end of the
    file; lines are stripped of surrounding whitespace. The file is read as
    UTF-8, or as Latin-1 if it is not valid UTF-8.

    Args:
        path: an ``ascii/.../*.txt`` file (str or ``os.PathLike``).

    Returns:
        A list of strings (empty if the section holds no line).

    Raises:
        FileNotFoundError: ``path`` is not an existing file.
        ValueError: the file has no ``CSR:`` line.

    Example:
        >>> import pathlib, tempfile
        >>> from keras_segattn.data.online_handwriting import read_transcriptions
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = pathlib.Path(folder.name) / "a01-000u.txt"
        >>> _ = path.write_text("Data Set Name: IAM-OnDB\\n\\nOCR:\\n\\nA MOVE to\\nstop\\n\\n"
        ...                     "CSR:\\n\\nA MOVE to stop\\nMr. Gaitskell\\n")
        >>> read_transcriptions(path)
        ['A MOVE to stop', 'Mr. Gaitskell']
        >>> folder.cleanup()
    """
    where = "read_transcriptions"
    path = _existing_file(where, path, _TEXT_FILE)
    lines = _read_text(path).splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "CSR:"), None)
    if start is None:
        raise ValueError(
            message(where, "path", _TEXT_FILE + " with a 'CSR:' section", str(path))
            + " No line of the file reads 'CSR:'."
        )
    texts = []
    for line in lines[start + 1 :]:
        line = line.strip()
        if line:
            texts.append(line)
        elif texts:
            break
    return texts


def _check_root(where, root):
    try:
        root = Path(os.fspath(root))
    except TypeError:
        raise ValueError(message(where, "root", "a str or os.PathLike folder", root)) from None
    for folder in ("lineStrokes", "ascii"):
        if not (root / folder).is_dir():
            raise FileNotFoundError(
                message(where, "root", "a folder holding IAM-OnDB's unpacked 'lineStrokes' and 'ascii' folders",
                        str(root)) + f" It has no {folder!r} folder."
            )
    return root


def iam_ondb_lines(
    root, *, max_lines: int | None = None, on_corrupt: str = "raise", corrupt=None
) -> list[tuple[str, np.ndarray]]:
    """``(text, strokes)`` for every line of IAM-OnDB under ``root`` that has a transcription.

    Walks ``root/lineStrokes`` for ``*.xml`` files in sorted path order and
    reads each with :func:`read_strokes_xml` (no normalisation: see
    :func:`normalise_strokes`). The text of ``lineStrokes/<d>/<form>-NN.xml``
    is line ``NN`` of the ``CSR:`` section (:func:`read_transcriptions`) of
    ``ascii/<d>/<form>.txt``. A stroke file without a transcription (no
    ascii file, or fewer ``CSR:`` lines than ``NN``, or a name not ending in
    ``-NN``) is skipped; one ``UserWarning`` counts them and names the first.
    A malformed stroke or transcription file (not XML, truncated, no
    points, no ``CSR:`` line) raises a ``ValueError`` naming the file with
    ``on_corrupt="raise"`` (the default); with ``on_corrupt="skip"`` its
    lines are left out, recorded in ``corrupt`` (a
    :class:`~keras_segattn.data.CorruptFiles`: ``corrupt.count``,
    ``corrupt.reasons``) and one ``UserWarning`` gives the count and the
    first file names.

    Args:
        root: the folder holding the unpacked ``lineStrokes`` and ``ascii``
            folders (``lineStrokes-all.tar.gz`` and ``ascii-all.tar.gz``).
        max_lines: ``None`` (all lines) or stop after this many pairs (>= 1):
            the first ones in sorted order, a quick subset.
        on_corrupt: ``"raise"`` or ``"skip"`` malformed files (see above).
        corrupt: a :class:`~keras_segattn.data.CorruptFiles` to record the
            skipped files in (pass one to read the count).

    Returns:
        A list of ``(text, strokes)``: the transcription and the float32
        ``(N, 3)`` strokes of one written line.

    Raises:
        FileNotFoundError: ``root`` has no ``lineStrokes`` or no ``ascii``
            folder.
        ValueError: ``lineStrokes`` holds no ``.xml`` file, ``max_lines`` is
            not ``None`` or a positive int, or a file is malformed.

    Example:
        >>> import pathlib, tempfile
        >>> from keras_segattn.data.online_handwriting import iam_ondb_lines
        >>> folder = tempfile.TemporaryDirectory()
        >>> root = pathlib.Path(folder.name)
        >>> strokes = root / "lineStrokes" / "a01" / "a01-000"
        >>> texts = root / "ascii" / "a01" / "a01-000"
        >>> strokes.mkdir(parents=True); texts.mkdir(parents=True)
        >>> _ = (strokes / "a01-000u-01.xml").write_text(
        ...     '<WhiteboardCaptureSession><StrokeSet><Stroke>'
        ...     '<Point x="1" y="5"/><Point x="2" y="3"/>'
        ...     '</Stroke></StrokeSet></WhiteboardCaptureSession>')
        >>> _ = (texts / "a01-000u.txt").write_text("CSR:\\n\\nA MOVE to stop\\n")
        >>> [(text, sample.tolist()) for text, sample in iam_ondb_lines(root)]
        [('A MOVE to stop', [[0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])]
        >>> folder.cleanup()
    """
    where = "iam_ondb_lines"
    max_lines = check_optional_int(where, "max_lines", max_lines, minimum=1)
    check_choice(where, "on_corrupt", on_corrupt, ON_CORRUPT)
    root = _check_root(where, root)
    corrupt = CorruptFiles() if corrupt is None else corrupt
    found_before = corrupt.count
    stroke_root, text_root = root / "lineStrokes", root / "ascii"
    files = sorted(stroke_root.rglob("*.xml"))
    if not files:
        raise ValueError(
            message(where, "root", "a folder whose 'lineStrokes' holds IAM-OnDB stroke files (*.xml)", str(root))
            + " Its 'lineStrokes' folder holds no .xml file."
        )
    transcriptions = {}  # ascii file -> its CSR lines, or None if absent
    lines, skipped = [], []
    for path in files:
        form, _, number = path.stem.rpartition("-")
        text = None
        if form and number.isdigit() and int(number) >= 1:
            text_path = text_root / path.parent.relative_to(stroke_root) / f"{form}.txt"
            if text_path not in transcriptions:
                try:
                    transcriptions[text_path] = read_transcriptions(text_path) if text_path.is_file() else None
                except ValueError as error:
                    if on_corrupt == "raise":
                        raise
                    corrupt.add(text_path, str(error))
                    transcriptions[text_path] = None
            csr = transcriptions[text_path]
            if csr is not None and int(number) <= len(csr):
                text = csr[int(number) - 1]
        if text is None:
            skipped.append(path)
            continue
        try:
            strokes = read_strokes_xml(path)
        except ValueError as error:
            if on_corrupt == "raise":
                raise
            corrupt.add(path, str(error))
            continue
        lines.append((text, strokes))
        if max_lines is not None and len(lines) >= max_lines:
            break
    if corrupt.count > found_before:
        shown = ", ".join(repr(p) for p in corrupt.paths[found_before : found_before + 3])
        warnings.warn(
            f"{where}: skipped {corrupt.count - found_before} corrupt file(s) (on_corrupt='skip'), the first: "
            f"{shown}; see corrupt.reasons for why.",
            UserWarning,
            stacklevel=2,
        )
    if skipped:
        warnings.warn(
            f"{where}: skipped {len(skipped)} of {len(lines) + len(skipped)} stroke files without a "
            f"transcription in {str(text_root)!r} (the first: {str(skipped[0])!r}).",
            UserWarning,
            stacklevel=2,
        )
    return lines
