"""Handwriting strokes: absolute points, polylines, DTW against a naive reference, the legibility
distance and report, their argument errors, and the handwriting / attention-window figure."""

import numpy as np
import pytest

from keras_segattn.training.handwriting import (
    absolute_points,
    dtw_distance,
    legibility_distance,
    legibility_report,
    normalise_trajectory,
    polylines,
)
from keras_segattn.visualize import plot_handwriting


def naive_dtw(a, b):
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    n, m = len(a), len(b)
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = np.sqrt(np.sum((a[i - 1] - b[j - 1]) ** 2))
            D[i, j] = cost + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D[n, m] / (n + m)


def squiggle(n=60, seed=0):
    """A two-stroke (n, 3) sample: a wavy line, a pen-up move, a loop."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n // 2)
    first = np.stack([t, np.sin(2 * t)], 1)
    second = np.stack([7 + np.cos(t), np.sin(t)], 1) + rng.normal(0, 0.01, (len(t), 2))
    points = np.concatenate([first, second])
    strokes = np.zeros((len(points), 3), np.float32)
    strokes[:, :2] = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
    strokes[len(t) - 1, 2] = 1.0
    strokes[-1, 2] = 1.0
    return strokes


def test_absolute_points_and_polylines_split_after_end_of_stroke():
    strokes = np.array([[1, 1, 0], [1, 0, 1], [2, 0, 0], [0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 0, 0]], np.float32)
    np.testing.assert_allclose(absolute_points(strokes), np.cumsum(strokes[:, :2], 0))
    pieces = polylines(strokes)
    assert [p.shape for p in pieces] == [(2, 2), (3, 2), (1, 2), (1, 2)]
    np.testing.assert_allclose(pieces[1], [[4, 1], [4, 2], [4, 3]])
    # No pen-up move (last point of a stroke -> first of the next) lies inside a polyline.
    assert sum(len(p) for p in pieces) == len(strokes)


def test_dtw_matches_naive_double_loop():
    # One test over the sizes (the suite's per-test teardown costs more than these cases).
    rng = np.random.default_rng(0)
    for n, m, d in [(1, 1, 2), (1, 7, 2), (9, 1, 2), (2, 2, 1), (5, 5, 1), (13, 8, 2), (40, 55, 3), (70, 31, 2)]:
        a, b = rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 3
        assert abs(dtw_distance(a, b) - naive_dtw(a, b)) < 1e-9, (n, m, d)


def test_dtw_identity_symmetry_and_warping():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 2)), rng.normal(size=(17, 2))
    assert dtw_distance(a, a) == 0.0
    assert dtw_distance(a, b) == pytest.approx(dtw_distance(b, a), abs=1e-12)
    assert dtw_distance(a, b) > 0
    # Repeating points (a slower pen) costs nothing: DTW aligns them.
    assert dtw_distance(a, np.repeat(a, 3, axis=0)) == pytest.approx(0.0, abs=1e-12)
    assert dtw_distance([0.0, 1.0, 2.0], [[0.0], [1.0], [1.0], [2.0]]) == 0.0
    assert dtw_distance([[0.0, 0.0]], [[3.0, 4.0]]) == 2.5


def test_normalise_trajectory_removes_position_and_size():
    points = np.array([[0.0, 0.0], [4.0, 2.0], [2.0, 1.0]])
    out = normalise_trajectory(points)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    assert np.ptp(out[:, 1]) == pytest.approx(1.0)
    np.testing.assert_allclose(normalise_trajectory(points * 5 + [3, -7]), out, atol=1e-12)
    # Zero height: scaled by the width instead; a single point is only centred.
    np.testing.assert_allclose(normalise_trajectory([[0.0, 1.0], [2.0, 1.0]]), [[-0.5, 0], [0.5, 0]])
    np.testing.assert_allclose(normalise_trajectory([[3.0, 1.0]]), [[0.0, 0.0]])


def test_legibility_distance_ignores_position_and_size_not_shape():
    strokes = squiggle()
    moved = strokes.copy()
    moved[0, :2] += [50.0, -20.0]          # another starting position
    moved[:, :2] *= 2.5                    # and size
    assert legibility_distance(moved, strokes) < 1e-6
    other = squiggle(seed=0)
    other[:, 1] *= -1                      # the same pen path upside down
    different = legibility_distance(other, strokes)
    assert different > 0.05
    assert legibility_distance(squiggle(seed=3), strokes) < different  # only the noise differs
    report = legibility_report([moved, other], [strokes, strokes])
    assert report["per_sample"][0] < 1e-6 and report["per_sample"][1] == pytest.approx(different)
    assert report["mean"] == pytest.approx(np.mean(report["per_sample"]))
    assert report["median"] == pytest.approx(np.median(report["per_sample"]))


def test_argument_errors_name_the_argument_and_what_was_received():
    good = squiggle()
    with pytest.raises(ValueError, match=r"legibility_distance: generated must be a non-empty \(N, 3\) stroke "
                                         r"array .*, received shape \(5, 2\)\."):
        legibility_distance(np.zeros((5, 2)), good)
    with pytest.raises(ValueError, match=r"reference must be .*received shape \(0, 3\)"):
        legibility_distance(good, np.zeros((0, 3)))
    bad = good.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"legibility_distance: generated must be finite \(no NaN or inf\), received nan"):
        legibility_distance(bad, good)
    with pytest.raises(ValueError, match=r"legibility_report: reference_list\[1\] must be finite.*received inf"):
        legibility_report([good, good], [good, np.where(good == 0, np.inf, good)])
    with pytest.raises(ValueError, match=r"len\(reference_list\) must be len\(generated_list\) = 2, received 1\."):
        legibility_report([good, good], [good])
    with pytest.raises(ValueError, match=r"generated_list must be a non-empty list .*, received \[\]\."):
        legibility_report([], [])
    with pytest.raises(ValueError, match=r"generated_list must be a list of \(N, 3\) stroke arrays"):
        legibility_report(good, good)
    with pytest.raises(ValueError, match=r"dtw_distance: b must be points of the same dimension as a \(2\), "
                                         r"received shape \(4, 3\)\."):
        dtw_distance(np.zeros((3, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"dtw_distance: a must be a non-empty \(n, d\) array of points, "
                                         r"received shape \(0, 2\)\."):
        dtw_distance(np.zeros((0, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"polylines: strokes must be .*received shape \(3,\)"):
        polylines(np.zeros(3))


def _assert_nonblank_png(path):
    import matplotlib.image

    image = matplotlib.image.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert float(image[..., :3].var()) > 0


def test_plot_handwriting_with_and_without_window(tmp_path):
    samples = [squiggle(), squiggle(40, seed=2)]
    texts = ["a word", "ok"]
    phis = []
    for s, text in zip(samples, texts):
        centres = np.linspace(0, len(text) - 1, len(s))[:, None]
        phi = np.exp(-((centres - np.arange(len(text))) ** 2))
        phis.append(phi / phi.sum(1, keepdims=True))
    plain = plot_handwriting(samples, tmp_path / "plain.png", texts=texts, title="samples")
    assert plain == tmp_path / "plain.png" and plain.exists()
    _assert_nonblank_png(plain)
    window = plot_handwriting(samples, str(tmp_path / "sub" / "window.png"), texts=texts, phis=phis)
    _assert_nonblank_png(window)
    one = plot_handwriting(samples[0], tmp_path / "one.png", texts=texts[0], phis=phis[0])
    _assert_nonblank_png(one)
    _assert_nonblank_png(plot_handwriting(samples[1], tmp_path / "untitled.png", phis=phis[1]))
    # The Writer's phi has one more column, the weight of [end]; panel titles may differ from the texts.
    with_end = [np.concatenate([p, np.zeros((len(p), 1))], axis=1) for p in phis]
    _assert_nonblank_png(plot_handwriting(samples, tmp_path / "end.png", texts=texts, phis=with_end,
                                          titles=["first", "second"], title="with [end]"))


def test_plot_handwriting_mismatched_lengths(tmp_path):
    samples = [squiggle(), squiggle(40)]
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"texts must be one string per stroke array \(2\), received 1 text"):
        plot_handwriting(samples, path, texts=["a"])
    with pytest.raises(ValueError, match=r"phis must be one \(N_i, U_i\) array per stroke array \(2\), received 3"):
        plot_handwriting(samples, path, phis=[np.ones((60, 2))] * 3)
    with pytest.raises(ValueError, match=r"phis\[1\] must be \(len\(strokes\[1\]\), len\(texts\[1\]\)\) = \(40, 2\) "
                                         r"or \(40, 3\) with \[end\], received shape \(39, 2\)"):
        plot_handwriting(samples, path, texts=["ab", "cd"], phis=[np.ones((60, 2)), np.ones((39, 2))])
    with pytest.raises(ValueError, match=r"received shape \(40, 4\)"):  # more than the characters and [end]
        plot_handwriting(samples, path, texts=["ab", "cd"], phis=[np.ones((60, 2)), np.ones((40, 4))])
    with pytest.raises(ValueError, match=r"plot_handwriting: strokes\[1\] must be .*received shape \(4, 2\)"):
        plot_handwriting([samples[0], np.zeros((4, 2))], path)
    assert not path.exists()
