"""patch_classifier: the sliding-window path (every patch) and the dense path (dilated, same weights) agree."""

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.models.patch_classifier import (
    patch_network,
    sliding_window_predict,
    valid_patch_sizes,
)


def _random_weights(model, seed):
    # Non-zero biases and spread-out kernels: every layer's contribution shows in the logits.
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return _random_weights(ksa.build_model("patch_classifier_tiny"), 0)


@pytest.mark.parametrize("shape", [(1, 9, 13), (2, 20, 20), (1, 31, 24)])
def test_dense_and_sliding_window_give_the_same_label_map(tiny, shape):
    images = np.random.default_rng(sum(shape)).uniform(0, 255, shape + (3,)).astype("float32")
    dense = np.asarray(tiny(images, training=False))
    sliding = sliding_window_predict(tiny, images, batch_size=97)  # batches that do not divide the patches
    assert dense.shape == sliding.shape == shape + (4,)
    scale = np.abs(dense).max()
    np.testing.assert_allclose(dense, sliding, atol=1e-5 * scale, rtol=0)
    np.testing.assert_array_equal(dense.argmax(-1), sliding.argmax(-1))
    # Not vacuous: the logits vary from pixel to pixel and between classes, and
    # the sliding window off by one pixel no longer matches.
    assert dense.std(axis=(1, 2)).min() > 1e-3 * scale
    shifted = sliding_window_predict(tiny, np.roll(images, 1, axis=2))
    assert np.abs(shifted - dense).max() > 1e-2 * scale


def test_paper_configuration_agrees_too():
    # Three stages (dilations 1, 2, 4 and 8 for fc), kernel 5, a 2-conv stage, an odd patch-size remainder.
    model = ksa.build_model("patch_classifier", num_classes=3, patch_size=42, widths=(4, 6, 8), depths=(1, 2, 1),
                            kernel_size=3, fc_units=8, dropout=0.5)
    _random_weights(model, 1)
    images = np.random.default_rng(1).uniform(0, 255, (1, 11, 14, 3)).astype("float32")
    dense = np.asarray(model(images, training=False))
    np.testing.assert_allclose(dense, sliding_window_predict(model, images), atol=1e-5 * np.abs(dense).max())


def test_patch_network_has_the_dense_models_weights(tiny):
    net = patch_network(tiny)
    assert net.input.shape == (None, 18, 18, 3) and net.output.shape == (None, 4)
    dense_weights = {w.path: w.numpy() for w in tiny.weights}
    assert len(net.weights) == len(tiny.weights)
    for w in net.weights:
        np.testing.assert_array_equal(w.numpy(), dense_weights[w.path])
    # The centre pixel of a patch is at (P // 2, P // 2): the dense output there is the patch's class.
    images = np.random.default_rng(3).uniform(0, 255, (1, 18, 18, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(net(images))[0], np.asarray(tiny(images))[0, 9, 9], atol=1e-5 * np.abs(tiny(images)).max()
    )


def test_patch_network_works_on_a_reloaded_model(tiny, tmp_path):
    tiny.save(tmp_path / "p.keras")
    loaded = keras.saving.load_model(tmp_path / "p.keras")
    images = np.random.default_rng(4).uniform(0, 255, (1, 6, 7, 3)).astype("float32")
    np.testing.assert_allclose(sliding_window_predict(loaded, images), np.asarray(tiny(images)), atol=1e-4)


def test_valid_patch_sizes():
    assert valid_patch_sizes((1, 1), 3, limit=30) == [10, 14, 18, 22, 26, 30]
    assert 46 in valid_patch_sizes((1, 1, 1), 3)


def test_errors_name_argument_received_expected(tiny):
    with pytest.raises(ValueError, match=r"patch_classifier_tiny: patch_size must be a size the 2 stages "
                       r"\(valid 3x3 convolutions, 2x2 pools\) reduce exactly, e.g\. 14 or 18, received 17\."):
        ksa.build_model("patch_classifier_tiny", patch_size=17)
    with pytest.raises(ValueError, match=r"patch_classifier: depths must be a tuple of 2 ints >= 1, received \(1, 1, 1\)\."):
        ksa.build_model("patch_classifier", widths=(8, 8), depths=(1, 1, 1))
    with pytest.raises(ValueError, match=r"patch_classifier: dropout must be a finite number >= 0 and <= 1, received 1\.5\."):
        ksa.build_model("patch_classifier", dropout=1.5)
    with pytest.raises(ValueError, match=r"sliding_window_predict: images must be raw RGB of shape \(batch, H, W, 3\), received shape \(8, 8, 3\)\."):
        sliding_window_predict(tiny, np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match=r"patch_network: model must be a patch_classifier \(a ZeroPadding2D layer named 'pad'\), received 'fcn8s_tiny'\."):
        patch_network(ksa.build_model("fcn8s_tiny"))
