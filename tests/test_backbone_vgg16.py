"""VGG16 backbone: endpoints, BatchNorm/argmax variants, loading Keras Applications weights."""

import keras
import numpy as np
import pytest

from keras_segattn.backbones import vgg16


def test_endpoints_by_stride():
    model = vgg16((64, 96, 3), widths=(4, 4, 8, 8, 8))
    out = model.output
    for i in range(1, 6):
        assert out[f"pool{i}"].shape[1:3] == (64 // 2**i, 96 // 2**i)
        assert out[f"conv{i}"].shape[1:3] == (64 // 2 ** (i - 1), 96 // 2 ** (i - 1))
    assert "switches1" not in out


def test_batchnorm_argmax_variant():
    model = vgg16((32, 32, 3), widths=(4, 4, 4), depths=(1, 1, 1), batch_norm=True, pooling="argmax")
    assert model.output["switches3"].dtype == "int32"
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_loads_keras_applications_weights_with_folded_preprocessing(tmp_path):
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg16_notop.weights.h5")
    source.save_weights(path)
    ours = vgg16((32, 32, 3), weights=path)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    # The reference: Keras Applications' own Caffe preprocessing (RGB->BGR, mean subtraction).
    expected = source(keras.applications.vgg16.preprocess_input(x.copy())).numpy()
    got = ours(x)["pool5"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_weight_errors(tmp_path):
    with pytest.raises(ValueError, match="backbone_weights must be None, 'imagenet' or the path of an existing"):
        vgg16((32, 32, 3), weights="/no/such/file.h5")
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg.weights.h5")
    source.save_weights(path)
    with pytest.raises(ValueError, match="ImageNet weights need the paper widths"):
        vgg16((32, 32, 3), widths=(8, 8, 8, 8, 8), weights=path)


def test_arch_errors():
    with pytest.raises(ValueError, match=r"widths and depths must be non-empty and of equal length, received widths=\(4, 4\) and depths=\(1,\)"):
        vgg16((32, 32, 3), widths=(4, 4), depths=(1,))
    with pytest.raises(ValueError, match=r"vgg16: widths must be a tuple of ints >= 1, received \(4, 0\)"):
        vgg16((32, 32, 3), widths=(4, 0), depths=(1, 1))
    with pytest.raises(ValueError, match="vgg16: pooling must be one of 'max', 'argmax', received 'avg'"):
        vgg16((32, 32, 3), pooling="avg")
