"""SceneParse150 (ADE20K) pipeline, offline: tfds.testing.mock_data fakes the dataset from its feature spec."""

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.data import scene_parse150, scene_parsing_pipeline
from keras_segattn.data.scene_parsing import annotation_to_labels


def _raw(split, n):
    import tensorflow_datasets as tfds

    return list(tfds.load("scene_parse150", split=split).take(n).as_numpy_iterator())


def test_pairs_are_resized_and_labels_remapped_like_a_numpy_reference():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        raw = _raw("train", 3)
        pairs = list(scene_parse150("train", image_size=(40, 48), num_classes=150).as_numpy_iterator())
        few = list(scene_parse150("train", image_size=(40, 48), num_classes=10).as_numpy_iterator())
    assert len(pairs) == len(raw) == 3
    for example, (image, label), (_, label10) in zip(raw, pairs, few):
        assert image.shape == (40, 48, 3) and image.dtype == np.float32
        assert label.shape == (40, 48) and label.dtype == np.int32
        assert 0.0 <= image.min() and image.max() <= 255.0
        # Image: a bilinear resize of the raw pixels (the mock's are random, so the values vary).
        want = tf.image.resize(example["image"].astype("float32"), (40, 48), "bilinear").numpy()
        np.testing.assert_allclose(image, np.clip(want, 0, 255), atol=1e-3)
        # Labels: the nearest-neighbour resized annotation, c -> c - 1, 0 and c > K -> void.
        values = tf.image.resize(example["annotation"][..., :1], (40, 48), "nearest").numpy()[..., 0].astype(int)
        np.testing.assert_array_equal(label, np.where((values >= 1) & (values <= 150), values - 1, 255))
        np.testing.assert_array_equal(label10, np.where((values >= 1) & (values <= 10), values - 1, 255))
        # Not vacuous: the mock's annotations hold unlabelled, kept and dropped values.
        assert (label == 255).any() and (label < 150).any()
        assert set(np.unique(label10)) <= set(range(10)) | {255}


def test_mapping_of_every_annotation_value():
    values = np.arange(256)
    labels = annotation_to_labels(values).numpy()
    assert labels[0] == 255  # "other / unlabelled"
    np.testing.assert_array_equal(labels[1:151], np.arange(150))
    assert (labels[151:] == 255).all()
    np.testing.assert_array_equal(annotation_to_labels(values, num_classes=3).numpy()[:6], [255, 0, 1, 2, 255, 255])


def test_batches_feed_a_segmentation_model():
    import tensorflow_datasets as tfds

    import keras_segattn as ksa
    from keras_segattn.training import segmentation_loss

    with tfds.testing.mock_data(num_examples=5):
        train = scene_parsing_pipeline("train", 2, image_size=32, num_classes=150)
        batches = list(train.as_numpy_iterator())
        test = list(scene_parsing_pipeline("test", 2, image_size=(24, 40), num_classes=20).as_numpy_iterator())
    # Training drops the last partial batch; evaluation keeps it.
    assert [x.shape for x, _ in batches] == [(2, 32, 32, 3)] * 2
    assert [y.shape for _, y in test] == [(2, 24, 40), (2, 24, 40), (1, 24, 40)]
    x, y = batches[0]
    assert x.dtype == np.float32 and y.dtype == np.int32
    model = ksa.build_model("multiscale_cnn_tiny", num_classes=150)
    logits = model(x, training=False)
    assert logits.shape == (2, 32, 32, 150)
    assert np.isfinite(float(segmentation_loss()(y, logits)))


def test_training_recipes_know_scene_parse150():
    import tensorflow_datasets as tfds

    from keras_segattn.training import segmentation_data

    with tfds.testing.mock_data(num_examples=4):
        pairs = list(segmentation_data("scene_parse150", split="validation", num_examples=2, image_size=24,
                                       num_classes=20).as_numpy_iterator())
    assert [(x.shape, y.shape) for x, y in pairs] == [((24, 24, 3), (24, 24))] * 2
    assert set(np.unique(np.concatenate([y.ravel() for _, y in pairs]))) <= set(range(20)) | {255}
    with pytest.raises(ValueError, match="data must be 'synthetic', 'oxford_iiit_pet' or 'scene_parse150', received 'ade'"):
        segmentation_data("ade")


def test_errors_name_argument_received_expected():
    with pytest.raises(ValueError, match=r"scene_parse150: num_classes must be an int in \[1, 150\], received 151\."):
        scene_parse150("train", num_classes=151)
    with pytest.raises(ValueError, match=r"scene_parse150: split must be 'train' or 'test' .*received 'validation'\."):
        scene_parse150("validation")
    with pytest.raises(ValueError, match=r"scene_parsing_pipeline: image_size must be an int or a \(height, width\) pair"):
        scene_parsing_pipeline("train", 2, image_size=(1, 2, 3))
    with pytest.raises(ValueError, match=r"scene_parsing_pipeline: batch_size must be a positive int, received 0\."):
        scene_parsing_pipeline("train", 0)
