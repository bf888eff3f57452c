"""The README's model table: every registered model with its parameter count.

Builds each registered model (paper configuration and tiny variant) and counts
its parameters; compares the paper-size counts with the papers' figures.
Writes tools/results/model_table.json and rewrites the table between the
model-table markers in README.md.

    .venv/bin/python tools/model_table.py
"""

from __future__ import annotations

import gc
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))

from _common import replace_readme_section, write_result  # noqa: E402

import keras_segattn as ksa  # noqa: E402
from keras_segattn.registry import get_spec  # noqa: E402

#: Parameter counts the papers (or their reference models) state.
PAPER_PARAMETERS = {
    "fcn32s": "134M (FCN-VGG16)",
    "fcn16s": "134M (FCN-VGG16)",
    "fcn8s": "134M (FCN-VGG16)",
    "deconvnet": "252M",
    "inception_v4": "42.68M (timm's port of the TF-slim checkpoint, trainable)",
    "inception_resnet_v2": "55.9M (Keras Applications: 55,873,736)",
}


def _shapes(inputs):
    """One input: ``HxWx3`` (unknown sizes as H and W); several: ``name shape`` each, ``?`` for unknown sizes."""
    if len(inputs) == 1:
        return "x".join("H" if d is None and i == 0 else "W" if d is None else str(d) for i, d in enumerate(inputs[0][1]))
    return " + ".join(f"{name} " + "x".join("?" if d is None else str(d) for d in shape) for name, shape in inputs)


def main():
    rows = []
    for name in ksa.list_models():
        spec = get_spec(name)
        if spec.tiny:
            continue
        model = ksa.build_model(name)
        params = model.count_params()
        input_shape = [(t.name, tuple(t.shape[1:])) for t in model.inputs]
        del model
        gc.collect()
        tiny = f"{name}_tiny"
        tiny_params = ksa.build_model(tiny).count_params() if tiny in ksa.list_models() else None
        rows.append(
            {
                "name": name,
                "family": spec.family,
                "task": spec.task,
                "paper": spec.paper,
                "input_shape": input_shape,
                "parameters": params,
                "paper_parameters": PAPER_PARAMETERS.get(name, "-"),
                "tiny": tiny,
                "tiny_parameters": tiny_params,
            }
        )
        print(rows[-1], flush=True)
    lines = [
        "| name (paper config) | task | paper | input | parameters | paper's count | tiny variant (parameters) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        shape = _shapes(r["input_shape"])
        lines.append(
            f"| `{r['name']}` | {r['task'].replace('_', ' ')} | {r['paper']} | {shape} | {r['parameters'] / 1e6:.1f}M "
            f"| {r['paper_parameters']} | `{r['tiny']}` ({r['tiny_parameters']:,}) |"
        )
    table = "\n".join(lines)
    write_result("model_table", {"rows": rows})
    replace_readme_section("model-table", table)
    print(table)


if __name__ == "__main__":
    main()
