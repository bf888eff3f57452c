"""COCO instance pipeline (coco/2017_panoptic "things"), offline with tfds.testing.mock_data.

tfds' random mock draws every feature independently (the panoptic PNG's ids never
match the objects' ids), so the main test feeds consistent fake records instead
(``as_dataset_fn``): panoptic PNGs that encode the instances of the embedded shapes
data, plus a stuff segment, a crowd object and a one-pixel object, compared with a
NumPy reference of the conversion.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.data import COCO_THING_CLASSES, coco_instances, instance_shapes_arrays

SIZE = (24, 32)  # output (H, W) from 40x40 records: rows sampled 2 of 3-ish, columns 4 of 5


def _fake_records(count=6, max_instances=4):
    images, targets = instance_shapes_arrays("train", count, image_size=40, max_instances=max_instances, seed=11)
    rng = np.random.default_rng(0)
    records = []
    for i in range(count):
        segment = np.full((40, 40), 7, np.int64)  # a stuff segment (id 7) under everything
        objects = [(7, 100, False, 0)]
        for j in np.flatnonzero(targets["classes"][i] > 0):
            sid = 65536 * (j + 1) + 256 * (i + 1) + 3  # uses all three PNG channels
            mask = targets["masks"][i, j].astype(bool)
            segment[mask] = sid
            label = (int(targets["classes"][i, j]) - 1) * 20 + 5  # a thing class (< 80)
            objects.append((sid, label, bool(j == 1 and i % 2 == 0), int(mask.sum())))
        segment[1, 2] = 99999  # one pixel that the nearest-neighbour resize to SIZE skips (row 1, column 2)
        objects.append((99999, 3, False, 1))
        objects[0] = (7, 100, False, int((segment == 7).sum()))
        objects = [objects[k] for k in rng.permutation(len(objects))]
        panoptic = np.stack([segment % 256, segment // 256 % 256, segment // 65536], -1).astype(np.uint8)
        ids, labels, crowd, area = (np.array(v) for v in zip(*objects))
        records.append({
            "image": images[i].astype(np.uint8),
            "image/filename": f"{i}.jpg",
            "image/id": np.int64(i),
            "panoptic_image": panoptic,
            "panoptic_image/filename": f"{i}.png",
            "panoptic_objects": {"id": ids.astype(np.int64), "area": area.astype(np.int64),
                                 "bbox": np.zeros((len(ids), 4), np.float32), "label": labels.astype(np.int64),
                                 "is_crowd": crowd.astype(bool)},
        })
    return records


def _mock(records):
    def as_dataset(self, split, *args, **kwargs):
        spec = tf.TensorSpec
        signature = {
            "image": spec((None, None, 3), tf.uint8), "image/filename": spec((), tf.string),
            "image/id": spec((), tf.int64), "panoptic_image": spec((None, None, 3), tf.uint8),
            "panoptic_image/filename": spec((), tf.string),
            "panoptic_objects": {"id": spec((None,), tf.int64), "area": spec((None,), tf.int64),
                                 "bbox": spec((None, 4), tf.float32), "label": spec((None,), tf.int64),
                                 "is_crowd": spec((None,), tf.bool)},
        }
        return tf.data.Dataset.from_generator(lambda: iter(records), output_signature=signature)

    import tensorflow_datasets as tfds

    return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def _nearest(array, size):
    """NumPy nearest-neighbour resize with half-pixel centres (tf.image.resize's convention)."""
    h, w = array.shape[:2]
    rows = np.minimum(np.floor((np.arange(size[0]) + 0.5) * h / size[0]).astype(int), h - 1)
    cols = np.minimum(np.floor((np.arange(size[1]) + 0.5) * w / size[1]).astype(int), w - 1)
    return array[rows][:, cols]


def _reference(record, size, max_instances):
    objects = record["panoptic_objects"]
    keep = (objects["label"] < 80) & ~objects["is_crowd"]
    order = np.argsort(-objects["area"][keep], kind="stable")[:max_instances]
    ids, labels = objects["id"][keep][order], objects["label"][keep][order]
    rgb = record["panoptic_image"].astype(np.int64)
    segment = _nearest(rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2], size)
    masks = [(segment == sid).astype(np.uint8) for sid in ids]
    kept = [(m, c + 1) for m, c in zip(masks, labels) if m.any()]
    out_masks = np.zeros((max_instances, *size), np.uint8)
    out_classes = np.zeros(max_instances, np.int32)
    out_boxes = np.zeros((max_instances, 4), np.float32)
    for k, (m, c) in enumerate(kept):
        ys, xs = np.nonzero(m)
        out_masks[k], out_classes[k] = m, c
        out_boxes[k] = [ys.min() / size[0], xs.min() / size[1], (ys.max() + 1) / size[0], (xs.max() + 1) / size[1]]
    return out_boxes, out_classes, out_masks


