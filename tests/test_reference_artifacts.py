"""The committed reference artifacts still load and reproduce their manifests' parity.

Regenerate them with tools/make_reference_artifacts.py.
"""

import glob
import json
import os

import keras
import pytest

from keras_segattn.export import verify_artifact

pytestmark = pytest.mark.export
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFESTS = sorted(
    glob.glob(os.path.join(ROOT, "saved_models", "*.json")) + glob.glob(os.path.join(ROOT, "tflite", "*.json"))
)
MANIFESTS = [m for m in MANIFESTS if not m.endswith("_demo_summary.json")]


def test_reference_artifacts_are_committed():
    formats = {(json.load(open(m))["format"], json.load(open(m))["quantize"]) for m in MANIFESTS}
    assert {("savedmodel", None), ("onnx", None), ("tflite", None), ("tflite", "int8")} <= formats


@pytest.mark.parametrize("manifest", MANIFESTS, ids=[os.path.basename(m) for m in MANIFESTS])
def test_reference_artifact_reproduces_its_parity(manifest):
    recorded = json.load(open(manifest))
    artifact = manifest[: -len(".json")]
    model = keras.saving.load_model(os.path.join(ROOT, "saved_models", f"{recorded['model']['name']}.keras"))
    report = verify_artifact(model, artifact)
    assert report["sha256_matches"], f"{artifact} differs from its manifest"
    assert report["passed"], report
    if recorded["parity"]["kind"] == "task":
        # Same artifact, same data: the task metric is reproduced exactly.
        assert report["artifact"] == pytest.approx(recorded["parity"]["artifact"], abs=1e-6)
        assert report["argmax_agreement"] == pytest.approx(recorded["parity"]["argmax_agreement"], abs=1e-6)
