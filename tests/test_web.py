"""The exported models in a real browser: headless Chromium runs web/ with LiteRT.js and ONNX Runtime Web.

The page's runtimes come from web/package-lock.json (``make test`` runs ``npm ci``) and the
browser is Debian's chromium + chromium-driver (``make test`` installs them where it can).
Nothing here skips: without them the fixtures fail with the command to run.
"""

from __future__ import annotations

import base64
import json
import os
import time

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.export import export, read_manifest, verify_artifact
from keras_segattn.export import onnx as onnx_backend
from keras_segattn.export import tflite as tflite_backend
from keras_segattn.tasks import get_task
from keras_segattn.web import WEB_DIR, check_web_dir, export_for_web, headless_chromium, serve

pytestmark = pytest.mark.xdist_group("web")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECONVNET = os.path.join(ROOT, "saved_models", "deconvnet_tiny.keras")  # trained by make demo, committed


# ----------------------------------------------------------- fixed batch export
@pytest.fixture(scope="module")
def deconvnet():
    return keras.saving.load_model(DECONVNET)


def test_fixed_batch_export_records_it_and_gates_at_that_batch(deconvnet, tmp_path):
    path = str(tmp_path / "d.onnx")
    manifest = export(deconvnet, path, format="onnx", batch_size=2, parity_samples=5, verbose=False)
    assert manifest["batch_size"] == 2 and manifest["inputs"]["image"]["shape"] == [2, 64, 64, 3]
    assert manifest["parity"]["samples"] == 4 and manifest["parity"]["batch_size"] == 2  # 5 -> two batches of 2
    assert manifest["model"]["class_names"] == ["background", "circle", "rectangle", "triangle"]
    assert verify_artifact(deconvnet, path)["passed"]
    # The dynamic-batch export differs exactly there.
    dynamic = export(deconvnet, str(tmp_path / "e.onnx"), format="onnx", parity_samples=4, verbose=False)
    assert dynamic["batch_size"] is None and dynamic["inputs"]["image"]["shape"] == [-1, 64, 64, 3]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "tflite", "batch_size": 0}, "batch_size must be"),
        ({"format": "onnx", "batch_size": 1.5}, "batch_size must be"),
        ({"format": "savedmodel", "batch_size": 1}, "a SavedModel serves any batch"),
        ({"format": "onnx", "batch_size": 8, "parity_samples": 4}, "needs at least 8 parity examples"),
    ],
)
def test_fixed_batch_errors_name_the_argument(deconvnet, tmp_path, kwargs, message):
    suffix = {"tflite": ".tflite", "onnx": ".onnx", "savedmodel": ""}[kwargs["format"]]
    path = tmp_path / f"x{suffix}"
    with pytest.raises(ValueError, match=message):
        export(deconvnet, str(path), verbose=False, **kwargs)
    assert not os.path.exists(path) and not os.path.exists(f"{path}.json")


def test_an_artifact_its_runtime_cannot_load_is_a_parity_failure(deconvnet, tmp_path, monkeypatch):
    """Measured: handwriting_prediction_tiny's ONNX file with a fixed batch fails onnxruntime's type
    inference of its while loop (tools/web_matrix.py); such a file must not be written, with the reason."""
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail

    from keras_segattn.export import ParityError

    def fail(*args, **kwargs):
        raise Fail("[ONNXRuntimeError] : 1 : FAIL : Load model failed: TypeInferenceError")

    monkeypatch.setattr(onnx_backend, "run", fail)
    path = tmp_path / "d.onnx"
    with pytest.raises(ParityError, match="could not be run in onnxruntime to check parity, so nothing was written"):
        export(deconvnet, str(path), format="onnx", batch_size=1, parity_samples=2, verbose=False)
    assert sorted(os.listdir(tmp_path)) == []


def test_export_for_web_refuses_models_without_a_page(tmp_path):
    with pytest.raises(ValueError, match="has no page"):
        export_for_web([ksa.build_model("digits_cnn_tiny")], str(tmp_path))  # a classifier without a transformer
    with pytest.raises(ValueError, match="no such file"):
        export_for_web(["nope.keras"], str(tmp_path))
    with pytest.raises(ValueError, match="web_dir must be the repository's web/ folder"):
        check_web_dir(str(tmp_path))


# ------------------------------------------------------------------ the browser
@pytest.fixture(scope="module")
def web_models(tmp_path_factory, deconvnet):
    """deconvnet_tiny (float32, int8 TFLite; ONNX) and a briefly trained st_cnn_tiny exported for the pages."""
    out = tmp_path_factory.mktemp("web_models")
    keras.utils.set_random_seed(0)
    stn = ksa.build_model("st_cnn_tiny")
    get_task("image_classification").quick_fit(stn)
    catalog = export_for_web([deconvnet, stn], str(out), samples=3, verbose=False)
    return str(out), {m["name"]: m for m in catalog["models"]}, {"deconvnet_tiny": deconvnet, "st_cnn_tiny": stn}


