"""COCO mask/box AP of instance detections (pycocotools' COCOeval) on hand-made cases, and the instance plots."""

import numpy as np
import pytest

from keras_segattn.data import instance_shapes_arrays
from keras_segattn.data.instance_shapes import boxes_from_masks
from keras_segattn.training import coco_instance_evaluation
from keras_segattn.training.instance_metrics import AP_KEYS

H = W = 32


def _rect(y0, x0, y1, x1):
    """A binary (H, W) mask over pixel rows y0..y1 and columns x0..x1 (inclusive)."""
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1 + 1, x0:x1 + 1] = 1
    return mask


def _targets(images):
    """Padded targets from per-image lists of (class, mask)."""
    m = max(1, max(len(rows) for rows in images))
    classes = np.zeros((len(images), m), np.int32)
    masks = np.zeros((len(images), m, H, W), np.uint8)
    for i, rows in enumerate(images):
        for j, (cls, mask) in enumerate(rows):
            classes[i, j], masks[i, j] = cls, mask
    return {"boxes": boxes_from_masks(masks), "classes": classes, "masks": masks}


def _detections(images, slots=None):
    """Batched detections from per-image lists of (class, score, mask); boxes tight around the masks."""
    d = slots or max(1, max(len(rows) for rows in images))
    out = {"boxes": np.zeros((len(images), d, 4), np.float32), "scores": np.zeros((len(images), d), np.float32),
           "classes": np.zeros((len(images), d), np.int32), "masks": np.zeros((len(images), d, H, W), np.float32),
           "num_detections": np.array([len(rows) for rows in images], np.int32)}
    for i, rows in enumerate(images):
        for j, (cls, score, mask) in enumerate(rows):
            out["classes"][i, j], out["scores"][i, j] = cls, score
            out["masks"][i, j] = mask * 0.9  # probabilities
            out["boxes"][i, j] = boxes_from_masks(mask[None] > 0)[0]
    return out


def _assert_aps(result, prefixes=("mask", "box"), **expected):
    for prefix in prefixes:
        for key, value in expected.items():
            assert result[f"{prefix}_{key}"] == pytest.approx(value, abs=1e-9), (prefix, key, result)


def test_perfect_detections_score_one():
    _, targets = instance_shapes_arrays("test", 6, image_size=H, seed=2)
    real = targets["classes"] > 0
    detections = {"boxes": targets["boxes"], "classes": targets["classes"], "scores": np.where(real, 0.9, 0.0),
                  "masks": targets["masks"] * 0.8, "num_detections": real.sum(1).astype(np.int32)}
    result = coco_instance_evaluation(targets, detections)
    _assert_aps(result, ap=1.0, ap50=1.0, ap70=1.0, ap75=1.0)
    assert result["images"] == 6 and result["instances"] == result["detections"] == int(real.sum()) > 3
    assert set(AP_KEYS) <= set(result)
    # binary masks (bool or 0/1) are probabilities of 0 and 1
    as_bool = coco_instance_evaluation(targets, {**detections, "masks": targets["masks"].astype(bool)})
    _assert_aps(as_bool, ap=1.0, ap75=1.0)


def test_mask_iou_two_thirds_passes_at_0_5_and_fails_at_0_7():
    truth = _rect(5, 5, 14, 14)  # a 10x10 square
    shifted = _rect(5, 7, 14, 16)  # the same square two columns right: IoU 80 / 120
    iou = (truth & shifted).sum() / (truth | shifted).sum()
    assert iou == pytest.approx(2 / 3)
    result = coco_instance_evaluation(_targets([[(1, truth)]]), _detections([[(1, 0.9, shifted)]]))
    # matched at IoU 0.50, 0.55, 0.60, 0.65 (4 of the 10 thresholds), missed from 0.70 on
    _assert_aps(result, ap=0.4, ap50=1.0, ap70=0.0, ap75=0.0)


def test_wrong_class_scores_zero():
    truth = _rect(3, 3, 20, 12)
    result = coco_instance_evaluation(_targets([[(1, truth)]]), _detections([[(2, 0.99, truth)]]))
    _assert_aps(result, ap=0.0, ap50=0.0, ap70=0.0, ap75=0.0)


