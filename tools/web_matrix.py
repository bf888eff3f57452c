"""The export matrix's browser column: every registered tiny model's float files in headless Chromium.

For each ``list_models("*_tiny")`` model, briefly trained (``Task.quick_fit``, as
the export matrix), exports TFLite float32 and ONNX with a fixed batch of one (LiteRT.js cannot
resize inputs), runs each on two embedded test examples in the web page's
runtimes (LiteRT.js, ONNX Runtime Web; WebAssembly, one thread) and in Python
LiteRT / onnxruntime, and records the worst output's max abs difference divided
by that output's scale. Writes tools/results/web_matrix.json, which
tools/export_matrix.py renders as the README matrix's "browser" column.

    PYTHONPATH=. python tools/web_matrix.py                       # every tiny model
    PYTHONPATH=. python tools/web_matrix.py --models fcn8s_tiny --update   # redo some, keep the others
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tools._common import write_result  # noqa: E402

#: the browser check's tolerance (as tests/test_web.py): max abs error / output scale
TOLERANCE = 1e-4


def encode(inputs, names, index):
    """One example as the page's test hook takes it: {name: {data: base64, dtype}}."""
    example = {}
    for name, x in zip(names, inputs):
        value = x[index : index + 1]
        dtype = "int32" if np.issubdtype(value.dtype, np.integer) else "float32"
        example[name] = {"data": base64.b64encode(np.ascontiguousarray(value, dtype).tobytes()).decode(), "dtype": dtype,
                         "shape": list(value.shape)}
    return example


def in_browser(driver, artifact, examples):
    reply = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.ksaTest.run('models/', arguments[0], arguments[1]).then(done, (e) => done({error: String(e)}));",
        artifact, examples,
    )
    if "error" in reply:
        raise RuntimeError(reply["error"].splitlines()[0][:300])
    out = {}
    for result in reply["results"]:
        for name, v in result.items():
            out.setdefault(name, []).append(np.frombuffer(base64.b64decode(v["data"]), np.float32).reshape(v["shape"]))
    return {k: np.concatenate(v) for k, v in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=["*_tiny"], help="registry patterns")
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--output", default="web_matrix")
    parser.add_argument("--update", action="store_true", help="replace these models' records in the output, keep the rest")
    args = parser.parse_args()

    import keras

    import keras_segattn as ksa
    from keras_segattn.export import export, formats, signature
    from keras_segattn.export.support import UnsupportedTarget
    from keras_segattn.tasks import task_of
    from keras_segattn.web import headless_chromium, serve

    names = sorted({n for pattern in args.models for n in ksa.list_models() if fnmatch.fnmatch(n, pattern)})
    folder = tempfile.mkdtemp(prefix="web_matrix_")
    server = serve(models_dir=folder, port=0, background=True)
    driver = headless_chromium()
    records = []
    try:
        driver.get(server.url + "index.html")  # loads the runtimes and the test hook (no catalog needed)
        deadline = time.monotonic() + 60
        while driver.execute_script("return typeof window.ksaTest") != "object" and time.monotonic() < deadline:
            time.sleep(0.2)
        for name in names:
            keras.utils.set_random_seed(0)
            model = ksa.build_model(name)
            task = task_of(model, None)
            task.quick_fit(model)  # as the export matrix: decisive outputs, not an initialiser's zeros
            model = signature.inference_copy(model)
            inputs, _ = task.data(model, "test", args.examples)
            input_names = signature.input_names(model)
            examples = [encode(inputs, input_names, i) for i in range(args.examples)]
            for fmt in ("tflite", "onnx"):
                record = {"model": name, "format": fmt}
                filename = f"{name}.{fmt}"
                path = os.path.join(folder, filename)
                try:
                    export(model, path, format=fmt, batch_size=1, parity_samples=args.examples, verbose=False)
                    artifact = {"file": filename, "manifest": filename + ".json",
                                "runtime": "litert" if fmt == "tflite" else "onnx", "format": fmt}
                    web = in_browser(driver, artifact, examples)
                    python = formats.backend(fmt).run(path, dict(zip(input_names, inputs)), batch_size=1)
                    errors = {
                        k: float(np.max(np.abs(web[k] - v)) / max(float(np.max(np.abs(v))), 1e-6)) for k, v in python.items()
                    }
                    worst = max(errors.values())
                    record.update(status="ok" if worst <= TOLERANCE else "mismatch", relative_error=worst,
                                  outputs=errors)
                    if not worst <= TOLERANCE:  # NaN included
                        runtime = "LiteRT.js" if fmt == "tflite" else "ONNX Runtime Web"
                        record["reason"] = f"{name}: {runtime} differs from Python on the same file: " + ", ".join(
                            f"{k} max error / scale {e:.2g} ({int(np.isnan(web[k]).sum())} NaN)"
                            for k, e in errors.items() if not e <= TOLERANCE
                        )
                except UnsupportedTarget as error:
                    record.update(status="unsupported", reason=str(error))
                except Exception as error:  # recorded in the matrix: a browser or export failure is a finding
                    text = str(error).splitlines()[0]
                    if "[ONNXRuntimeError]" in text:  # the export's own check: Python onnxruntime refused the file
                        text = "onnxruntime cannot load the fixed-batch file (the export writes nothing): " + (
                            text.split("failed:", 1)[-1].strip()[:200])
                    record.update(status="failed", reason=f"{name} {fmt}: {type(error).__name__}: {text[:300]}")
                records.append(record)
                print(f"{name:32s} {fmt:7s} {record['status']:8s} {record.get('relative_error', record.get('reason', ''))}",
                      flush=True)
            keras.backend.clear_session()
        chromium = driver.capabilities.get("browserVersion")
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    if args.update:
        import json

        with open(os.path.join(os.path.dirname(__file__), "results", f"{args.output}.json")) as fh:
            old = json.load(fh)["records"]
        records = [r for r in old if r["model"] not in names] + records
        records.sort(key=lambda r: (r["model"], r["format"] != "tflite"))
    path = write_result(args.output, {"args": vars(args), "chromium": chromium, "tolerance": TOLERANCE,
                                      "records": records})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
