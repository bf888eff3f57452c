"""IAM-OnDB loader, offline: every test writes its own small stroke and transcription files in tmp_path."""

import warnings

import numpy as np
import pytest

from keras_segattn.data.online_handwriting import (
    iam_ondb_lines,
    normalise_strokes,
    read_strokes_xml,
    read_transcriptions,
)


@pytest.fixture(autouse=True)
def _free_after_test():
    # Overrides conftest's per-test gc.collect + malloc_trim (about 0.5 s a test with
    # TensorFlow loaded): these tests build no model and hold only a few small arrays.
    # conftest's per-module release still runs once.
    yield


# Two strokes in IAM's units (y grows downward), as absolute (x, y) points.
STROKES = [
    [(1073, 1058), (1080, 1050), (1091, 1049)],
    [(1120, 1100), (1121, 1130)],
]


def stroke_xml(strokes):
    """An IAM-OnDB lineStrokes file holding ``strokes`` (lists of (x, y)), with the parts the loader ignores."""
    body = []
    time = 0.0
    for points in strokes:
        body.append(f'    <Stroke colour="black" start_time="{time:.2f}" end_time="{time + 1:.2f}">')
        for x, y in points:
            body.append(f'      <Point x="{x}" y="{y}" time="{time:.2f}"/>')
            time += 0.01
        body.append("    </Stroke>")
    return "\n".join([
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        "<WhiteboardCaptureSession>",
        "  <WhiteboardDescription>",
        '    <SensorLocation corner="top_left"/>',
        '    <DiagonallyOppositeCoords x="6512" y="1376"/>',
        '    <VerticallyOppositeCoords x="966" y="1376"/>',
        '    <HorizontallyOppositeCoords x="6512" y="787"/>',
        "  </WhiteboardDescription>",
        "  <StrokeSet>",
        *body,
        "  </StrokeSet>",
        "</WhiteboardCaptureSession>",
    ])


def ascii_text(lines):
    """An IAM-OnDB ascii file whose CSR section holds ``lines``."""
    ocr = "\n".join(line.upper() for line in lines)
    return f"Data Set Name: IAM-OnDB\nWriter: 10000\n\nOCR:\n\n{ocr}\n\nCSR:\n\n" + "\n".join(lines) + "\n"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def database(root, forms):
    """Writes ``{form_id: (texts or None, [strokes per line])}`` in IAM-OnDB's layout under ``root``."""
    for form, (texts, lines) in forms.items():
        folder = f"{form[:3]}/{form[:7]}"
        for number, strokes in enumerate(lines, start=1):
            write(root / "lineStrokes" / folder / f"{form}-{number:02d}.xml", stroke_xml(strokes))
        if texts is not None:
            write(root / "ascii" / folder / f"{form}.txt", ascii_text(texts))
    (root / "ascii").mkdir(exist_ok=True)
    return root


# ------------------------------------------------------------------ strokes
def test_read_strokes_xml_offsets_y_flip_and_ends(tmp_path):
    strokes = read_strokes_xml(write(tmp_path / "a01-000u-01.xml", stroke_xml(STROKES)))
    assert strokes.dtype == np.float32 and strokes.shape == (5, 3)
    expected = [
        [0, 0, 0],  # the first point is the origin
        [7, 8, 0],  # (1080 - 1073, -(1050 - 1058)): y up
        [11, 1, 1],  # end of the first stroke
        [29, -51, 0],  # pen-up move to the second stroke
        [1, -30, 1],  # end of the second stroke
    ]
    np.testing.assert_array_equal(strokes, np.array(expected, np.float32))
    assert np.flatnonzero(strokes[:, 2]).tolist() == [2, 4]


def test_cumulative_sum_gives_flipped_points_relative_to_the_first(tmp_path):
    strokes = read_strokes_xml(str(write(tmp_path / "line.xml", stroke_xml(STROKES))))
    points = np.array([xy for stroke in STROKES for xy in stroke], np.float32)
    expected = (points - points[0]) * np.array([1, -1], np.float32)
    np.testing.assert_array_equal(np.cumsum(strokes[:, :2], axis=0), expected)


def test_strokes_without_points_are_skipped(tmp_path):
    text = stroke_xml([STROKES[0], [], STROKES[1]])
    strokes = read_strokes_xml(write(tmp_path / "line.xml", text))
    assert np.flatnonzero(strokes[:, 2]).tolist() == [2, 4]


