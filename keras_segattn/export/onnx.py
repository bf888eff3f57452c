"""ONNX conversion (tf2onnx) and running (onnxruntime)."""

from __future__ import annotations

from collections import Counter

import numpy as np

#: ONNX opset: 17 is supported by tf2onnx 1.17, onnxruntime >= 1.13 and the
#: common mobile/edge runtimes; LayerNorm-era ops are not needed.
OPSET = 17


def convert(function, specs, path: str, opset: int = OPSET):
    """Write ``function`` (a ``tf.function`` with ``specs``) as an ONNX model at ``path``."""
    import tf2onnx

    model_proto, _ = tf2onnx.convert.from_function(
        function, input_signature=specs, opset=opset, output_path=path
    )
    return model_proto


def _session(path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run(path: str, inputs: dict[str, np.ndarray], batch_size: int = 8) -> dict[str, np.ndarray]:
    """Run the model at ``path`` on named ``inputs``; outputs keyed by their ONNX names."""
    session = _session(path)
    names = [o.name for o in session.get_outputs()]
    missing = [i.name for i in session.get_inputs() if i.name not in inputs]
    # tf2onnx lists some constants as graph inputs backed by initializers; only
    # genuine inputs (the function's arguments) must be fed.
    initialized = {t.name for t in _load(path).graph.initializer}
    missing = [m for m in missing if m not in initialized]
    if missing:
        raise ValueError(f"ONNX model at {path!r} needs inputs {missing}; received {sorted(inputs)}.")
    results: dict[str, list] = {n: [] for n in names}
    count = len(next(iter(inputs.values())))
    for start in range(0, count, batch_size):
        batch = {k: v[start : start + batch_size] for k, v in inputs.items()}
        for name, value in zip(names, session.run(names, batch)):
            results[name].append(value)
    return {k: np.concatenate(v) for k, v in results.items()}


def _load(path: str):
    import onnx

    return onnx.load(path)


def describe(path: str) -> dict:
    model = _load(path)

    def dims(value):
        return [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]

    return {
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": {
            v.name: {"shape": dims(v)}
            for v in model.graph.input
            if v.name not in {t.name for t in model.graph.initializer}
        },
        "outputs": {v.name: {"shape": dims(v)} for v in model.graph.output},
        "ops": dict(sorted(Counter(n.op_type for n in model.graph.node).items())),
    }
