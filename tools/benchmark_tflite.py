"""Latency and accuracy of the reference model: Keras vs TFLite float32 vs TFLite int8.

Uses the committed reference artifacts (tools/make_reference_artifacts.py):
saved_models/<model>.keras, tflite/<model>.tflite and tflite/<model>_int8.tflite.
On the same held-out embedded images it measures mean IoU and per-image
latency (batch 1, median of all images after warm-up) for

  * Keras: the model called on one image (``model(x, training=False)``),
  * Keras predict: ``model.predict`` over all images, batch 32 (throughput),
  * TFLite float32 and int8 in ai_edge_litert's interpreter (XNNPACK, all cores).

Writes tools/results/benchmark_<model>.json and prints a Markdown table.

    .venv/bin/python tools/benchmark_tflite.py [--model deconvnet_tiny] [--images 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import write_result  # noqa: E402

from keras_segattn.data import synthetic_shapes_arrays  # noqa: E402
from keras_segattn.export.parity import mean_iou  # noqa: E402


def tflite_runner(path, threads):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=threads)
    runner = interp.get_signature_runner()
    detail = runner.get_input_details()["image"]
    dtype = detail["dtype"]

    def run(x):
        feed = x if dtype == np.float32 else np.clip(np.round(x), 0, 255).astype(dtype)
        return next(iter(runner(image=feed).values()))

    return run


def timed(fn, images, warmup=10):
    for x in images[:warmup]:
        fn(x[None])
    times, preds = [], []
    for x in images:
        start = time.perf_counter()
        out = fn(x[None])
        times.append(time.perf_counter() - start)
        preds.append(np.asarray(out)[0].argmax(-1))
    return 1000 * statistics.median(times), np.stack(preds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deconvnet_tiny")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    model = keras.saving.load_model(os.path.join(ROOT, "saved_models", f"{args.model}.keras"))
    size = model.inputs[0].shape[1]
    num_classes = int(model.outputs[0].shape[-1])
    images, labels = synthetic_shapes_arrays("test", args.images, image_size=size, num_classes=num_classes)
    images = images.astype("float32")

    rows = {}
    ms, preds = timed(lambda x: model(x, training=False), images)
    rows["Keras (eager call, batch 1)"] = {"latency_ms": ms, "mean_iou": mean_iou(labels, preds, num_classes)}
    start = time.perf_counter()
    logits = model.predict(images, batch_size=32, verbose=0)
    per_image = 1000 * (time.perf_counter() - start) / len(images)
    rows["Keras predict (batch 32)"] = {"latency_ms": per_image, "mean_iou": mean_iou(labels, logits.argmax(-1), num_classes)}
    for label, suffix in (("TFLite float32", ""), ("TFLite int8", "_int8")):
        path = os.path.join(ROOT, "tflite", f"{args.model}{suffix}.tflite")
        ms, preds = timed(tflite_runner(path, args.threads), images)
        rows[f"{label} (batch 1)"] = {
            "latency_ms": ms,
            "mean_iou": mean_iou(labels, preds, num_classes),
            "size_mb": os.path.getsize(path) / 1e6,
        }
    base = rows["TFLite float32 (batch 1)"]["latency_ms"]
    keras_ms = rows["Keras (eager call, batch 1)"]["latency_ms"]
    for row in rows.values():
        row["speed_vs_tflite_fp32"] = base / row["latency_ms"]
        row["speed_vs_keras_call"] = keras_ms / row["latency_ms"]
    path = write_result(f"benchmark_{args.model}", {"settings": vars(args), "rows": rows})
    print(f"\n| {args.model}, {args.images} held-out images | ms / image | x vs TFLite fp32 | mIoU |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['latency_ms']:.2f} | {row['speed_vs_tflite_fp32']:.2f} | {row['mean_iou']:.4f} |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