@pytest.fixture(scope="module")
def browser(web_models):
    try:
        check_web_dir()
        driver = headless_chromium()
    except (ValueError, RuntimeError) as error:
        pytest.fail(str(error), pytrace=False)  # never a skip: CI must run these
    server = serve(models_dir=web_models[0], port=0, background=True)
    driver.url_base = server.url
    try:
        yield driver
    finally:
        driver.quit()
        server.shutdown()


def _open(driver, page):
    driver.get(driver.url_base + page)
    return _wait(driver)


def _wait(driver, states=("done", "error"), timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body.dataset.state")
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"the page stayed in state {state!r}: {driver.find_element('id', 'status').text!r}")


def _in_browser(driver, artifact, inputs):
    """Run ``artifact`` in the page's runtime on each input (1, ...) float32; outputs by name."""
    encoded = [base64.b64encode(np.ascontiguousarray(x, np.float32).tobytes()).decode() for x in inputs]
    reply = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.ksaTest.run('models/', arguments[0], arguments[1]).then(done, (e) => done({error: String(e)}));",
        artifact, encoded,
    )
    assert "error" not in reply, reply.get("error")
    return [
        {k: np.frombuffer(base64.b64decode(v["data"]), np.float32).reshape(v["shape"]) for k, v in r.items()}
        for r in reply["results"]
    ]


def _in_python(folder, artifact, inputs):
    path = os.path.join(folder, artifact["file"])
    feed = {"image": np.concatenate(inputs)}
    if artifact["format"] == "tflite":
        with open(path, "rb") as fh:
            return tflite_backend.run(fh.read(), feed, batch_size=1)
    return onnx_backend.run(path, feed, batch_size=1)


def _class_axis_agreement(a, b):
    return float(np.mean(np.argmax(a, axis=-1) == np.argmax(b, axis=-1)))


@pytest.mark.parametrize(
    "model, fmt, quantize",
    [("deconvnet_tiny", "tflite", None), ("deconvnet_tiny", "tflite", "int8"), ("deconvnet_tiny", "onnx", None),
     ("st_cnn_tiny", "tflite", None), ("st_cnn_tiny", "onnx", None)],
)
def test_artifacts_in_the_browser_match_the_python_runtimes(browser, web_models, model, fmt, quantize):
    """Float files: max abs error <= 1e-4 of the output scale and argmax agreement >= 0.999 against
    Python LiteRT / onnxruntime on the same file; int8: argmax agreement >= 0.99."""
    folder, entries, models = web_models
    (artifact,) = [a for a in entries[model]["artifacts"] if a["format"] == fmt and a["quantize"] == quantize]
    if browser.execute_script("return typeof window.ksaTest") != "object":
        assert _open(browser, "index.html") == "done"
    (images,), _ = get_task(entries[model]["task"]).data(models[model], "test", 4, seed=3)
    inputs = [images[i : i + 1] for i in range(len(images))]
    web = _in_browser(browser, artifact, inputs)
    python = _in_python(folder, artifact, inputs)
    assert set(web[0]) == set(python) and "logits" in python
    for name, expected in python.items():
        actual = np.concatenate([w[name] for w in web])
        assert actual.shape == expected.shape, name
        if name == "logits":  # per pixel (segmentation) or per image (the digit)
            agreement = _class_axis_agreement(actual, expected)
            assert agreement >= (0.99 if quantize == "int8" else 0.999), agreement
        if quantize is None:
            scale = max(float(np.max(np.abs(expected))), 1e-6)
            assert float(np.max(np.abs(actual - expected))) / scale <= 1e-4, name


def test_a_dynamic_batch_file_gets_a_clear_message_in_the_page(browser, web_models, deconvnet):
    folder = web_models[0]
    dynamic = os.path.join(folder, "dynamic.tflite")
    if not os.path.exists(dynamic):
        export(deconvnet, dynamic, format="tflite", parity_samples=4, verbose=False)
    if browser.execute_script("return typeof window.ksaTest") != "object":
        assert _open(browser, "index.html") == "done"
    artifact = {"file": "dynamic.tflite", "manifest": "dynamic.tflite.json", "runtime": "litert", "format": "tflite"}
    reply = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.ksaTest.run('models/', arguments[0], []).then(() => done('ran'), (e) => done(String(e)));",
        artifact,
    )
    assert "dynamic input shape [-1,64,64,3]; export it with batch_size=1" in reply


def _legend(driver):
    return [item.text for item in driver.find_elements("css selector", "#legend li")]