def test_average_precision_computed_by_hand():
    """Two objects, three detections by score: hit, false positive, hit.

    Precision/recall after each detection: (1, 1/2), (1/2, 1/2), (2/3, 1). COCO
    interpolates precision as the best precision at any higher recall and samples it
    at 101 recall points 0, 0.01, ..., 1: the 51 points up to recall 0.5 read 1, the
    50 points above read 2/3, so AP = (51 * 1 + 50 * 2/3) / 101 at every IoU threshold
    (the hits are exact).
    """
    a, b = _rect(2, 2, 9, 9), _rect(18, 18, 29, 25)
    nowhere = _rect(20, 2, 27, 8)  # overlaps neither object
    targets = _targets([[(1, a), (1, b)]])
    detections = _detections([[(1, 0.9, a), (1, 0.8, nowhere), (1, 0.7, b)]])
    expected = (51 * 1 + 50 * (2 / 3)) / 101
    result = coco_instance_evaluation(targets, detections)
    _assert_aps(result, ap=expected, ap50=expected, ap70=expected, ap75=expected)
    # the false positive ranked last instead costs nothing: precision 1 up to recall 1
    late = _detections([[(1, 0.9, a), (1, 0.1, nowhere), (1, 0.7, b)]])
    _assert_aps(coco_instance_evaluation(targets, late), ap=1.0)


def test_images_without_detections_count_their_objects_as_missed():
    a, b = _rect(2, 2, 9, 9), _rect(10, 12, 20, 30)
    targets = _targets([[(1, a)], [(1, b)]])
    result = coco_instance_evaluation(targets, _detections([[(1, 0.9, a)], []]))
    # recall reaches 1/2 at precision 1: 51 of the 101 recall points read 1
    _assert_aps(result, ap=51 / 101, ap50=51 / 101)
    # no detection at all
    nothing = coco_instance_evaluation(targets, _detections([[], []]))
    _assert_aps(nothing, ap=0.0, ap50=0.0, ap70=0.0, ap75=0.0)
    assert nothing["detections"] == 0 and nothing["instances"] == 2


def test_empty_slots_are_ignored():
    a, b = _rect(2, 2, 9, 9), _rect(18, 18, 29, 25)
    targets = _targets([[(1, a), (1, b)]])
    detections = _detections([[(1, 0.9, a), (1, 0.8, _rect(20, 2, 27, 8)), (1, 0.7, b)]], slots=6)
    base = coco_instance_evaluation(targets, detections)
    # Slots past num_detections hold a confident false positive and a better-scored copy of b,
    # and a class-0 slot inside the count holds another: none of them counts.
    detections["classes"][0, 3:] = 1
    detections["scores"][0, 3:] = [0.95, 0.99, 0.5]
    detections["masks"][0, 3], detections["masks"][0, 4] = _rect(0, 20, 5, 30), b
    detections["boxes"][0, 3:5] = boxes_from_masks(np.stack([_rect(0, 20, 5, 30), b]))
    detections["num_detections"][0] = 4
    detections["classes"][0, 3] = 0
    result = coco_instance_evaluation(targets, detections)
    assert result == base and result["detections"] == 3
    # counted, the same slots change the score (the test can fail)
    detections["num_detections"][0] = 5
    assert coco_instance_evaluation(targets, detections)["mask_ap"] != base["mask_ap"]


def test_mask_threshold_and_a_class_without_ground_truth():
    truth = _rect(4, 4, 15, 15)
    detections = _detections([[(1, 0.9, truth)]])
    detections["masks"][0, 0] = truth * 0.6
    targets = _targets([[(1, truth)]])
    _assert_aps(coco_instance_evaluation(targets, detections), ap=1.0)
    high = coco_instance_evaluation(targets, detections, mask_threshold=0.7)
    _assert_aps(high, ("mask",), ap=0.0, ap50=0.0)
    _assert_aps(high, ("box",), ap=1.0)  # boxes come from "boxes", not the masks
    # COCO's convention: a class no image holds has no AP, its detections count against nothing
    extra = _detections([[(1, 0.9, truth), (3, 0.95, _rect(20, 20, 30, 30))]])
    _assert_aps(coco_instance_evaluation(targets, extra), ap=1.0)


