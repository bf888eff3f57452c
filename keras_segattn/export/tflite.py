"""TFLite (LiteRT) conversion, running and inspection.

Conversion uses TensorFlow's ``TFLiteConverter`` with builtin ops only unless
the caller opts into Flex ops; artifacts are run with ``ai_edge_litert`` (the
maintained interpreter; ``tf.lite.Interpreter`` is deprecated).
"""

from __future__ import annotations

import re
import tempfile

import numpy as np
import tensorflow as tf

from keras_segattn.export import savedmodel

QUANTIZATIONS = (None, "float16", "dynamic", "int8")


class FlexOpsRequired(ValueError):
    """The model needs TensorFlow (Flex) ops that plain TFLite runtimes lack."""

    def __init__(self, ops):
        self.ops = sorted(ops)
        super().__init__(
            f"TFLite conversion with builtin ops only failed: the model uses {', '.join(self.ops)}, "
            "which need the Flex delegate (not available in the plain LiteRT interpreter on a phone). "
            "Pass allow_flex=True to accept a Flex model, or replace these ops."
        )


def _flex_ops_from_error(message: str) -> set[str]:
    found = set()
    for line in re.findall(r"TF Select ops: ([^\n]+)", message):
        found.update(op.strip() for op in line.split(",") if op.strip())
    return found or {"<unknown: see the converter's message>"}


def convert(
    model,
    function,
    specs,
    *,
    quantize=None,
    representative_data=None,
    allow_flex=False,
) -> bytes:
    """Convert a concrete-function-able ``function`` to a TFLite flatbuffer.

    Args:
        model: the Keras model (holds the variables).
        function: its serving ``tf.function`` (see
            :func:`keras_segattn.export.signature.serving_function`).
        specs: the function's input ``TensorSpec`` list.
        quantize: ``None`` (float32), ``"float16"``, ``"dynamic"`` (int8
            weights, float activations) or ``"int8"`` (full integer, uint8
            image input, float32 outputs).
        representative_data: for ``"int8"``: a list of input lists (NumPy)
            used to calibrate activation ranges.
        allow_flex: also allow TensorFlow (Flex) ops.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, received {quantize!r}.")
    # Converting from a SavedModel freezes the variables and keeps the named
    # serving signature (a concrete function with a trackable leaves
    # READ_VARIABLE ops behind).
    with tempfile.TemporaryDirectory() as tmp:
        savedmodel.write(model, function, specs, tmp)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serving_default"])
        return _convert(converter, specs, quantize, representative_data, allow_flex)


def _convert(converter, specs, quantize, representative_data, allow_flex):
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if not representative_data:
            raise ValueError(
                "quantize='int8' needs representative_data (a few hundred real inputs) to "
                "calibrate activation ranges."
            )
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # Keyed by input name: the converted signature orders its inputs by name, which
        # differs from the model's order for some multi-input models (image, caption).
        converter.representative_dataset = lambda: (
            {spec.name: value for spec, value in zip(specs, x)} for x in representative_data
        )
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if all(s.shape.rank == 4 for s in specs):
            # Raw pixels are integers in [0, 255]: uint8 input loses nothing.
            converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    if allow_flex:
        ops = ops + [tf.lite.OpsSet.SELECT_TF_OPS]
    converter.target_spec.supported_ops = ops
    try:
        return converter.convert()
    except Exception as error:  # the converter raises ConverterError subclasses
        message = str(error)
        if "TF Select" in message or "ERROR_NEEDS_FLEX_OPS" in message:
            raise FlexOpsRequired(_flex_ops_from_error(message)) from None
        raise


def op_set(content: bytes) -> dict[str, list[str]]:
    """Operators of a flatbuffer by kind: ``builtin``, ``flex`` and ``custom``."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(content, 0)
    kinds = {"builtin": set(), "flex": set(), "custom": set()}
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode().decode()
            kinds["flex" if custom.startswith("Flex") else "custom"].add(custom)
        else:
            kinds["builtin"].add(names.get(builtin, str(builtin)))
    return {k: sorted(v) for k, v in kinds.items()}


def interpreter(content: bytes):
    """The LiteRT interpreter (``ai_edge_litert``; it has no Flex delegate)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=content)


def _quantize_input(value: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return value.astype(dtype)
    scale, zero = detail["quantization"]
    if scale:
        value = value / scale + zero
    info = np.iinfo(dtype)
    return np.clip(np.round(value), info.min, info.max).astype(dtype)


def run(content: bytes, inputs: dict[str, np.ndarray], batch_size: int = 8) -> dict[str, np.ndarray]:
    """Run the ``serving_default`` signature on ``inputs`` in batches; float outputs."""
    interp = interpreter(content)
    runner = interp.get_signature_runner()
    details = runner.get_input_details()
    out_details = runner.get_output_details()
    count = len(next(iter(inputs.values())))
    results: dict[str, list] = {}
    for start in range(0, count, batch_size):
        feed = {
            name: _quantize_input(np.asarray(v[start : start + batch_size]), details[name])
            for name, v in inputs.items()
        }
        out = runner(**feed)
        for name, value in out.items():
            scale, zero = out_details[name]["quantization"]
            if scale and not np.issubdtype(value.dtype, np.floating):
                value = (value.astype(np.float32) - zero) * scale
            results.setdefault(name, []).append(np.asarray(value))
    return {k: np.concatenate(v) for k, v in results.items()}


def describe(content: bytes) -> dict:
    """Inputs/outputs (shape, dtype, quantization) and op set of a flatbuffer."""
    interp = interpreter(content)
    runner = interp.get_signature_runner()

    def tensors(details):
        return {
            name: {
                "shape": [int(s) for s in d["shape_signature"]]
                if "shape_signature" in d
                else [int(s) for s in d["shape"]],
                "dtype": np.dtype(d["dtype"]).name,
                "quantization": {"scale": float(d["quantization"][0]), "zero_point": int(d["quantization"][1])},
            }
            for name, d in details.items()
        }

    return {
        "inputs": tensors(runner.get_input_details()),
        "outputs": tensors(runner.get_output_details()),
        "ops": op_set(content),
    }
