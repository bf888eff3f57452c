"""Embedded distorted digits: determinism, disjoint splits, families, pipeline, errors."""

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.data import CANVAS_SIZES, FAMILIES, distorted_digits, distorted_digits_arrays
from keras_segattn.data.distorted_digits import _split_indices, digit_pool, render_distorted_digit


def test_source_digit_splits_are_disjoint_and_cover_load_digits():
    from sklearn.datasets import load_digits

    parts = _split_indices()
    train, val, test = (set(parts[s].tolist()) for s in ("train", "validation", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == len(load_digits().target) == 1797
    assert 0.19 < len(test) / 1797 < 0.21 and 0.09 < len(val) / 1797 < 0.11
    # Stratified: every class in every split.
    for split in ("train", "validation", "test"):
        assert set(digit_pool(split)[1].tolist()) == set(range(10))


@pytest.mark.parametrize("family", FAMILIES)
def test_families_shapes_ranges_and_determinism(family):
    images, labels = distorted_digits_arrays("test", 12, family=family, seed=3)
    size = CANVAS_SIZES[family]
    assert images.shape == (12, size, size, 1) and images.dtype == np.uint8
    assert labels.shape == (12,) and labels.dtype == np.int32 and labels.min() >= 0 and labels.max() <= 9
    assert (images.reshape(12, -1).max(axis=1) > 100).all()  # every image shows a digit
    again, again_labels = distorted_digits_arrays("test", 12, family=family, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    # Example i does not depend on how many are generated; start skips.
    tail, _ = distorted_digits_arrays("test", 4, family=family, seed=3, start=8)
    np.testing.assert_array_equal(images[8:], tail)
    other, _ = distorted_digits_arrays("test", 12, family=family, seed=4)
    assert not np.array_equal(images, other)


def test_labels_are_the_source_digits():
    """Undistorted rendering of a pool digit matches load_digits' label for that digit."""
    pool, pool_labels = digit_pool("validation")
    images, labels = distorted_digits_arrays("validation", 50, family="R", seed=0)
    # Each example's digit is drawn from the pool with the example's own stream.
    for i in range(50):
        rng = np.random.default_rng([0, 1, i])
        k = int(rng.integers(len(pool)))
        assert labels[i] == pool_labels[k]
        np.testing.assert_array_equal(images[i, :, :, 0], render_distorted_digit(rng, pool[k], "R", 28))


def test_rts_spreads_digits_over_the_canvas_and_r_keeps_them_centred():
    def centroids(images):
        w = images[..., 0].astype(np.float64)
        yy, xx = np.mgrid[0 : w.shape[1], 0 : w.shape[2]]
        total = w.sum(axis=(1, 2))
        return np.stack([(w * yy).sum(axis=(1, 2)) / total, (w * xx).sum(axis=(1, 2)) / total], 1)

    rts, _ = distorted_digits_arrays("train", 200, family="RTS")
    r, _ = distorted_digits_arrays("train", 200, family="R")
    assert centroids(rts).std(axis=0).min() > 4.0  # translated over a 42-px canvas
    assert np.abs(centroids(r) - 13.5).max() < 4.0  # rotation about the centre only
    # Scale 0.7-1.2: the inked area varies much more than under pure rotation.
    area = lambda x: (x[..., 0] > 64).sum(axis=(1, 2))  # noqa: E731
    assert area(rts).std() / area(rts).mean() > 1.5 * area(r).std() / area(r).mean()


def test_options_num_classes_channels_and_size():
    images, labels = distorted_digits_arrays("train", 40, family="RTS", num_classes=3, channels=3, image_size=32)
    assert images.shape == (40, 32, 32, 3) and set(labels.tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(images[..., 0], images[..., 2])


def test_tf_data_pipeline():
    ds = distorted_digits("validation", 10, family="P", batch_size=4)
    batches = list(ds)
    assert [tuple(b[0].shape) for b in batches] == [(4, 28, 28, 1), (4, 28, 28, 1), (2, 28, 28, 1)]
    assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int32
    arrays, labels = distorted_digits_arrays("validation", 10, family="P")
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), arrays.astype("float32"))
    shuffled = distorted_digits("validation", 10, family="P", shuffle=True, seed=0)
    order_a = [int(y) for _, y in shuffled]
    assert sorted(order_a) == sorted(labels.tolist())
    repeated = distorted_digits("validation", 10, family="P", batch_size=4, repeat=True, shuffle=True)
    assert [tuple(b[0].shape) for b in repeated.take(5)] == [(4, 28, 28, 1)] * 5


def test_errors():
    with pytest.raises(ValueError, match="distorted_digits: family must be one of 'R', 'RTS', 'P', 'E', 'cluttered', received 'RT'"):
        distorted_digits_arrays("train", 2, family="RT")
    with pytest.raises(ValueError, match="distorted_digits: split must be one of 'train', 'validation', 'test', received 'val'"):
        distorted_digits_arrays("val", 2)
    with pytest.raises(ValueError, match="distorted_digits: num_examples must be a positive int, received 0"):
        distorted_digits_arrays("train", 0)
    with pytest.raises(ValueError, match=r"distorted_digits: image_size must be None or an int >= 16, received 8\. None is the family's canvas size\."):
        distorted_digits_arrays("train", 2, image_size=8)
    with pytest.raises(ValueError, match=r"distorted_digits: num_classes must be an int in \[2, 10\], received 11\. The labels are the digits 0\.\.num_classes-1\."):
        distorted_digits_arrays("train", 2, num_classes=11)
    with pytest.raises(ValueError, match=r"distorted_digits: channels must be 1 \(grey\) or 3 \(grey repeated as RGB\), received 2"):
        distorted_digits_arrays("train", 2, channels=2)
    with pytest.raises(ValueError, match="distorted_digits: batch_size must be None or a positive int, received 0"):
        distorted_digits("train", 2, batch_size=0)
