"""register_model / build_model / list_models."""

import pytest

import keras_segattn as ksa
from keras_segattn.registry import get_spec, register_model


def test_list_models_filters():
    names = ksa.list_models()
    assert {"fcn8s", "fcn16s", "fcn32s", "deconvnet"} <= set(names)
    assert names == sorted(names)
    assert ksa.list_models("*_tiny") == [n for n in names if n.endswith("_tiny")]
    assert set(ksa.list_models(family="fcn")) == {"fcn8s", "fcn16s", "fcn32s", "fcn8s_tiny", "fcn16s_tiny", "fcn32s_tiny"}
    assert "deconvnet" in ksa.list_models(task="semantic_segmentation")
    assert ksa.list_models(task="no_such_task") == []


def test_every_paper_model_has_a_tiny_variant():
    names = set(ksa.list_models())
    for name in names:
        if not get_spec(name).tiny:
            assert f"{name}_tiny" in names, f"{name} has no tiny variant"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model name 'fcn8'\. Did you mean 'fcn8s'.*Registered models: .*deconvnet"):
        ksa.build_model("fcn8")
    with pytest.raises(TypeError, match="model name must be a string"):
        ksa.build_model(8)


def test_unknown_argument_lists_accepted():
    with pytest.raises(ValueError, match=r"build_model\('fcn8s_tiny'\): unknown argument\(s\) \['num_class'\]\. Accepted: .*num_classes"):
        ksa.build_model("fcn8s_tiny", num_class=3)


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="'fcn8s' is already registered"):
        register_model("fcn8s", family="fcn", task="semantic_segmentation")(lambda: None)


def test_overrides_and_name():
    model = ksa.build_model("fcn8s_tiny", num_classes=7)
    assert model.name == "fcn8s_tiny"
    assert model.output.shape[-1] == 7
