"""multiscale_cnn (Farabet et al. 2013): one shared extractor over a 3-level pyramid."""

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.layers import ImagePyramid


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return ksa.build_model("multiscale_cnn_tiny", input_shape=(48, 48, 3))


def test_scales_share_one_set_of_variables(model):
    features = model.get_layer("features")
    assert isinstance(features, keras.Model)
    own = {id(v) for v in features.weights}
    others = [v for v in model.weights if id(v) not in own]
    # The extractor's variables (2 convs) appear once; the rest is the 1x1 classifier.
    assert len(own) == len(features.weights) == 4
    assert sorted(v.path for v in others) == ["classifier/bias", "classifier/kernel"]
    assert model.count_params() == features.count_params() + model.get_layer("classifier").count_params()
    # The classifier reads 3 scales x 16 features: three applications of the one extractor.
    assert model.get_layer("classifier").kernel.shape == (1, 1, 3 * 16, 4)


def test_each_scale_sees_its_resolution_and_the_shared_extractor(model):
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    ups = [model.get_layer(f"upsample_scale{s}") for s in range(3)]
    probe = keras.Model(model.input, [model.get_layer("pyramid").output] + [u.input[0] for u in ups])
    levels, *feature_maps = probe(images)
    # Static shapes: scale s is the image at 1/2**s, its features at a further 1/2 (one pool).
    assert [tuple(t.shape[1:3]) for t in model.get_layer("pyramid").output] == [(48, 48), (24, 24), (12, 12)]
    assert [tuple(u.input[0].shape[1:]) for u in ups] == [(24, 24, 16), (12, 12, 16), (6, 6, 16)]
    assert [u.factor for u in ups] == [2, 4, 8]
    # The levels are the Laplacian pyramid of the standardised image, and each branch's
    # features are the one extractor applied to its level.
    standardised = model.get_layer("preprocess")(images)
    for level, want in zip(levels, ImagePyramid(3)(standardised)):
        np.testing.assert_allclose(np.asarray(level), np.asarray(want), atol=1e-5)
    extractor = model.get_layer("features")
    for level, got in zip(levels, feature_maps):
        np.testing.assert_allclose(np.asarray(got), np.asarray(extractor(level)), atol=1e-5)


def test_changing_the_extractor_changes_every_scale(model):
    images = np.random.default_rng(1).uniform(0, 255, (1, 48, 48, 3)).astype("float32")
    ups = [model.get_layer(f"upsample_scale{s}") for s in range(3)]
    probe = keras.Model(model.input, [u.output for u in ups])
    before = [np.asarray(t) for t in probe(images)]
    kernel = model.get_layer("features").get_layer("conv1").kernel
    saved = kernel.numpy()
    try:
        kernel.assign(saved * 1.5)
        after = [np.asarray(t) for t in probe(images)]
    finally:
        kernel.assign(saved)
    for b, a in zip(before, after):
        assert np.abs(a - b).max() > 1e-3


def test_gaussian_pyramid_and_any_size():
    m = ksa.build_model("multiscale_cnn_tiny", pyramid="gaussian", hidden_units=8, dropout=0.1)
    assert m.predict(np.zeros((1, 37, 50, 3)), verbose=0).shape == (1, 37, 50, 4)
    assert m.get_layer("pyramid").mode == "gaussian" and m.get_layer("hidden").filters == 8


def test_errors_name_argument_received_expected():
    with pytest.raises(ValueError, match=r"multiscale_cnn: pyramid must be one of 'laplacian', 'gaussian', received 'wavelet'\."):
        ksa.build_model("multiscale_cnn", pyramid="wavelet")
    with pytest.raises(ValueError, match=r"multiscale_cnn_tiny: scales must be an int in \[1, 6\], received 0\."):
        ksa.build_model("multiscale_cnn_tiny", scales=0)
    with pytest.raises(ValueError, match=r"multiscale_cnn_tiny: activation must be one of 'tanh', 'relu', received 'gelu'\."):
        ksa.build_model("multiscale_cnn_tiny", activation="gelu")
    with pytest.raises(ValueError, match=r"multiscale_cnn_tiny: widths must be a tuple of ints >= 1, received \(\)\."):
        ksa.build_model("multiscale_cnn_tiny", widths=())