@pytest.mark.parametrize("max_instances", [2, 6])
def test_instances_match_a_numpy_reference(max_instances):
    records = _fake_records()
    with _mock(records):
        examples = list(coco_instances("validation", image_size=SIZE, max_instances=max_instances).as_numpy_iterator())
    assert len(examples) == len(records)
    seen_classes = set()
    for record, (image, targets) in zip(records, examples):
        assert image.shape == (*SIZE, 3) and image.dtype == np.float32
        want = tf.image.resize(record["image"].astype(np.float32), SIZE, "bilinear").numpy()
        np.testing.assert_allclose(image, np.clip(want, 0, 255), atol=1e-3)
        boxes, classes, masks = _reference(record, SIZE, max_instances)
        assert targets["classes"].dtype == np.int32 and targets["masks"].dtype == np.uint8
        assert targets["boxes"].dtype == np.float32
        np.testing.assert_array_equal(targets["classes"], classes)
        np.testing.assert_array_equal(targets["masks"], masks)
        np.testing.assert_allclose(targets["boxes"], boxes, atol=1e-6)
        seen_classes |= set(classes.tolist())
        # not vacuous: stuff, crowd and the vanished one-pixel object are all gone
        assert 101 not in classes and 4 not in classes
    assert seen_classes - {0} == {6, 26, 46}  # COCO labels 5, 25, 45 -> ids 6, 26, 46


def test_crowd_and_largest_first():
    records = _fake_records(count=3)
    with _mock(records):
        *_, (_, first) = list(coco_instances("train", image_size=40, max_instances=8).as_numpy_iterator())
    objects = records[2]["panoptic_objects"]  # four shapes, the second one a crowd
    things = (objects["label"] < 80) & ~objects["is_crowd"]
    assert objects["is_crowd"].sum() == 1 and int((first["classes"] > 0).sum()) == things.sum() >= 3
    areas = first["masks"].sum((1, 2)).astype(int)
    real = first["classes"] > 0
    assert (np.diff(areas[real]) <= 0).all()  # largest first at the same size (40 -> 40) ...
    assert areas[real][-1] == 1 and first["classes"][real][-1] == 4  # ... down to the one-pixel object
    assert not first["masks"][~real].any() and not first["boxes"][~real].any()


def test_random_mock_keeps_the_layout():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        ds = coco_instances("train", image_size=(20, 28), max_instances=5)
        examples = list(ds.as_numpy_iterator())
        batch = next(iter(ds.batch(2)))
    assert len(examples) == 3
    for image, targets in examples:
        assert image.shape == (20, 28, 3) and 0 <= image.min() and image.max() <= 255
        assert targets["boxes"].shape == (5, 4) and targets["classes"].shape == (5,)
        assert targets["masks"].shape == (5, 20, 28)
        assert 0 <= targets["boxes"].min() and targets["boxes"].max() <= 1
        assert set(np.unique(targets["masks"])) <= {0, 1}
        assert 0 <= targets["classes"].min() and targets["classes"].max() <= 80
    assert tuple(batch[1]["masks"].shape) == (2, 5, 20, 28)


def test_class_names_and_errors():
    assert len(COCO_THING_CLASSES) == 80 and COCO_THING_CLASSES[0] == "person"
    assert COCO_THING_CLASSES[-1] == "toothbrush" and len(set(COCO_THING_CLASSES)) == 80
    with pytest.raises(ValueError, match=r"coco_instances: split must be 'train' or 'validation' .*received 'test'\."):
        coco_instances("test")
    with pytest.raises(ValueError, match=r"coco_instances: max_instances must be a positive int, received 0\."):
        coco_instances(max_instances=0)
    with pytest.raises(ValueError, match=r"coco_instances: image_size must be an int or a \(height, width\) pair"):
        coco_instances(image_size=(1, 2, 3))
    with pytest.raises(ValueError, match=r"coco_instances: download must be True or False, received 'yes'\."):
        coco_instances(download="yes")