def test_errors_name_the_argument():
    truth = _rect(4, 4, 15, 15)
    targets = _targets([[(1, truth)]])
    detections = _detections([[(1, 0.9, truth)]])
    with pytest.raises(ValueError, match=r"targets must hold at least one instance .* received 2 images with only padding"):
        coco_instance_evaluation(_targets([[], []]), _detections([[], []]))
    small = {**detections, "masks": np.zeros((1, 1, 16, 16), np.float32)}
    with pytest.raises(ValueError, match=r'detections\["masks"\] must be of shape \(B, D, H, W\) = \(1, D, 32, 32\).*'
                                         r"received shape \(1, 1, 16, 16\)\."):
        coco_instance_evaluation(targets, small)
    with pytest.raises(ValueError, match=r'detections\["masks"\] must be of shape .*received shape \(2, 1, 32, 32\)\.'):
        coco_instance_evaluation(targets, {**detections, "masks": np.zeros((2, 1, H, W), np.float32)})
    with pytest.raises(ValueError, match=r'detections\["scores"\] must be of shape \(1, 1\) like the masks'):
        coco_instance_evaluation(targets, {**detections, "scores": np.zeros((1, 2))})
    with pytest.raises(ValueError, match=r'detections\["num_detections"\] must be ints in \[0, 1\] of shape \(1,\), received \[2\]\.'):
        coco_instance_evaluation(targets, {**detections, "num_detections": np.array([2])})
    with pytest.raises(ValueError, match=r'detections\["scores"\] must be finite numbers, received non-finite values\.'):
        coco_instance_evaluation(targets, {**detections, "scores": np.array([[np.nan]])})
    with pytest.raises(ValueError, match=r"detections must be a dict with .*received a dict with keys \['boxes'\]\."):
        coco_instance_evaluation(targets, {"boxes": detections["boxes"]})
    with pytest.raises(ValueError, match=r'targets\["boxes"\] must be of shape \(N, M, 4\) = \(1, 1, 4\)'):
        coco_instance_evaluation({**targets, "boxes": np.zeros((1, 4))}, detections)
    with pytest.raises(ValueError, match=r"mask_threshold must be a finite number > 0 and <= 1, received 0\.0\."):
        coco_instance_evaluation(targets, detections, mask_threshold=0.0)


# ----------------------------------------------------------------- pictures
def _png(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _square_scene():
    image = np.full((64, 64, 3), 128.0, np.float32)
    mask = np.zeros((1, 64, 64), np.uint8)
    mask[0, 30:50, 30:50] = 1
    targets = {"boxes": boxes_from_masks(mask), "classes": np.array([2], np.int32), "masks": mask}
    return image, targets


def test_plot_instances_draws_masks_boxes_and_respects_the_score_threshold(tmp_path):
    from keras_segattn.visualize import plot_instances

    image, targets = _square_scene()
    empty = {**targets, "classes": np.zeros(1, np.int32)}
    drawn = _png(plot_instances(image, targets, tmp_path / "t.png", class_names=["a", "b"]))
    bare = _png(plot_instances(image, empty, tmp_path / "bare.png"))
    assert drawn.shape == bare.shape == (512, 512, 3)  # 64x64 enlarged 8 times
    # inside the mask (pixel (45, 45) -> 8 * 45 + 4) the colour changed; far outside it did not
    assert np.abs(drawn[364, 364] - bare[364, 364]).sum() > 60
    np.testing.assert_array_equal(drawn[:200, :200], bare[:200, :200])
    np.testing.assert_array_equal(bare[364, 364], [128, 128, 128])
    # the box outline lies on the square's edge (pixel column 30 -> x = 240 in the picture)
    assert np.abs(drawn[300:340, 238:242] - bare[300:340, 238:242]).sum() > 0
    # detections: drawn when scored at or above the threshold, not below
    detections = {**targets, "scores": np.array([0.4], np.float32), "masks": targets["masks"] * 0.9}
    low = _png(plot_instances(image, detections, tmp_path / "low.png"))
    np.testing.assert_array_equal(low, bare)
    high = _png(plot_instances(image, detections, tmp_path / "high.png", score_threshold=0.3, title="predictions"))
    assert high.shape == (544, 512, 3)  # plus the title band
    assert np.abs(high[32 + 364, 364] - bare[364, 364]).sum() > 60


def test_plot_instance_grid_and_errors(tmp_path):
    from PIL import Image

    from keras_segattn.visualize import plot_instance_grid, plot_instances

    images, targets = instance_shapes_arrays("test", 3, image_size=32)
    path = plot_instance_grid(images, targets, tmp_path / "grid.png", columns=2, titles=["a", "b", "c"], title="t")
    assert Image.open(path).size[0] > 300
    image, one = _square_scene()
    with pytest.raises(ValueError, match=r'plot_instances: instances\["masks"\] must be of shape \(D, H, W\) = '
                                         r"\(D, 64, 64\) like the image .*received shape \(1, 1, 64, 64\)\."):
        plot_instances(image, {**one, "masks": one["masks"][None]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"plot_instances: image must be RGB of shape \(H, W, 3\) in \[0, 255\], received shape \(64, 64\)\."):
        plot_instances(image[..., 0], one, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"plot_instances: score_threshold must be a finite number >= 0 and <= 1, received 2\."):
        plot_instances(image, one, tmp_path / "x.png", score_threshold=2)
    with pytest.raises(ValueError, match=r"plot_instance_grid: titles must be None or 3 titles"):
        plot_instance_grid(images, targets, tmp_path / "g.png", titles=["a"])
    with pytest.raises(ValueError, match=r"plot_instance_grid: instances must be batched arrays with 3 rows"):
        plot_instance_grid(images, {k: v[:2] for k, v in targets.items()}, tmp_path / "g.png")
