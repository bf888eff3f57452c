"""One-command GPU check: FCN-8s and DeconvNet at paper input size, XLA x mixed precision.

For each model and each combination of XLA (jit_compile on/off) and precision
(float32 / mixed_float16), trains for a fixed number of steps on random
224x224 images and prints one JSON line with images/s (after warm-up) and the
GPU's peak memory; a final line summarises. Sized to finish in under 5 minutes
on one modern GPU (defaults: 3 warm-up + 10 timed steps, batch 8).

    python tools/gpu_check.py                 # on a GPU machine
    python tools/gpu_check.py --smoke         # tiny models on CPU (what the tests run)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_segattn as ksa  # noqa: E402
from keras_segattn.training import compile_segmentation, precision_policy  # noqa: E402


def run_config(name, overrides, jit, precision, batch, warmup, steps, device):
    keras.backend.clear_session()
    gc.collect()
    if device.startswith("GPU"):
        tf.config.experimental.reset_memory_stats(device)
    with precision_policy(precision):
        model = ksa.build_model(name, **overrides)
    num_classes = int(model.outputs[0].shape[-1])
    size = overrides.get("input_shape", model.inputs[0].shape[1:])[:2]
    size = tuple(s or 224 for s in size)
    compile_segmentation(model, num_classes, jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, *size, 3)).astype("float32")
    y = rng.integers(0, num_classes, (batch, *size)).astype("int32")
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    history = model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    peak = tf.config.experimental.get_memory_info(device)["peak"] if device.startswith("GPU") else None
    return {
        "model": name,
        "jit_compile": jit,
        "precision": precision,
        "batch": batch,
        "input": list(size),
        "parameters": int(model.count_params()),
        "warmup_seconds": round(compile_seconds, 1),
        "images_per_second": round(batch * steps / seconds, 1),
        "peak_memory_gib": None if peak is None else round(peak / 2**30, 2),
        "loss": float(history.history["loss"][-1]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models, few steps (runs on CPU)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--output", help="also write the results (JSON list) here")
    args = parser.parse_args()
    gpus = tf.config.list_logical_devices("GPU")
    device = "GPU:0" if gpus else "CPU:0"
    if args.smoke:
        models = [("fcn8s_tiny", {"input_shape": (32, 32, 3)})]
        batch, warmup, steps = 2, 1, 2
    else:
        models = [("fcn8s", {"input_shape": (224, 224, 3)}), ("deconvnet", {})]
        batch, warmup, steps = args.batch_size, args.warmup, args.steps
    print(json.dumps({"device": gpus[0].name if gpus else "CPU", "tensorflow": tf.__version__, "keras": keras.__version__}))
    results = []
    for name, overrides in models:
        for jit in (False, True):
            for precision in ("float32", "mixed_float16"):
                try:
                    result = run_config(name, overrides, jit, precision, batch, warmup, steps, device)
                except Exception as error:  # report and go on: one failure must not hide the rest
                    result = {"model": name, "jit_compile": jit, "precision": precision, "error": f"{type(error).__name__}: {str(error)[:300]}"}
                print(json.dumps(result), flush=True)
                results.append(result)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(results, fh, indent=2)
    failed = [r for r in results if "error" in r]
    print(json.dumps({"configs": len(results), "failed": len(failed)}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
