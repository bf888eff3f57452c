"""In-browser latency of the exported models beside Python LiteRT and onnxruntime, in one run.

Exports deconvnet_tiny (the committed ``make demo`` model: TFLite float32 and
int8, ONNX) and st_cnn_tiny (trained here if ``saved_models/st_cnn_tiny.keras``
is missing, then saved there for ``make web``) with a fixed batch of one, serves
``web/`` on 127.0.0.1 and drives Debian's headless Chromium: each file runs
``--repeats`` times on one embedded test image in LiteRT.js or ONNX Runtime Web
(WebAssembly, one thread), after ``--warmup`` runs. The same files run as often
in Python LiteRT (one thread) and onnxruntime (one intra-op thread). Medians in
milliseconds. Also saves screenshots of the two pages.

Writes tools/results/web_benchmark.json, web_segmentation.png, web_stn.png,
prints a Markdown table and puts it between the README's web-benchmark markers.

    PYTHONPATH=. python tools/web_benchmark.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tools._common import replace_readme_section, write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "tools", "results")


def stn_model(path, seed):
    import keras

    import keras_segattn as ksa
    from keras_segattn.export.signature import inference_copy
    from keras_segattn.tasks import get_task

    if os.path.exists(path):
        return keras.saving.load_model(path), None
    keras.utils.set_random_seed(seed)
    model = ksa.build_model("st_cnn_tiny")
    task = get_task("image_classification")
    task.train(model, train_examples=8192, val_examples=512, epochs=8, batch_size=64, learning_rate=2e-3, seed=seed,
               verbose=2)
    accuracy = task.evaluate(model, examples=1000, seed=seed)
    inference_copy(model).save(path)  # without the optimizer's slots: a third of the size
    return model, accuracy


def python_latency(path, fmt, image, repeats, warmup):
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=path, num_threads=1)
        runner = interpreter.get_signature_runner()
        (name, detail), = runner.get_input_details().items()
        value = image.astype(detail["dtype"]) if detail["dtype"] != np.uint8 else np.round(image).astype(np.uint8)
        call = lambda: runner(**{name: value})  # noqa: E731
        runtime = "Python LiteRT (1 thread)"
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: image.astype(np.float32)}
        call = lambda: session.run(None, feed)  # noqa: E731
        runtime = "onnxruntime (1 thread)"
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        call()
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - start))
    return runtime, times


def browser_latency(driver, artifact, image, repeats, warmup):
    import base64

    encoded = base64.b64encode(np.ascontiguousarray(image, np.float32).tobytes()).decode()
    reply = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.ksaTest.run('models/', arguments[0], [arguments[1]], arguments[2]).then(done, (e) => done({error: String(e)}));",
        artifact, encoded, warmup + repeats,
    )
    if "error" in reply:
        raise RuntimeError(f"{artifact['file']} in the browser: {reply['error']}")
    return reply["runtime"], reply["ms"][warmup:]


def wait_done(driver, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body.dataset.state")
        if state in ("done", "error"):
            if state == "error":
                raise RuntimeError(driver.find_element("id", "status").text)
            return
        time.sleep(0.2)
    raise RuntimeError("the page did not finish")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="web_benchmark")
    args = parser.parse_args()

    import subprocess

    import keras

    from keras_segattn.tasks import get_task
    from keras_segattn.web import export_for_web, headless_chromium, serve

    deconvnet = keras.saving.load_model(os.path.join(ROOT, "saved_models", "deconvnet_tiny.keras"))
    stn, stn_accuracy = stn_model(os.path.join(ROOT, "saved_models", "st_cnn_tiny.keras"), args.seed)
    folder = tempfile.mkdtemp(prefix="web_models_")
    catalog = export_for_web([deconvnet, stn], folder, samples=6)
    models = {"deconvnet_tiny": deconvnet, "st_cnn_tiny": stn}
    server = serve(models_dir=folder, port=0, background=True)
    driver = headless_chromium()
    rows = []
    try:
        driver.get(server.url + "index.html")
        wait_done(driver)
        for entry in catalog["models"]:
            (images,), _ = get_task(entry["task"]).data(models[entry["name"]], "test", 1, seed=args.seed)
            for artifact in entry["artifacts"]:
                kind = f"{artifact['format']} {artifact['quantize'] or 'float32'}"
                path = os.path.join(folder, artifact["file"])
                for where in ("browser", "python"):
                    if where == "browser":
                        runtime, times = browser_latency(driver, artifact, images, args.repeats, args.warmup)
                    else:
                        runtime, times = python_latency(path, artifact["format"], images, args.repeats, args.warmup)
                    rows.append({"model": entry["name"], "file": kind, "where": where, "runtime": runtime,
                                 "median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)),
                                 "runs": len(times), "size_mb": artifact["size_bytes"] / 1e6})
                    print(f"{entry['name']:15s} {kind:15s} {runtime:42s} {rows[-1]['median_ms']:8.2f} ms", flush=True)
        shots = {}
        for page, name, sample in (("index.html", "web_segmentation.png", 1), ("stn.html", "web_stn.png", 0)):
            driver.get(server.url + page)
            wait_done(driver)
            driver.find_elements("css selector", "#samples button")[sample].click()
            time.sleep(0.5)
            wait_done(driver)
            shots[page] = os.path.join(RESULTS, name)
            driver.save_screenshot(shots[page])
        chromium = driver.capabilities.get("browserVersion")
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    path = write_result(args.output, {
        "args": vars(args),
        "chromium": chromium,
        "node": node,
        "packages": {"@litertjs/core": "2.5.3", "onnxruntime-web": "1.30.0"},
        "stn_accuracy": stn_accuracy,
        "rows": rows,
        "screenshots": {k: os.path.relpath(v, ROOT) for k, v in shots.items()},
    })
    text = table(rows)
    machine = json.load(open(path))["machine"]
    text += (
        f"\n\nMachine: {machine['cores']} cores ({machine['cpu']}, no GPU), Chromium {chromium} headless, "
        f"@litertjs/core 2.5.3 and onnxruntime-web 1.30.0 (WebAssembly, one thread), Python {machine['python']} "
        f"with ai-edge-litert and onnxruntime (one thread). Median of {args.repeats} runs after {args.warmup} "
        "warm-up runs, batch 1, one embedded test image. The browser's clock has 0.1 ms resolution without "
        "cross-origin isolation."
    )
    replace_readme_section("web-benchmark", text)
    print(text)
    print(f"wrote {path}")


def table(rows):
    """Browser and Python side by side per file."""
    lines = ["| model | file | size | LiteRT.js / ORT Web (browser) | Python LiteRT / onnxruntime | browser / Python |",
             "|---|---|---:|---:|---:|---:|"]
    pairs = {}
    for r in rows:
        pairs.setdefault((r["model"], r["file"], r["size_mb"]), {})[r["where"]] = r
    for (model, kind, size), p in pairs.items():
        b, py = p["browser"], p["python"]
        lines.append(f"| {model} | {kind} | {size:.2f} MB | {b['median_ms']:.2f} ms ({b['runtime'].split(' (')[0]}) | "
                     f"{py['median_ms']:.2f} ms | {b['median_ms'] / py['median_ms']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
