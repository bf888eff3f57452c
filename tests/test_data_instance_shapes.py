"""Embedded instance-segmentation data (instance_shapes) and its COCO-format ground truth."""

import json
import os

import numpy as np
import pytest

from keras_segattn.data import (
    SHAPES,
    instance_shapes,
    instance_shapes_arrays,
    instances_to_coco,
    write_coco_annotations,
)
from keras_segattn.data.instance_shapes import boxes_from_masks


@pytest.fixture(scope="module")
def train():
    return instance_shapes_arrays("train", 96, seed=3)


def _tight_box(mask):
    """Reference box from the mask's pixel indices: (y1, x1, y2, x2) pixel edges, normalised."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return np.array([ys.min() / h, xs.min() / w, (ys.max() + 1) / h, (xs.max() + 1) / w], np.float32)


def test_layout_shapes_dtypes_padding_and_tight_boxes(train):
    images, targets = train
    boxes, classes, masks = targets["boxes"], targets["classes"], targets["masks"]
    assert images.shape == (96, 64, 64, 3) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255 and images.std() > 20
    assert boxes.shape == (96, 4, 4) and boxes.dtype == np.float32
    assert classes.shape == (96, 4) and classes.dtype == np.int32
    assert masks.shape == (96, 4, 64, 64) and masks.dtype == np.uint8
    assert set(np.unique(masks)) == {0, 1}
    assert set(np.unique(classes)) == {0, 1, 2, 3}
    real = classes > 0
    # instances first, then padding
    assert (np.sort(~real, axis=1, kind="stable") == ~real).all()
    # padding rows are all zeros; instance rows are visible (>= 20 px at 64x64) with a tight box
    assert not masks[~real].any() and not boxes[~real].any()
    areas = masks.sum((2, 3))
    assert areas[real].min() >= 20
    for i, j in zip(*np.nonzero(real)):
        np.testing.assert_array_equal(boxes[i, j], _tight_box(masks[i, j]))
    assert (boxes[..., 2] > boxes[..., 0])[real].all() and (boxes[..., 3] > boxes[..., 1])[real].all()


def test_instance_counts_include_empty_images_and_are_mostly_one_to_three():
    _, targets = instance_shapes_arrays("train", 200, image_size=32, seed=0)
    counts = np.bincount((targets["classes"] > 0).sum(1), minlength=5)
    assert 4 <= counts[0] <= 30, counts  # about 8% of the images hold no instance
    assert counts[1:4].sum() >= 0.75 * 200, counts
    empty = targets["classes"].sum(1) == 0
    assert not targets["masks"][empty].any() and not targets["boxes"][empty].any()


def test_later_shapes_occlude_earlier_ones(train):
    _, targets = train
    masks, classes = targets["masks"], targets["classes"]
    # Every pixel belongs to at most one instance: an occluded instance lost the covered pixels ...
    assert masks.sum(1).max() == 1
    # ... and occlusion does happen: some pairs of instances have overlapping boxes.
    boxes = targets["boxes"]
    overlapping = 0
    for i in range(len(masks)):
        n = int((classes[i] > 0).sum())
        for a in range(n):
            for b in range(a + 1, n):
                (ay1, ax1, ay2, ax2), (by1, bx1, by2, bx2) = boxes[i, a], boxes[i, b]
                overlapping += min(ay2, by2) > max(ay1, by1) and min(ax2, bx2) > max(ax1, bx1)
    assert overlapping >= 5


def test_instances_differ_in_colour_from_their_surroundings(train):
    images, targets = train
    checked = 0
    for i, j in list(zip(*np.nonzero(targets["classes"] > 0)))[:30]:
        mask = targets["masks"][i, j].astype(bool)
        ring = np.zeros_like(mask)
        y1, x1, y2, x2 = (targets["boxes"][i, j] * 64).astype(int)
        ring[max(y1 - 2, 0):y2 + 2, max(x1 - 2, 0):x2 + 2] = True
        outside = ring & (targets["masks"][i].sum(0) == 0)
        if outside.sum() < 10:
            continue
        inside_colour, outside_colour = images[i][mask].mean(0), images[i][outside].mean(0)
        assert np.linalg.norm(inside_colour - outside_colour) > 30
        checked += 1
    assert checked >= 20


def test_deterministic_independent_of_count_and_splits_differ():
    images, targets = instance_shapes_arrays("validation", 5, image_size=32, seed=1)
    again, targets_again = instance_shapes_arrays("validation", 5, image_size=32, seed=1)
    np.testing.assert_array_equal(images, again)
    for key in targets:
        np.testing.assert_array_equal(targets[key], targets_again[key])
    # example i does not depend on how many are generated; start skips examples
    more, _ = instance_shapes_arrays("validation", 8, image_size=32, seed=1)
    np.testing.assert_array_equal(more[:5], images)
    shifted, shifted_targets = instance_shapes_arrays("validation", 3, image_size=32, seed=1, start=2)
    np.testing.assert_array_equal(shifted, images[2:])
    np.testing.assert_array_equal(shifted_targets["masks"], targets["masks"][2:])
    # other splits and seeds give other images (and none equal to any of these)
    for other in (instance_shapes_arrays("train", 5, image_size=32, seed=1)[0],
                  instance_shapes_arrays("test", 5, image_size=32, seed=1)[0],
                  instance_shapes_arrays("validation", 5, image_size=32, seed=2)[0]):
        assert all(not np.array_equal(a, b) for a in other for b in images)


def test_classes_follow_shapes_and_sizes_scale():
    _, targets = instance_shapes_arrays("train", 40, image_size=16, num_classes=1, max_instances=2)
    assert set(np.unique(targets["classes"])) == {0, 1} and targets["masks"].shape == (40, 2, 16, 16)
    _, targets = instance_shapes_arrays("train", 60, image_size=48, num_classes=len(SHAPES), max_instances=7)
    assert set(np.unique(targets["classes"])) == set(range(len(SHAPES) + 1))
    assert (targets["classes"] > 0).sum(1).max() >= 4


def test_dataset_matches_the_arrays_and_batches():
    images, targets = instance_shapes_arrays("test", 5, image_size=24, max_instances=3)
    examples = list(instance_shapes("test", 5, image_size=24, max_instances=3).as_numpy_iterator())
    assert len(examples) == 5
    for k, (image, target) in enumerate(examples):
        np.testing.assert_array_equal(image, images[k])
        for key in ("boxes", "classes", "masks"):
            np.testing.assert_array_equal(target[key], targets[key][k])
    batches = list(instance_shapes("test", 5, image_size=24, max_instances=3, batch_size=2).as_numpy_iterator())
    assert [b[1]["masks"].shape for b in batches] == [(2, 3, 24, 24), (2, 3, 24, 24), (1, 3, 24, 24)]


def test_boxes_from_masks_by_hand():
    masks = np.zeros((3, 8, 10), np.uint8)
    masks[0, 2:5, 3:9] = 1  # rows 2..4, columns 3..8
    masks[1, 7, 0] = 1  # one corner pixel
    np.testing.assert_allclose(boxes_from_masks(masks), [[2 / 8, 3 / 10, 5 / 8, 9 / 10], [7 / 8, 0, 1, 1 / 10], [0, 0, 0, 0]])


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"split": "val"}, r"instance_shapes_arrays: split must be one of 'train', 'validation', 'test', received 'val'\."),
        ({"num_examples": 0}, r"num_examples must be a positive int, received 0\."),
        ({"image_size": 8}, r"image_size must be an int >= 16, received 8\."),
        ({"num_classes": 7}, r"num_classes must be an int in \[1, 6\], received 7\. Instance classes are 1\.\.num_classes"),
        ({"num_classes": 0}, r"num_classes must be an int in \[1, 6\], received 0\."),
        ({"max_instances": 0}, r"max_instances must be a positive int, received 0\."),
        ({"max_instances": True}, r"max_instances must be a positive int, received True\."),
        ({"seed": -1}, r"seed must be an int >= 0, received -1\."),
    ],
)
def test_argument_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        instance_shapes_arrays(**{"num_examples": 2, **kwargs})
    with pytest.raises(ValueError, match="instance_shapes: batch_size must be None or a positive int, received 0"):
        instance_shapes(num_examples=2, batch_size=0)


# ----------------------------------------------------------------- COCO-format ground truth
def test_coco_ground_truth_round_trips_masks_boxes_and_classes():
    from pycocotools import mask as mask_utils

    _, targets = instance_shapes_arrays("train", 12, image_size=32, seed=5)
    names = ["circle", "rectangle", "triangle"]
    coco = instances_to_coco(targets, 32, class_names=names, image_ids=list(range(100, 112)))
    assert [im["id"] for im in coco["images"]] == list(range(100, 112))
    assert all(im["height"] == im["width"] == 32 for im in coco["images"])
    assert coco["categories"] == [{"id": 1, "name": "circle"}, {"id": 2, "name": "rectangle"}, {"id": 3, "name": "triangle"}]
    real = np.argwhere(targets["classes"] > 0)
    assert len(coco["annotations"]) == len(real) > 0
    assert len({a["id"] for a in coco["annotations"]}) == len(real)
    for annotation, (i, j) in zip(coco["annotations"], real):
        mask = targets["masks"][i, j]
        assert annotation["image_id"] == 100 + i and annotation["category_id"] == targets["classes"][i, j]
        assert annotation["iscrowd"] == 0 and annotation["area"] == mask.sum()
        np.testing.assert_array_equal(mask_utils.decode(annotation["segmentation"]), mask)
        # bbox in pixels [x, y, w, h], the same box pycocotools derives from the mask
        np.testing.assert_allclose(annotation["bbox"], mask_utils.toBbox(annotation["segmentation"]), atol=1e-4)
    json.dumps(coco)  # JSON-ready (RLE counts are str)


def test_coco_ground_truth_defaults_and_errors():
    _, targets = instance_shapes_arrays("test", 3, image_size=16)
    coco = instances_to_coco(targets)
    assert [im["id"] for im in coco["images"]] == [1, 2, 3]
    assert [c["id"] for c in coco["categories"]] == list(range(1, targets["classes"].max() + 1))
    with pytest.raises(ValueError, match=r"instances_to_coco: image_size must be None or the masks' \(H, W\) = \(16, 16\), received \(32, 32\)\."):
        instances_to_coco(targets, (32, 32))
    with pytest.raises(ValueError, match=r"image_ids must be None or 3 distinct ints .*received \[1, 1, 2\]\."):
        instances_to_coco(targets, image_ids=[1, 1, 2])
    with pytest.raises(ValueError, match=r"class_names must be a name for every class id up to"):
        instances_to_coco({**targets, "classes": np.where(targets["classes"] > 0, 3, 0)}, class_names=["a"])
    with pytest.raises(ValueError, match=r'targets\["classes"\] must be of shape \(N, M\) = \(3, 4\) like the masks, received shape \(3, 5\)\.'):
        instances_to_coco({**targets, "classes": np.zeros((3, 5), np.int32)})
    with pytest.raises(ValueError, match=r'targets must be a dict with "boxes" .*received a dict with keys \[\'boxes\', \'classes\'\]\.'):
        instances_to_coco({"boxes": targets["boxes"], "classes": targets["classes"]})
    with pytest.raises(ValueError, match=r'targets\["masks"\] must be binary'):
        instances_to_coco({**targets, "masks": targets["masks"] * 255})


def test_write_coco_annotations_is_atomic_and_loadable(tmp_path):
    import contextlib
    import io

    from pycocotools.coco import COCO

    _, targets = instance_shapes_arrays("test", 4, image_size=16)
    path = tmp_path / "gt.json"
    path.write_text("old")
    assert write_coco_annotations(path, targets) == os.fspath(path)
    assert os.listdir(tmp_path) == ["gt.json"]  # no temporary file left
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(os.fspath(path))
    assert len(coco.getImgIds()) == 4 and len(coco.getAnnIds()) == int((targets["classes"] > 0).sum())
    # a failing conversion leaves the previous file as it was
    with pytest.raises(ValueError, match="write_coco_annotations: image_size"):
        write_coco_annotations(path, targets, 99)
    with pytest.raises(ValueError, match="write_coco_annotations: path must be a non-empty file or folder path, received ''"):
        write_coco_annotations("", targets)
    assert json.loads(path.read_text())["images"][0]["id"] == 1