def test_segmentation_page_decodes_a_sample_and_shows_the_classes(browser, web_models, tmp_path):
    folder, entries, _ = web_models
    entry = entries["deconvnet_tiny"]
    assert _open(browser, "index.html") == "done", browser.find_element("id", "status").text
    # The page's picture of sample 0, computed here from the same PNG by Python LiteRT.
    from PIL import Image

    image = np.asarray(Image.open(os.path.join(folder, entry["samples"][0])), np.float32)[None]
    float_file = next(a for a in entry["artifacts"] if a["format"] == "tflite" and a["quantize"] is None)
    logits = _in_python(folder, float_file, [image])["logits"]
    shares = np.bincount(np.argmax(logits, -1).ravel(), minlength=logits.shape[-1]) / logits[..., 0].size
    expected = [f"{n}: {100 * s:.1f}% of pixels" for n, s in zip(entry["class_names"], shares)]
    assert _legend(browser) == expected
    assert browser.find_element("id", "runtime").text == "LiteRT.js (WebAssembly, XNNPACK)"
    assert "deconvnet_tiny.tflite (2.90 MB, input float32 [1,64,64,3])" in browser.find_element("id", "model-file").text
    assert browser.find_element("id", "latency").text.endswith(" ms")
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert os.path.getsize(tmp_path / "page.png") > 10_000


def test_segmentation_page_explains_bad_files_and_resizes_others(browser, web_models, tmp_path):
    from PIL import Image

    assert _open(browser, "index.html") == "done"
    upload = browser.find_element("id", "upload")
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    upload.send_keys(str(text))
    assert _wait(browser, ("error",)) == "error"
    assert browser.find_element("id", "status").text == (
        '"notes.txt" is not an image (text/plain); choose a PNG, JPEG, GIF, BMP or WebP file'
    )
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    browser.execute_script("document.body.dataset.state = 'ready'")
    upload.send_keys(str(broken))
    assert _wait(browser, ("error",)) == "error"
    assert "could not be decoded as an image" in browser.find_element("id", "status").text
    big = tmp_path / "wide.png"
    Image.fromarray(np.full((80, 100, 3), 200, np.uint8)).save(big)
    browser.execute_script("document.body.dataset.state = 'ready'")
    upload.send_keys(str(big))
    assert _wait(browser) == "done"
    assert browser.find_element("id", "input-note").text == (
        "wide.png: resized from 100x80 to 64x64, the size the model takes (its manifest)."
    )


def test_stn_page_shows_the_class_python_litert_gives(browser, web_models):
    folder, entries, _ = web_models
    entry = entries["st_cnn_tiny"]
    assert _open(browser, "stn.html") == "done", browser.find_element("id", "status").text
    from PIL import Image

    image = np.asarray(Image.open(os.path.join(folder, entry["samples"][0])), np.float32)[None, ..., None]
    float_file = next(a for a in entry["artifacts"] if a["format"] == "tflite")
    logits = _in_python(folder, float_file, [image])["logits"][0]
    assert browser.find_element("id", "class").text.startswith(f"{int(np.argmax(logits))} (probability ")
    theta = [float(v) for v in browser.find_element("id", "theta").text.strip("[]").split(", ")]
    assert len(theta) == 6


def test_catalog_lists_pages_files_and_samples(web_models):
    folder, entries, _ = web_models
    with open(os.path.join(folder, "catalog.json")) as fh:
        catalog = json.load(fh)
    assert {m["name"]: m["page"] for m in catalog["models"]} == {"deconvnet_tiny": "index.html", "st_cnn_tiny": "stn.html"}
    assert [(a["format"], a["quantize"]) for a in entries["deconvnet_tiny"]["artifacts"]] == [
        ("tflite", None), ("tflite", "int8"), ("onnx", None)
    ]
    for entry in catalog["models"]:
        for artifact in entry["artifacts"]:
            manifest = read_manifest(os.path.join(folder, artifact["file"]))
            assert manifest["batch_size"] == 1 and manifest["parity"]["passed"]
        assert all(os.path.exists(os.path.join(folder, s)) for s in entry["samples"])


def test_web_folder_pins_its_runtimes():
    with open(os.path.join(WEB_DIR, "package.json")) as fh:
        dependencies = json.load(fh)["dependencies"]
    with open(os.path.join(WEB_DIR, "package-lock.json")) as fh:
        lock = json.load(fh)["packages"]
    assert dependencies == {"@litertjs/core": "2.5.3", "onnxruntime-web": "1.30.0"}
    for package, version in dependencies.items():
        assert lock[f"node_modules/{package}"]["version"] == version


def test_cli_web_exports_without_serving(tmp_path, capsys):
    from keras_segattn.cli import main

    assert main(["web", "--model", DECONVNET, "--models-dir", str(tmp_path), "--no-serve"]) == 0
    with open(tmp_path / "catalog.json") as fh:
        assert [m["name"] for m in json.load(fh)["models"]] == ["deconvnet_tiny"]
    with pytest.raises(SystemExit, match="error: web: model must be a .keras file"):
        main(["web", "--model", "deconvnet_tiny", "--models-dir", str(tmp_path / "x"), "--no-serve"])
