"""Bad input to the segmentation models gives errors that say what was received and expected."""

import numpy as np
import pytest

import keras_segattn as ksa


@pytest.mark.parametrize("name", ["fcn8s_tiny", "deconvnet_tiny"])
def test_num_classes_below_one(name):
    with pytest.raises(ValueError, match=rf"{name}: num_classes must be a positive int, received 0\."):
        ksa.build_model(name, num_classes=0)


@pytest.mark.parametrize("name", ["fcn8s_tiny", "deconvnet_tiny"])
def test_input_shape_wrong_rank(name):
    with pytest.raises(ValueError, match=rf"{name}: input_shape must be \(height, width, channels\) without the batch dimension, received \(64, 64\)\."):
        ksa.build_model(name, input_shape=(64, 64))
    with pytest.raises(ValueError, match=rf"{name}: input_shape must be \(height, width, 3\) \(raw RGB in \[0, 255\]\), received \(64, 64, 1\)\."):
        ksa.build_model(name, input_shape=(64, 64, 1))


def test_deconvnet_non_divisible_size_suggests_valid_sizes():
    with pytest.raises(ValueError, match=r"deconvnet: input_shape height must be a multiple of 32 \(5 poolings\) and at least 224 .*, received 230\. Nearest valid sizes: 224 or 256\."):
        ksa.build_model("deconvnet", input_shape=(230, 224, 3))
    with pytest.raises(ValueError, match=r"deconvnet_tiny: input_shape width must be a multiple of 16 \(4 poolings\) and at least 16 .*, received 72\. Nearest valid sizes: 64 or 80"):
        ksa.build_model("deconvnet_tiny", input_shape=(64, 72, 3))
    with pytest.raises(ValueError, match=r"at least 64 \(fc6 kernel 4 .*Nearest valid sizes: 64\.$"):
        ksa.build_model("deconvnet_tiny", input_shape=(32, 64, 3), fc_kernel=4)


def test_fcn_accepts_any_size():
    model = ksa.build_model("fcn8s_tiny")
    for h, w in [(33, 47), (64, 64), (17, 100)]:
        assert model.predict(np.zeros((1, h, w, 3)), verbose=0).shape == (1, h, w, 4)


def test_wrong_rank_at_call_time():
    model = ksa.build_model("fcn8s_tiny")
    with pytest.raises(ValueError, match=r"fcn8s_tiny: input 'image' must be of shape \(batch, any, any, 3\) .*received shape \(64, 64, 3\)\."):
        model(np.zeros((64, 64, 3), "float32"))
    # Keras' functional models check the rank only: one channel broadcast silently, an empty image hit a TF op.
    with pytest.raises(ValueError, match=r"input 'image' must be of shape \(batch, any, any, 3\) .*received shape \(1, 32, 32, 1\)\."):
        model.predict(np.zeros((1, 32, 32, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"with no empty dimension, received shape \(1, 0, 0, 3\)\."):
        model(np.zeros((1, 0, 0, 3), "float32"))


def test_unknown_backbone():
    with pytest.raises(ValueError, match=r"fcn8s_tiny: backbone must be one of inception_resnet_v2, .*vgg16, vgg16_tiny, received 'resnet50'\."):
        ksa.build_model("fcn8s_tiny", backbone="resnet50")


def test_fcn_needs_three_stages():
    with pytest.raises(ValueError, match=r"fcn8s_tiny: widths must be at least 3 VGG stages .*, received \(8, 8\)\."):
        ksa.build_model("fcn8s_tiny", widths=(8, 8), depths=(1, 1))


def test_labels_outside_range_fail_in_training():
    import tensorflow as tf

    from keras_segattn.data import segmentation_pipeline
    from keras_segattn.training import compile_segmentation

    model = compile_segmentation(ksa.build_model("fcn8s_tiny"), 4)
    x = np.zeros((2, 32, 32, 3), "float32")
    y = np.full((2, 32, 32), 9, "int32")
    ds = segmentation_pipeline(tf.data.Dataset.from_tensor_slices((x, y)), 2, num_classes=4)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"out-of-range values.*9.*expected class ids in \[0, 3\]"):
        model.fit(ds, verbose=0)
