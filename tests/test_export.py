"""Verified export: formats, manifests, the parity gate and its failure modes."""

import hashlib
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_segattn as ksa
from keras_segattn.export import FlexOpsRequired, ParityError, export, inspect_artifact, tflite
from keras_segattn.export import onnx as onnx_export

pytestmark = pytest.mark.export


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return ksa.build_model("fcn8s_tiny")


def _files(directory):
    return sorted(os.listdir(directory))


@pytest.mark.parametrize(
    "fmt,filename", [("savedmodel", "m"), ("onnx", "m.onnx"), ("tflite", "m.tflite")]
)
def test_float_exports_pass_the_gate_and_write_a_manifest(model, tmp_path, fmt, filename):
    path = str(tmp_path / filename)
    manifest = export(model, path, format=fmt, verbose=False)
    assert _files(tmp_path) == sorted([filename, filename + ".json"])
    on_disk = json.load(open(path + ".json"))
    assert on_disk["sha256"] == manifest["sha256"]
    assert on_disk["parity"]["passed"] is True
    assert on_disk["parity"]["source"] == "embedded test data" and on_disk["parity"]["samples"] == 32
    rel = on_disk["parity"]["outputs"]["logits"]["relative_error"]
    assert rel <= 1e-5
    assert on_disk["model"] == {**on_disk["model"], "name": "fcn8s_tiny", "family": "fcn", "task": "semantic_segmentation"}
    assert on_disk["versions"]["tensorflow"] == tf.__version__
    if fmt == "tflite":
        assert manifest["ops"]["flex"] == [] and manifest["ops"]["custom"] == []
        assert "TRANSPOSE_CONV" in manifest["ops"]["builtin"]
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        assert digest == manifest["sha256"]
    if fmt == "onnx":
        assert manifest["opset"] == onnx_export.OPSET
        assert list(manifest["inputs"]) == ["image"]


def test_savedmodel_runs_without_keras_segattn(model, tmp_path):
    path = str(tmp_path / "sm")
    export(model, path, format="savedmodel", verbose=False)
    x = np.random.default_rng(0).uniform(0, 255, (2, 40, 56, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"f = tf.saved_model.load({path!r}).signatures['serving_default']\n"
        f"out = f(image=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))['logits'].numpy()\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, out)\n"
        "assert 'keras_segattn' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def _perturbed_copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights([w * 1.05 for w in model.get_weights()])
    return clone


def test_broken_tflite_conversion_is_caught_and_leaves_nothing(model, tmp_path, monkeypatch):
    real_convert = tflite.convert

    def broken(model, function, specs, **kwargs):
        from keras_segattn.export.signature import serving_function

        bad = _perturbed_copy(model)
        return real_convert(bad, serving_function(bad, specs), specs, **kwargs)

    monkeypatch.setattr(tflite, "convert", broken)
    with pytest.raises(ParityError, match="failed the parity gate; nothing was written"):
        export(model, str(tmp_path / "bad.tflite"), format="tflite", verbose=False)
    assert _files(tmp_path) == []


def test_broken_onnx_conversion_is_caught_and_leaves_nothing(model, tmp_path, monkeypatch):
    real_convert = onnx_export.convert

    def broken(function, specs, path, **kwargs):
        from keras_segattn.export.signature import serving_function

        return real_convert(serving_function(_perturbed_copy(model), specs), specs, path, **kwargs)

    monkeypatch.setattr(onnx_export, "convert", broken)
    with pytest.raises(ParityError, match=r"onnx export of 'fcn8s_tiny' failed the parity gate.*relative_error"):
        export(model, str(tmp_path / "bad.onnx"), format="onnx", verbose=False)
    assert _files(tmp_path) == []


def test_existing_artifact_is_kept_when_the_gate_fails(model, tmp_path, monkeypatch):
    path = str(tmp_path / "m.tflite")
    good = export(model, path, format="tflite", verbose=False)
    monkeypatch.setattr(tflite, "run", lambda content, feed, **k: {"logits": np.zeros((32, 64, 64, 4), "float32")})
    with pytest.raises(ParityError):
        export(model, path, format="tflite", overwrite=True, verbose=False)
    assert json.load(open(path + ".json"))["sha256"] == good["sha256"]
    assert _files(tmp_path) == ["m.tflite", "m.tflite.json"]


def test_bad_arguments(model, tmp_path):
    with pytest.raises(ValueError, match="export: format must be one of savedmodel, tflite, onnx, received 'tflit'"):
        export(model, str(tmp_path / "m"), format="tflit")
    with pytest.raises(ValueError, match="quantize applies to format='tflite' only"):
        export(model, str(tmp_path / "m"), format="onnx", quantize="int8")
    with pytest.raises(ValueError, match="export: quantize must be one of None, 'float16', 'dynamic', 'int8', received 'int4'"):
        export(model, str(tmp_path / "m.tflite"), format="tflite", quantize="int4")
    with pytest.raises(ValueError, match=r"export: path must end in \.tflite for format='tflite', received .*m\.onnx"):
        export(model, str(tmp_path / "m.onnx"), format="tflite")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="is not writable"):
        export(model, str(blocker / "m.tflite"), format="tflite")
    with pytest.raises(TypeError, match="export: model must be a keras.Model"):
        export("fcn8s", str(tmp_path / "m"))


def test_unregistered_model_needs_parity_data(tmp_path):
    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs), name="my_model")
    with pytest.raises(ValueError, match="export: parity_data is needed: model .my_model. has no known task.*task="):
        export(plain, str(tmp_path / "p.tflite"), format="tflite")
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    manifest = export(plain, str(tmp_path / "p.tflite"), format="tflite", parity_data=x, verbose=False)
    assert manifest["parity"]["source"] == "user data" and manifest["parity"]["samples"] == 4
    with pytest.raises(ValueError, match="export: representative_data is needed: model .my_model. has no known task"):
        export(plain, str(tmp_path / "q.tflite"), format="tflite", quantize="int8", parity_data=x)


