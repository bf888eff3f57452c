"""Embedded synthetic shapes, the segmentation pipeline and the tfds pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.data import (
    SHAPES,
    oxford_iiit_pet,
    segmentation_pipeline,
    synthetic_shapes,
    synthetic_shapes_arrays,
)


def test_deterministic_by_seed_and_independent_of_count():
    a_img, a_lab = synthetic_shapes_arrays("train", 5, seed=3)
    b_img, b_lab = synthetic_shapes_arrays("train", 8, seed=3)
    np.testing.assert_array_equal(a_img, b_img[:5])
    np.testing.assert_array_equal(a_lab, b_lab[:5])
    c_img, _ = synthetic_shapes_arrays("train", 5, seed=4)
    assert not np.array_equal(a_img, c_img)
    # `start` continues the same stream.
    d_img, _ = synthetic_shapes_arrays("train", 3, seed=3, start=5)
    np.testing.assert_array_equal(d_img, b_img[5:])


def test_splits_do_not_overlap():
    train, _ = synthetic_shapes_arrays("train", 50, seed=0)
    test, _ = synthetic_shapes_arrays("test", 50, seed=0)
    assert not any(np.array_equal(t, s) for t in train for s in test)


def test_task_is_as_hard_as_specified():
    images, labels = synthetic_shapes_arrays("train", 300, seed=0)
    assert images.shape == (300, 64, 64, 3) and images.dtype == np.uint8
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    # Every class appears often; objects are small (background dominates but not totally).
    fractions = np.bincount(labels.ravel(), minlength=4) / labels.size
    assert 0.75 < fractions[0] < 0.97 and (fractions[1:] > 0.01).all()
    # 1-4 objects: count connected label regions roughly via distinct classes per image.
    per_image = [len(np.unique(lab)) - 1 for lab in labels]
    assert min(per_image) >= 0 and max(per_image) == 3
    # Backgrounds are not flat: the texture/gradient/noise spread is large.
    background_std = np.mean([img[lab == 0].std() for img, lab in zip(images[:50], labels[:50])])
    assert background_std > 15
    # Object colours are random: objects of one class span the colour cube.
    circle_means = np.array([img[lab == 1].mean(0) for img, lab in zip(images, labels) if (lab == 1).sum() > 30])
    assert circle_means.std(0).min() > 40


def test_sizes_are_within_range():
    from keras_segattn.data.synthetic_shapes import _shape_mask

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:100, 0:100].astype(np.float32) + 0.5
    for shape in SHAPES:
        for size in (8, 28):
            mask = _shape_mask(shape, yy, xx, 50.0, 50.0, size, rng)
            ys, xs = np.nonzero(mask)
            extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
            assert 0.4 * size <= extent <= size + 2, (shape, size, extent)


def test_more_classes_and_larger_images():
    images, labels = synthetic_shapes_arrays("validation", 200, image_size=96, num_classes=7, seed=1)
    assert images.shape == (200, 96, 96, 3)
    assert set(np.unique(labels)) == set(range(7))


def test_dataset_and_pipeline():
    ds = synthetic_shapes("train", 10, seed=0)
    image, label = next(iter(ds))
    assert image.dtype == tf.float32 and label.dtype == tf.int32
    batched = segmentation_pipeline(ds, 4, training=True, num_classes=4, seed=1)
    batches = list(batched)
    assert len(batches) == 2 and batches[0][0].shape == (4, 64, 64, 3)
    # Augmentation moves pixels and labels together: each augmented image is a
    # flip/rotation of an original, with the matching label.
    originals = list(ds.as_numpy_iterator())
    for img, lab in zip(*map(np.asarray, batches[0])):
        found = False
        for o_img, o_lab in originals:
            for k in range(4):
                for flip in (False, True):
                    t_img, t_lab = np.rot90(o_img, k), np.rot90(o_lab, k)
                    if flip:
                        t_img, t_lab = t_img[:, ::-1], t_lab[:, ::-1]
                    if np.array_equal(t_img, img):
                        assert np.array_equal(t_lab, lab)
                        found = True
        assert found


def test_pipeline_is_deterministic():
    def first_batch(seed):
        return next(iter(segmentation_pipeline(synthetic_shapes("train", 16), 8, training=True, seed=seed)))[0].numpy()

    np.testing.assert_array_equal(first_batch(5), first_batch(5))
    assert not np.array_equal(first_batch(5), first_batch(6))


def test_label_check_names_bad_values():
    images = np.zeros((2, 8, 8, 3), "float32")
    labels = np.zeros((2, 8, 8), "int32")
    labels[1, 0, 0] = 7
    labels[0, 0, 0] = 255  # void is fine
    ds = segmentation_pipeline(tf.data.Dataset.from_tensor_slices((images, labels)), 2, num_classes=4)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels: received out-of-range values.*7.*expected class ids in \[0, 3\] or the void label 255"):
        list(ds)


def test_pipeline_refuses_nan_images():
    images = np.zeros((2, 8, 8, 3), "float32")
    images[1, 2, 2, 0] = np.nan
    images[1, 3, 3, 1] = np.inf
    labels = np.zeros((2, 8, 8), "int32")
    ds = segmentation_pipeline(tf.data.Dataset.from_tensor_slices((images, labels)), 1, num_classes=4)
    it = iter(ds)
    next(it)  # the clean image passes
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images: must be finite, received.*\b2\b.*NaN/Inf"):
        next(it)


def test_argument_errors():
    with pytest.raises(ValueError, match="synthetic_shapes: split must be one of 'train', 'validation', 'test', received 'dev'"):
        synthetic_shapes_arrays("dev", 2)
    with pytest.raises(ValueError, match=r"synthetic_shapes: num_classes must be an int in \[2, 7\], received 9\. The classes are the background and the shapes"):
        synthetic_shapes_arrays("train", 2, num_classes=9)
    with pytest.raises(ValueError, match="synthetic_shapes: num_examples must be a positive int, received 0"):
        synthetic_shapes_arrays("train", 0)
    with pytest.raises(ValueError, match="synthetic_shapes: image_size must be an int >= 16, received 8"):
        synthetic_shapes_arrays("train", 2, image_size=8)
    with pytest.raises(ValueError, match="segmentation_pipeline: batch_size must be a positive int, received 0"):
        segmentation_pipeline(synthetic_shapes("train", 2), 0)


def test_oxford_pets_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        ds = oxford_iiit_pet("train", image_size=(40, 48))
        examples = list(ds.as_numpy_iterator())
    assert len(examples) == 3
    for image, label in examples:
        assert image.shape == (40, 48, 3) and image.dtype == np.float32
        assert label.shape == (40, 48)
        assert set(np.unique(label)) <= {0, 1, 255}
        assert 0 <= image.min() and image.max() <= 255


def test_oxford_trimap_mapping():
    from keras_segattn.data.oxford_pets import _trimap_to_labels

    np.testing.assert_array_equal(_trimap_to_labels(tf.constant([1, 2, 3, 0])).numpy(), [1, 0, 255, 255])