def test_read_strokes_xml_errors(tmp_path):
    missing = tmp_path / "nowhere.xml"
    with pytest.raises(FileNotFoundError, match=r"read_strokes_xml: path must be an existing file.*nowhere\.xml"):
        read_strokes_xml(missing)
    with pytest.raises(FileNotFoundError, match="read_strokes_xml: path must be an existing file"):
        read_strokes_xml(tmp_path)  # a folder
    with pytest.raises(ValueError, match=r"read_strokes_xml: path must be a str or os.PathLike.*received 3"):
        read_strokes_xml(3)
    not_xml = write(tmp_path / "not.xml", "x=1, y=2\n")
    with pytest.raises(ValueError, match=r"well-formed XML\), received '.*not\.xml'\. The XML parser said"):
        read_strokes_xml(not_xml)
    no_set = write(tmp_path / "no_set.xml", "<WhiteboardCaptureSession><Other/></WhiteboardCaptureSession>")
    with pytest.raises(ValueError, match=r"holding a StrokeSet element, received '.*no_set\.xml'"):
        read_strokes_xml(no_set)
    no_points = write(tmp_path / "empty.xml", stroke_xml([[], []]))
    with pytest.raises(ValueError, match=r"at least one Point in its StrokeSet, received '.*empty\.xml'"):
        read_strokes_xml(no_points)


def test_non_numeric_coordinates_name_the_point(tmp_path):
    for x, y in [("abc", "12"), ("nan", "3"), ("4", "inf")]:
        path = write(tmp_path / "bad.xml", stroke_xml([STROKES[0], [(1, 2), (x, y)]]))
        with pytest.raises(ValueError, match=rf"numeric x and y, received '.*bad\.xml'\. Stroke 2, point 2 has x='{x}', y='{y}'"):
            read_strokes_xml(path)
    path = write(tmp_path / "bad.xml", '<StrokeSet><Stroke><Point x="1"/></Stroke></StrokeSet>')
    with pytest.raises(ValueError, match=r"Stroke 1, point 1 has x='1', y=None"):
        read_strokes_xml(path)


# ------------------------------------------------------------ normalisation
def test_normalise_strokes_default_scale_is_the_std_of_nonzero_offsets():
    strokes = np.array([[0, 0, 0], [3, 4, 0], [0, 0, 0], [-4, 3, 0], [6, 8, 1], [60, -80, 1]], np.float32)
    nonzero = strokes[[1, 3, 4, 5], :2]  # the zero rows (first point, a pause) do not count
    normalised, scale = normalise_strokes(strokes)
    assert isinstance(scale, float)
    np.testing.assert_allclose(scale, np.std(nonzero.astype(np.float64)), rtol=1e-12)
    np.testing.assert_allclose(np.std(normalised[[1, 3, 4, 5], :2]), 1.0, rtol=1e-6)
    np.testing.assert_allclose(normalised[:, :2], strokes[:, :2] / scale, rtol=1e-6)
    np.testing.assert_array_equal(normalised[:, 2], strokes[:, 2])
    assert normalised.dtype == np.float32 and normalised is not strokes
    assert strokes[1, 0] == 3  # the input is untouched
    # The scale follows the writing's size: twice as large, twice the scale, the same result.
    twice, twice_scale = normalise_strokes(strokes * np.array([2, 2, 1], np.float32))
    np.testing.assert_allclose(twice_scale, 2 * scale, rtol=1e-12)
    np.testing.assert_allclose(twice, normalised, rtol=1e-6)


def test_normalise_strokes_explicit_scale_round_trips():
    strokes = np.array([[0, 0, 0], [3, 4, 0], [6, 8, 1], [3, 4, 1]], np.float32)
    normalised, scale = normalise_strokes(strokes.tolist(), scale=2)
    assert scale == 2.0
    np.testing.assert_array_equal(normalised, [[0, 0, 0], [1.5, 2, 0], [3, 4, 1], [1.5, 2, 1]])
    # One scale shared by two samples keeps their size difference; undoing it gives the input back.
    bigger, used = normalise_strokes(strokes * np.array([2, 2, 1], np.float32), scale=2.0)
    np.testing.assert_array_equal(bigger[:, :2], 2 * normalised[:, :2])
    np.testing.assert_allclose(bigger[:, :2] * used, 2 * strokes[:, :2], rtol=1e-6)


