"""Box geometry of the instance-segmentation models against NumPy references (plain loops)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.models.instance import boxes as B
from keras_segattn.models.instance.roi_features import RoIFeatures


def _random_boxes(rng, n, degenerate=0):
    a = rng.uniform(0, 1, (n, 2, 2))
    lo, hi = a.min(1), a.max(1)
    out = np.concatenate([lo, hi], -1).astype(np.float32)
    out[:degenerate, 2:] = out[:degenerate, :2]  # zero area
    return out


def _iou_reference(a, b):
    out = np.zeros((len(a), len(b)))
    for i, (y1, x1, y2, x2) in enumerate(a):
        for j, (v1, u1, v2, u2) in enumerate(b):
            h = max(0.0, min(y2, v2) - max(y1, v1))
            w = max(0.0, min(x2, u2) - max(x1, u1))
            inter = h * w
            union = max(0, y2 - y1) * max(0, x2 - x1) + max(0, v2 - v1) * max(0, u2 - u1) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def test_box_iou_matches_reference_including_degenerate_boxes():
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 7, degenerate=2), _random_boxes(rng, 5, degenerate=1)
    got = B.box_iou(a, b).numpy()
    np.testing.assert_allclose(got, _iou_reference(a, b), atol=1e-6)
    assert np.all(got[:2] == 0) and np.all(got[:, 0] == 0)
    np.testing.assert_allclose(np.diag(B.box_iou(a[2:], a[2:]).numpy()), 1.0, atol=1e-6)
    # batched
    np.testing.assert_allclose(B.box_iou(np.stack([a, a]), np.stack([b, b])).numpy()[1], got, atol=1e-7)


def test_encode_decode_follow_rcnn_parametrisation_and_invert():
    rng = np.random.default_rng(1)
    boxes, anchors = _random_boxes(rng, 20), _random_boxes(rng, 20)
    boxes[:, 2:] += 0.01
    anchors[:, 2:] += 0.01
    weights = (10.0, 10.0, 5.0, 5.0)
    deltas = B.encode_boxes(boxes, anchors, weights).numpy()
    for (y1, x1, y2, x2), (a1, b1, a2, b2), d in zip(boxes, anchors, deltas):
        h, w, ha, wa = y2 - y1, x2 - x1, a2 - a1, b2 - b1
        expected = [10 * ((y1 + y2) / 2 - (a1 + a2) / 2) / ha, 10 * ((x1 + x2) / 2 - (b1 + b2) / 2) / wa,
                    5 * np.log(h / ha), 5 * np.log(w / wa)]
        np.testing.assert_allclose(d, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(B.decode_boxes(deltas, anchors, weights).numpy(), boxes, atol=1e-5)


def test_decode_clips_huge_scales_to_finite_boxes():
    out = B.decode_boxes(np.array([[0, 0, 1e4, 1e4]], np.float32), np.array([[0.4, 0.4, 0.6, 0.6]], np.float32))
    assert np.all(np.isfinite(out.numpy()))
    np.testing.assert_allclose(out.numpy()[0, 2] - out.numpy()[0, 0], 0.2 * 1000 / 16, rtol=1e-5)


def test_generate_anchors_against_loop():
    anchors = B.generate_anchors((2, 3), (32, 48), sizes=(8, 16), aspect_ratios=(0.5, 2.0))
    expected = []
    for r in range(2):
        for c in range(3):
            cy, cx = (r + 0.5) * 16, (c + 0.5) * 16
            for s in (8, 16):
                for ratio in (0.5, 2.0):
                    h, w = s * np.sqrt(ratio), s / np.sqrt(ratio)
                    expected.append([(cy - h / 2) / 32, (cx - w / 2) / 48, (cy + h / 2) / 32, (cx + w / 2) / 48])
    np.testing.assert_allclose(anchors, np.array(expected), atol=1e-6)


@pytest.mark.parametrize("argument, kwargs", [
    ("sizes", {"sizes": ()}), ("sizes", {"sizes": (8, -1)}), ("aspect_ratios", {"sizes": (8,), "aspect_ratios": (0,)}),
    ("feature_size", {"sizes": (8,), "feature_size": (0, 2)}),
])
def test_generate_anchors_refuses_bad_arguments(argument, kwargs):
    kwargs = {"feature_size": (2, 2), "image_size": (16, 16), **kwargs}
    with pytest.raises(ValueError, match=argument):
        B.generate_anchors(**kwargs)


def _greedy_nms(boxes, scores, k, threshold):
    order = np.argsort(-scores, kind="stable")
    keep = []
    for i in order:
        if all(_iou_reference(boxes[i:i + 1], boxes[j:j + 1])[0, 0] <= threshold for j in keep):
            keep.append(i)
    return keep[:k]


def test_batched_nms_matches_greedy_reference_per_image():
    rng = np.random.default_rng(2)
    boxes = np.stack([_random_boxes(rng, 30) for _ in range(3)])
    scores = rng.permutation(90).reshape(3, 30).astype(np.float32) / 90  # distinct scores: no tie order question
    indices, valid = B.batched_nms(boxes, scores, 10, 0.3)
    for b in range(3):
        expected = _greedy_nms(boxes[b], scores[b], 10, 0.3)
        assert valid.numpy()[b] == len(expected)
        assert indices.numpy()[b, : len(expected)].tolist() == expected


def _paste_reference(mask, box, height, width):
    m = mask.shape[0]
    y1, x1, y2, x2 = box
    out = np.zeros((height, width))
    padded = np.pad(mask, 1)
    for i in range(height):
        for j in range(width):
            py = ((i + 0.5) / height - y1) / (y2 - y1) * m - 0.5 + 1  # +1: the zero padding
            px = ((j + 0.5) / width - x1) / (x2 - x1) * m - 0.5 + 1
            if not (0 <= py <= m + 1 and 0 <= px <= m + 1):
                continue
            r0, c0 = int(np.floor(py)), int(np.floor(px))
            fy, fx = py - r0, px - c0
            r1, c1 = min(r0 + 1, m + 1), min(c0 + 1, m + 1)
            out[i, j] = ((1 - fy) * ((1 - fx) * padded[r0, c0] + fx * padded[r0, c1])
                         + fy * ((1 - fx) * padded[r1, c0] + fx * padded[r1, c1]))
    return out


def test_paste_masks_is_bilinear_interpolation_with_zero_padding():
    rng = np.random.default_rng(3)
    masks = rng.uniform(0, 1, (1, 2, 5, 5)).astype(np.float32)
    boxes = np.array([[[0.1, 0.2, 0.6, 0.9], [0.5, 0.0, 1.0, 0.4]]], np.float32)
    got = B.paste_masks(masks, boxes, (17, 13)).numpy()
    for d in range(2):
        np.testing.assert_allclose(got[0, d], _paste_reference(masks[0, d], boxes[0, d], 17, 13), atol=1e-5)


def test_paste_of_a_full_mask_covers_exactly_the_box_pixels():
    masks = np.ones((1, 1, 7, 7), np.float32)
    box = np.array([[[4 / 32, 8 / 32, 20 / 32, 16 / 32]]], np.float32)  # rows 4..19, columns 8..15
    pasted = B.paste_masks(masks, box, (32, 32)).numpy()[0, 0] >= 0.5
    expected = np.zeros((32, 32), bool)
    expected[4:20, 8:16] = True
    np.testing.assert_array_equal(pasted, expected)


def test_roi_features_sample_cell_centres():
    # feature value = its row (resp. column) index: a sample returns its own coordinate in feature pixels
    rows = np.broadcast_to(np.arange(8, dtype=np.float32)[:, None, None], (8, 8, 1))
    cols = np.broadcast_to(np.arange(8, dtype=np.float32)[None, :, None], (8, 8, 1))
    features = np.concatenate([rows, cols], -1)[None]
    box = np.array([[[0.25, 0.125, 0.75, 0.625]]], np.float32)  # feature rows 2..5, columns 1..4 (edges)
    out = RoIFeatures((4, 2))([features, box]).numpy()[0, 0]
    # cell centres: rows 2.5..5.5 of edge coordinates -> pixel-centre coordinates 2..5; columns 1 + (1, 3) - 0.5
    np.testing.assert_allclose(out[:, 0, 0], [2.0, 3.0, 4.0, 5.0], atol=1e-5)
    np.testing.assert_allclose(out[0, :, 1], [1.5, 3.5], atol=1e-5)


def test_roi_features_gradient_reaches_the_boxes():
    features = tf.constant(np.random.default_rng(4).normal(size=(1, 8, 8, 3)).astype(np.float32))
    box = tf.Variable([[[0.21, 0.13, 0.67, 0.71]]])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(RoIFeatures((3, 3))([features, box]) ** 2)
    grad = tape.gradient(total, box).numpy()
    assert np.all(np.isfinite(grad)) and np.count_nonzero(grad) == 4