class _FlexPool(keras.layers.Layer):
    """A layer using tf.nn.max_pool_with_argmax (no TFLite builtin)."""

    def call(self, x):
        pooled, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")
        return pooled + tf.cast(argmax % 2, x.dtype) * 0.0

    def compute_output_shape(self, s):
        return (s[0], s[1] // 2, s[2] // 2, s[3])


def test_flex_ops_are_refused_by_default_and_named(tmp_path):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, _FlexPool()(inputs), name="flexy")
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 3)).astype("float32")
    with pytest.raises(FlexOpsRequired, match="uses MaxPoolWithArgmax, which need the Flex delegate.*allow_flex=True"):
        export(model, str(tmp_path / "f.tflite"), format="tflite", parity_data=x)
    assert _files(tmp_path) == []
    # Opting in converts, but the artifact cannot be verified without a Flex
    # delegate (pip's LiteRT has none), so nothing is written.
    with pytest.raises(ParityError, match=r"could not be run .*Flex ops \['FlexMaxPoolWithArgmax'\]"):
        export(model, str(tmp_path / "f.tflite"), format="tflite", parity_data=x, allow_flex=True)
    assert _files(tmp_path) == []


def test_inspect_reports_ops_and_quantization(model, tmp_path):
    path = str(tmp_path / "m.tflite")
    export(model, path, format="tflite", verbose=False)
    info = inspect_artifact(path)
    assert info["format"] == "tflite" and info["ops"]["flex"] == []
    assert info["inputs"]["image"]["shape"] == [-1, 64, 64, 3]
    assert info["inputs"]["image"]["dtype"] == "float32"
    with pytest.raises(ValueError, match="inspect: path must be an exported artifact, received .*missing.tflite"):
        inspect_artifact(str(tmp_path / "missing.tflite"))


def _switch_case(flipped, examples=32):
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(examples, 16, 16, 4)).astype("float32")
    got = ref + rng.normal(scale=1e-7, size=ref.shape).astype("float32")
    for i in flipped:  # a value moved by one pixel: a local jump, class argmax unchanged elsewhere
        got[i, 3, 4:6, 0] = got[i, 3, 5:3:-1, 0]
    return {"logits": ref}, {"logits": got}


def test_switch_gate_exempts_a_rare_flip_but_not_a_broken_model():
    from keras_segattn.export.parity import compare_float

    reference, actual = _switch_case([7])
    assert not compare_float(reference, actual, 1e-5)["passed"]  # the strict gate sees the jump
    report = compare_float(reference, actual, 1e-5, switches=True)
    assert report["passed"]
    entry = report["outputs"]["logits"]
    assert entry["examples_over_tolerance"] == [7] and entry["inlier_relative_error"] < 1e-5
    # Two flips in 32 examples exceed the allowance (max(1, 2%) = 1).
    assert not compare_float(*_switch_case([3, 7]), 1e-5, switches=True)["passed"]
    # A model that is off everywhere fails whatever the allowance.
    broken = {"logits": reference["logits"] * 1.01}
    assert not compare_float(reference, broken, 1e-5, switches=True)["passed"]


def test_broken_deconvnet_conversion_is_caught(tmp_path, monkeypatch):
    model = ksa.build_model("deconvnet_tiny")
    real_convert = onnx_export.convert

    def broken(function, specs, path, **kwargs):
        from keras_segattn.export.signature import serving_function

        return real_convert(serving_function(_perturbed_copy(model), specs), specs, path, **kwargs)

    monkeypatch.setattr(onnx_export, "convert", broken)
    with pytest.raises(ParityError, match="failed the parity gate"):
        export(model, str(tmp_path / "bad.onnx"), format="onnx", verbose=False)
    assert _files(tmp_path) == []