def test_normalise_strokes_errors():
    with pytest.raises(ValueError, match=r"normalise_strokes: strokes must be a finite float array of shape \(N, 3\).*received shape \(4, 2\)"):
        normalise_strokes(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"received shape \(2, 3\)\. 1 of its values is NaN or infinite"):
        normalise_strokes([[0, 0, 0], [np.nan, 1, 1]])
    for flat in (np.zeros((2, 3)), [[0, 0, 0], [3, 3, 1]]):
        with pytest.raises(ValueError, match=r"nonzero offsets \(dx, dy\) vary when scale is None, received shape \(2, 3\)\. Pass scale"):
            normalise_strokes(flat)
    for scale in (0, -1.0, float("nan"), "2"):
        with pytest.raises(ValueError, match=r"normalise_strokes: scale must be a finite number > 0, received"):
            normalise_strokes(np.ones((2, 3)), scale=scale)


# ----------------------------------------------------------- transcriptions
def test_read_transcriptions_reads_only_the_csr_block(tmp_path):
    path = write(tmp_path / "a01-000u.txt", ascii_text(["A MOVE to stop Mr. Gaitskell  ", "from nominating"]))
    assert read_transcriptions(path) == ["A MOVE to stop Mr. Gaitskell", "from nominating"]


def test_read_transcriptions_latin1_and_errors(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("CSR:\n\ncaf\u00e9\n".encode("latin-1"))
    assert read_transcriptions(path) == ["caf\u00e9"]
    with pytest.raises(FileNotFoundError, match=r"read_transcriptions: path must be an existing file.*gone\.txt"):
        read_transcriptions(tmp_path / "gone.txt")
    no_csr = write(tmp_path / "no_csr.txt", "Data Set Name: IAM-OnDB\n\nOCR:\n\nsome text\n")
    with pytest.raises(ValueError, match=r"with a 'CSR:' section, received '.*no_csr\.txt'\. No line of the file reads 'CSR:'"):
        read_transcriptions(no_csr)


# ----------------------------------------------------------------- database
def test_iam_ondb_lines_pairs_lines_with_their_text(tmp_path):
    second = [[(10, 10), (12, 10)]]
    root = database(tmp_path, {"a01-000u": (["A MOVE to stop", "Mr. Gaitskell"], [STROKES, second])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lines = iam_ondb_lines(root)
    assert [text for text, _ in lines] == ["A MOVE to stop", "Mr. Gaitskell"]
    np.testing.assert_array_equal(lines[0][1], read_strokes_xml(root / "lineStrokes/a01/a01-000/a01-000u-01.xml"))
    np.testing.assert_array_equal(lines[1][1], [[0, 0, 0], [2, 0, 1]])
    assert [text for text, _ in iam_ondb_lines(str(root), max_lines=1)] == ["A MOVE to stop"]


def test_iam_ondb_lines_skips_lines_without_transcription(tmp_path):
    root = database(tmp_path, {
        "a01-000u": (["only one line"], [STROKES, STROKES]),  # line 02 has no CSR line
        "a01-001w": (None, [STROKES]),  # no ascii file
        "b02-000x": (["first", "second"], [STROKES]),
    })
    with pytest.warns(UserWarning, match=r"iam_ondb_lines: skipped 2 of 4 stroke files without a transcription.*a01-000u-02\.xml"):
        lines = iam_ondb_lines(root)
    assert [text for text, _ in lines] == ["only one line", "first"]


def test_iam_ondb_lines_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"iam_ondb_lines: root must be a folder holding IAM-OnDB's unpacked 'lineStrokes' and 'ascii' folders, received '.*'\. It has no 'lineStrokes' folder"):
        iam_ondb_lines(tmp_path)
    (tmp_path / "lineStrokes").mkdir()
    with pytest.raises(FileNotFoundError, match="It has no 'ascii' folder"):
        iam_ondb_lines(tmp_path)
    (tmp_path / "ascii").mkdir()
    with pytest.raises(ValueError, match="Its 'lineStrokes' folder holds no .xml file"):
        iam_ondb_lines(tmp_path)
    database(tmp_path, {"a01-000u": (["text"], [STROKES])})
    with pytest.raises(ValueError, match=r"iam_ondb_lines: max_lines must be None or a positive int, received 0"):
        iam_ondb_lines(tmp_path, max_lines=0)
