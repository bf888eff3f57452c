"""Regenerate the committed reference artifacts in saved_models/ and tflite/.

Trains the demo model (deconvnet_tiny, the demo's recipe and seed) on the
embedded shapes data and writes, each behind the parity gate with its JSON
manifest:

    saved_models/deconvnet_tiny.keras         the trained Keras model
    saved_models/deconvnet_tiny/              SavedModel (serving_default)
    saved_models/deconvnet_tiny.onnx          ONNX (opset 17)
    tflite/deconvnet_tiny.tflite              TFLite float32, builtin ops only
    tflite/deconvnet_tiny_int8.tflite         TFLite full int8 (uint8 input)

tests/test_reference_artifacts.py checks that they still load and reproduce
their manifests' parity on today's versions.

    .venv/bin/python tools/make_reference_artifacts.py [--model deconvnet_tiny]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))

from _common import write_result  # noqa: E402

from keras_segattn.cli import DEMO_MODEL, run_demo  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEMO_MODEL)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    summary = run_demo(
        args.model,
        saved_models_dir=os.path.join(ROOT, "saved_models"),
        tflite_dir=os.path.join(ROOT, "tflite"),
        epochs=args.epochs,
        time_limit=None,
    )
    for key in ("keras_model", "picture"):  # the summary's paths are relative to saved_models/
        summary[key] = os.path.join("saved_models", summary[key])
    print("wrote", write_result(f"reference_{args.model}", summary))


if __name__ == "__main__":
    main()
