"""st_cnn / digits_cnn: structure, identity start, transformer outputs, errors, export."""

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.layers import SpatialTransformer
from keras_segattn.models.spatial_transformer_net import with_transformer_outputs


def _digits(n=4, size=42):
    from keras_segattn.data import distorted_digits_arrays

    images, labels = distorted_digits_arrays("validation", n, family="RTS", image_size=size)
    return images.astype("float32"), labels


def test_registered_with_family_and_task():
    names = ksa.list_models(family="spatial_transformer")
    assert names == ["digits_cnn", "digits_cnn_tiny", "st_cnn", "st_cnn_tiny"]
    assert set(ksa.list_models(task="image_classification")) >= set(names)


@pytest.mark.parametrize("name", ["st_cnn", "st_cnn_tiny"])
def test_untrained_st_cnn_classifies_the_untransformed_image(name):
    """Identity start: the transformer's output is exactly the rescaled input, so
    ST-CNN's logits equal those of its own classifier applied to the input."""
    model = ksa.build_model(name)
    views = with_transformer_outputs(model)
    images, _ = _digits()
    out = views.predict(images, verbose=0)
    np.testing.assert_array_equal(out["transformed"], model.get_layer("rescale")(images).numpy())
    np.testing.assert_array_equal(out["theta"], np.tile([1, 0, 0, 0, 1, 0], (4, 1)).astype("float32"))
    np.testing.assert_array_equal(out["logits"], model.predict(images, verbose=0))
    assert out["grid"].shape == (4, 42, 42, 2)


def test_st_cnn_and_cnn_share_the_classifier():
    st = ksa.build_model("st_cnn_tiny")
    cnn = ksa.build_model("digits_cnn_tiny")
    classifier_layers = [layer.name for layer in cnn.layers if layer.name not in ("image", "rescale")]
    for layer_name in classifier_layers:
        a, b = st.get_layer(layer_name), cnn.get_layer(layer_name)
        assert a.get_config() | {"name": ""} == b.get_config() | {"name": ""}
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
    extra = st.count_params() - cnn.count_params()
    transformer = st.get_layer("spatial_transformer")
    assert extra == transformer.count_params() > 0


@pytest.mark.parametrize("transform,params", [("projective", 8), ("tps", 32)])
def test_other_transforms_and_output_size(transform, params):
    model = ksa.build_model("st_cnn_tiny", transform=transform, output_size=(28, 28))
    views = with_transformer_outputs(model)
    images, _ = _digits(2)
    out = views.predict(images, verbose=0)
    assert out["theta"].shape == (2, params)
    assert out["transformed"].shape == (2, 28, 28, 1)
    assert out["logits"].shape == (2, 10)


def test_views_model_survives_save_and_load(tmp_path):
    model = ksa.build_model("st_cnn_tiny")
    kernel = model.get_layer("spatial_transformer").theta_layer.kernel
    kernel.assign(np.random.default_rng(0).normal(0, 0.01, kernel.shape))
    path = str(tmp_path / "st.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    images, _ = _digits(3)
    a = with_transformer_outputs(model).predict(images, verbose=0)
    b = with_transformer_outputs(loaded).predict(images, verbose=0)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert np.abs(a["theta"] - [1, 0, 0, 0, 1, 0]).max() > 1e-3


def test_errors():
    with pytest.raises(ValueError, match="st_cnn_tiny: transform must be one of 'affine', 'projective', 'tps', received 'rigid'"):
        ksa.build_model("st_cnn_tiny", transform="rigid")
    with pytest.raises(ValueError, match=r"st_cnn_tiny: input_shape must be fully known .*received \(None, None, 1\)"):
        ksa.build_model("st_cnn_tiny", input_shape=(None, None, 1))
    with pytest.raises(ValueError, match=r"digits_cnn: filters and kernels must have the same length, received filters=\(8, 8\) and kernels=\(3,\)"):
        ksa.build_model("digits_cnn", filters=(8, 8), kernels=(3,))
    with pytest.raises(ValueError, match=r"SpatialTransformer: output_size must be a tuple of 2 ints >= 1, received \(0, 28\)"):
        ksa.build_model("st_cnn_tiny", output_size=(0, 28))
    with pytest.raises(ValueError, match="digits_cnn_tiny: num_classes must be a positive int, received 0"):
        ksa.build_model("digits_cnn_tiny", num_classes=0)
    with pytest.raises(ValueError, match="with_transformer_outputs: model 'digits_cnn_tiny' has no SpatialTransformer layer"):
        with_transformer_outputs(ksa.build_model("digits_cnn_tiny"))


def test_transformer_layer_is_a_spatial_transformer():
    layer = ksa.build_model("st_cnn").get_layer("spatial_transformer")
    assert isinstance(layer, SpatialTransformer)
    assert layer.transform == "affine" and layer.output_size == (42, 42)
    assert [sub.name for sub in layer.localization.layers] == [
        "loc_conv1", "loc_pool1", "loc_conv2", "loc_pool2", "loc_flatten", "loc_fc"
    ]


def test_initial_scale_zooms_the_starting_grid_and_is_validated():
    model = ksa.build_model("st_cnn_tiny", input_shape=(60, 60, 1), output_size=(30, 30), initial_scale=0.5)
    out = with_transformer_outputs(model).predict(np.zeros((1, 60, 60, 1), "float32"), verbose=0)
    np.testing.assert_array_equal(out["theta"], [[0.5, 0, 0, 0, 0.5, 0]])
    assert out["transformed"].shape == (1, 30, 30, 1)
    np.testing.assert_allclose([out["grid"].min(), out["grid"].max()], [-0.5, 0.5], atol=1e-6)
    tps = ksa.build_model("st_cnn_tiny", transform="tps", initial_scale=0.5).get_layer("spatial_transformer")
    np.testing.assert_allclose(tps.theta_layer.bias.numpy(), 0.5 * tps.identity_theta())
    with pytest.raises(ValueError, match="st_cnn_tiny: initial_scale must be a finite number > 0, received 0"):
        ksa.build_model("st_cnn_tiny", initial_scale=0)
