"""Verified export: SavedModel, TFLite (float32/float16/dynamic/int8) and ONNX.

``export`` converts a Keras model, runs the artifact and the model on the same
real inputs, and writes the artifact (and a JSON manifest beside it) only if
the parity gate passes; see :mod:`keras_segattn.export.parity` for the gate.

Example:
    >>> import tempfile, os, keras_segattn as ksa
    >>> from keras_segattn.export import export
    >>> model = ksa.build_model("fcn8s_tiny")
    >>> path = os.path.join(tempfile.mkdtemp(), "fcn8s_tiny.tflite")
    >>> manifest = export(model, path, format="tflite", verbose=False)
    >>> manifest["parity"]["passed"], manifest["ops"]["flex"]
    (True, [])
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile

import keras
import numpy as np

from keras_segattn.export import onnx as onnx_export
from keras_segattn.export import savedmodel, signature, tflite
from keras_segattn.export.parity import (
    FLOAT_TOLERANCE,
    ParityError,
    compare_float,
    compare_task,
)
from keras_segattn.export.support import UnsupportedTarget, check_supported
from keras_segattn.export.tflite import FlexOpsRequired

__all__ = [
    "export",
    "verify_artifact",
    "inspect_artifact",
    "read_manifest",
    "summarize",
    "FORMATS",
    "ParityError",
    "FlexOpsRequired",
    "UnsupportedTarget",
]

FORMATS = ("savedmodel", "tflite", "onnx")
_SUFFIX = {"tflite": ".tflite", "onnx": ".onnx"}


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for dist in ("keras_segattn", "tensorflow", "keras", "tf2onnx", "onnxruntime", "ai-edge-litert", "numpy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def _sha256(path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, f) for root, _, names in os.walk(path) for f in names
    )
    for file in files:
        if os.path.isdir(path):
            digest.update(os.path.relpath(file, path).encode())
        with open(file, "rb") as fh:
            data = fh.read()
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size


def _as_arrays(data, model, limit):
    """``(inputs list of arrays, labels or None)`` from arrays, tuples or a tf.data.Dataset."""
    import tensorflow as tf

    labels = None
    if isinstance(data, tf.data.Dataset):
        xs, ys = [], []
        count = 0
        for element in data:
            x, y = (element[0], element[1]) if isinstance(element, (tuple, list)) else (element, None)
            x = [np.asarray(t) for t in (x if isinstance(x, (list, tuple)) else [x])]
            if x[0].ndim == len(model.inputs[0].shape) - 1:  # unbatched dataset
                x = [t[None] for t in x]
                y = None if y is None else np.asarray(y)[None]
            xs.append(x)
            if y is not None:
                ys.append(np.asarray(y))
            count += len(x[0])
            if count >= limit:
                break
        inputs = [np.concatenate([x[i] for x in xs])[:limit] for i in range(len(xs[0]))]
        labels = np.concatenate(ys)[:limit] if ys else None
        return inputs, labels
    if isinstance(data, tuple) and len(data) == 2 and len(model.inputs) == 1:
        data, labels = data
        labels = np.asarray(labels)[:limit]
    inputs = [np.asarray(x)[:limit] for x in (data if isinstance(data, list) else [data])]
    if len(inputs) != len(model.inputs):
        raise ValueError(
            f"parity_data must hold {len(model.inputs)} input array(s) for model {model.name!r}, "
            f"received {len(inputs)}."
        )
    return inputs, labels


def _registry_spec(model):
    from keras_segattn.registry import _REGISTRY, _ensure_models_imported

    _ensure_models_imported()
    return _REGISTRY.get(model.name)


def _default_data(model, split, count):
    from keras_segattn.data.defaults import default_data

    return default_data(model, split=split, count=count)


def _check_path(path, format):
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"path must be a file or directory path, received {path!r}.")
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise ValueError(f"output path {path!r} is not writable: cannot create {parent!r} ({error.strerror}).") from None
    if not os.access(parent, os.W_OK):
        raise ValueError(f"output path {path!r} is not writable: no write permission on {parent!r}.")
    if format in _SUFFIX and not path.endswith(_SUFFIX[format]):
        raise ValueError(
            f"format={format!r} writes a {_SUFFIX[format]} file; received path {path!r}. "
            f"Use a path ending in {_SUFFIX[format]}."
        )
    return path


def _run_artifact(artifact, format, feed, model_name, final_path):
    """Run an artifact on named inputs; a runtime failure is a parity failure."""
    if format == "savedmodel":
        return savedmodel.run(artifact, feed)
    if format == "onnx":
        return onnx_export.run(artifact, feed)
    with open(artifact, "rb") as fh:
        content = fh.read()
    try:
        return tflite.run(content, feed)
    except RuntimeError as error:
        flex = tflite.op_set(content)["flex"]
        raise ParityError(
            f"the TFLite artifact of {model_name!r} could not be run in the LiteRT interpreter "
            f"to check parity, so nothing was written to {final_path!r}"
            + (f" (it uses Flex ops {flex}; pip's LiteRT has no Flex delegate)" if flex else "")
            + f": {str(error).splitlines()[0][:300]}"
        ) from None


def _describe(artifact, format):
    if format == "savedmodel":
        return savedmodel.describe(artifact)
    if format == "onnx":
        return onnx_export.describe(artifact)
    with open(artifact, "rb") as fh:
        return tflite.describe(fh.read())


def has_switches(model) -> bool:
    """Whether ``model`` (or a nested model) records argmax pooling switches."""
    from keras_segattn.layers import MaxPoolingWithArgmax2D

    return any(
        isinstance(layer, MaxPoolingWithArgmax2D) or (isinstance(layer, keras.Model) and has_switches(layer))
        for layer in model.layers
    )


def _gate(quantize, reference, actual, task, labels, tolerance=None, switches=False):
    if quantize is None:
        return compare_float(
            reference, actual, tolerance if tolerance is not None else FLOAT_TOLERANCE, switches=switches
        )
    # Lossy formats are judged on the task (argmax agreement, metric drop);
    # their float errors are recorded beside.
    report = compare_task(reference, actual, task=task, labels=labels)
    errors = compare_float(reference, actual, float("inf"))["outputs"]
    report["float_errors"] = {name: {k: v for k, v in e.items() if k != "passed"} for name, e in errors.items()}
    return report


def export(
    model,
    path,
    format="savedmodel",
    quantize=None,
    representative_data=None,
    *,
    parity_data=None,
    parity_samples=32,
    input_size=None,
    allow_flex=False,
    tolerance=None,
    task=None,
    verbose=True,
):
    """Export ``model`` to ``path`` and verify it; returns the manifest dict.

    Args:
        model: a Keras model (e.g. from ``build_model``).
        path: artifact path: a directory for ``"savedmodel"``, ``*.tflite`` or
            ``*.onnx`` otherwise. The manifest goes to ``path + ".json"``.
        format: ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        quantize: TFLite only: ``None`` (float32), ``"float16"``,
            ``"dynamic"`` or ``"int8"``.
        representative_data: int8 calibration inputs (array, ``(inputs,
            labels)`` or ``tf.data.Dataset``); defaults to the model's
            embedded training data.
        parity_data: inputs (optionally with labels) for the parity check;
            defaults to the embedded test data of the model's task.
        parity_samples: how many examples the check runs.
        input_size: ``(H, W)`` fixed for TFLite where the model's spatial size
            is dynamic (default: the parity data's size). SavedModel and ONNX
            keep dynamic sizes.
        allow_flex: TFLite: accept TensorFlow (Flex) ops. Refused by default.
        tolerance: the float gate's tolerance (max abs error / output scale)
            for SavedModel, ONNX and TFLite float32; default ``FLOAT_TOLERANCE``
            (1e-5). Float16, dynamic-range and int8 TFLite are judged on the
            task (argmax agreement and metric drop, see ``parity.compare_task``).
        task: task name for the quantised gate's metric; defaults to the
            registry's task for ``model.name``.
        verbose: print a one-line parity summary.

    Raises:
        ValueError: bad arguments (format, quantisation, path, data).
        FlexOpsRequired: TFLite needs Flex ops and ``allow_flex`` is False.
        UnsupportedTarget: the README's export matrix lists this model/target
            as unsupported (with the reason).
        ParityError: the artifact does not reproduce Keras; nothing is written.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, received {type(model).__name__}.")
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; expected one of {', '.join(FORMATS)}.")
    if quantize is not None and format != "tflite":
        raise ValueError(f"quantize applies to format='tflite' only, received quantize={quantize!r} with format={format!r}.")
    if quantize not in tflite.QUANTIZATIONS:
        raise ValueError(f"quantize must be one of None, 'float16', 'dynamic', 'int8'; received {quantize!r}.")
    path = _check_path(path, format)
    check_supported(model.name, format, quantize)
    model = signature.inference_copy(model)
    spec = _registry_spec(model)
    task = task or (spec.task if spec else None)

    if parity_data is None:
        parity_inputs, parity_labels = _default_data(model, "test", parity_samples)
        source = "embedded test data"
    else:
        parity_inputs, parity_labels = _as_arrays(parity_data, model, parity_samples)
        source = "user data"
    if quantize == "int8":
        if representative_data is None:
            rep_inputs, _ = _default_data(model, "train", 128)
        else:
            rep_inputs, _ = _as_arrays(representative_data, model, 256)
        # Images calibrate as float32 (the converter's float graph); integer
        # inputs such as token ids keep their dtype.
        representative = [
            [x[i : i + 1] if np.issubdtype(x.dtype, np.integer) else x[i : i + 1].astype(np.float32) for x in rep_inputs]
            for i in range(len(rep_inputs[0]))
        ]
    else:
        representative = None

    spatial = tuple(input_size) if input_size else tuple(parity_inputs[0].shape[1:3]) if parity_inputs[0].ndim == 4 else None
    dynamic_specs = signature.input_specs(model)
    specs = signature.input_specs(model, spatial) if format == "tflite" else dynamic_specs
    function = signature.serving_function(model, specs)
    names = signature.input_names(model)
    feed = dict(zip(names, parity_inputs))
    reference = signature.keras_outputs(model, parity_inputs)

    parent = os.path.dirname(os.path.abspath(path))
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    tmp_path = os.path.join(tmp_dir, os.path.basename(path))
    try:
        if format == "savedmodel":
            savedmodel.write(model, function, specs, tmp_path)
        elif format == "onnx":
            onnx_export.convert(function, specs, tmp_path)
        else:
            content = tflite.convert(
                model, function, specs, quantize=quantize, representative_data=representative, allow_flex=allow_flex
            )
            with open(tmp_path, "wb") as fh:
                fh.write(content)
        actual = _run_artifact(tmp_path, format, feed, model.name, path)
        details = _describe(tmp_path, format)
        report = _gate(quantize, reference, actual, task, parity_labels, tolerance, has_switches(model))
        report.update({"samples": int(len(parity_inputs[0])), "source": source})
        if not report["passed"]:
            raise ParityError(
                f"{format}{'/' + quantize if quantize else ''} export of {model.name!r} failed the parity "
                f"gate; nothing was written to {path!r}. Report: {json.dumps(report, default=float)}"
            )
        digest, size = _sha256(tmp_path)
        manifest = {
            "artifact": os.path.basename(path),
            "format": format,
            "quantize": quantize,
            "model": {
                "name": model.name,
                "registered": spec is not None,
                "family": spec.family if spec else None,
                "task": task,
                "parameters": int(model.count_params()),
                "config_sha256": hashlib.sha256(model.to_json().encode()).hexdigest(),
            },
            **details,
            "size_bytes": size,
            "sha256": digest,
            "parity": report,
            "versions": _versions(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        os.replace(tmp_path, path)
        tmp_manifest = os.path.join(tmp_dir, "manifest.json")
        with open(tmp_manifest, "w") as fh:
            json.dump(manifest, fh, indent=2, default=float)
        os.replace(tmp_manifest, path + ".json")
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    if verbose:
        print(summarize(manifest))
    return manifest


def summarize(manifest: dict) -> str:
    """One line: artifact, size and the parity numbers."""
    parity = manifest["parity"]
    kind = manifest["format"] + (f"/{manifest['quantize']}" if manifest["quantize"] else "")
    if parity["kind"] == "float":
        worst = max(o["relative_error"] for o in parity["outputs"].values())
        numbers = f"max relative error {worst:.2e} (tolerance {parity['tolerance']:.0e})"
        exempt = sum(len(o.get("examples_over_tolerance", [])) for o in parity["outputs"].values())
        if exempt:
            inlier = max(o.get("inlier_relative_error", o["relative_error"]) for o in parity["outputs"].values())
            numbers += (
                f"; {exempt} example(s) exempt as argmax-switch flips (class agreement "
                f"{min(o.get('argmax_agreement', 1.0) for o in parity['outputs'].values()):.5f}), "
                f"all others within {inlier:.2e}"
            )
    else:
        numbers = f"argmax agreement {parity['argmax_agreement']:.4f}"
        if "metric" in parity:
            numbers += (
                f", {parity['metric']} keras {parity['keras']:.4f} vs artifact {parity['artifact']:.4f}"
                f" (drop {parity['drop_points']:.2f} points)"
            )
    return (
        f"{manifest['artifact']} [{kind}] {manifest['size_bytes'] / 1e6:.2f} MB: parity "
        f"{'passed' if parity['passed'] else 'FAILED'} on {parity['samples']} {parity['source']} examples, {numbers}"
    )


def verify_artifact(model, path, *, parity_data=None) -> dict:
    """Re-run the parity gate of an existing artifact against ``model`` today.

    Uses the manifest beside ``path`` (format, quantisation, sample count) and,
    unless ``parity_data`` is given, the same embedded test data. Returns the
    gate report with ``sha256_matches`` (the file is the one the manifest
    describes) added; ``report["passed"]`` says whether it still holds.

    Example:
        >>> import keras, keras_segattn as ksa
        >>> from keras_segattn.export import verify_artifact
        >>> model = keras.saving.load_model("saved_models/deconvnet_tiny.keras")  # doctest: +SKIP
        >>> verify_artifact(model, "tflite/deconvnet_tiny_int8.tflite")["passed"]  # doctest: +SKIP
        True
    """
    path = os.fspath(path)
    manifest = read_manifest(path)
    samples = manifest["parity"]["samples"]
    if parity_data is None:
        inputs, labels = _default_data(model, "test", samples)
    else:
        inputs, labels = _as_arrays(parity_data, model, samples)
    feed = dict(zip(signature.input_names(model), inputs))
    reference = signature.keras_outputs(model, inputs)
    actual = _run_artifact(path, manifest["format"], feed, model.name, path)
    report = _gate(manifest["quantize"], reference, actual, manifest["model"]["task"], labels, switches=has_switches(model))
    report["sha256_matches"] = _sha256(path)[0] == manifest["sha256"]
    return report


def read_manifest(path) -> dict:
    with open(os.fspath(path) + ".json") as fh:
        return json.load(fh)


def inspect_artifact(path) -> dict:
    """Describe an exported artifact: inputs/outputs (quantization), op set, size."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"inspect: no artifact at {path!r}.")
    digest, size = _sha256(path)
    if os.path.isdir(path):
        info = {"format": "savedmodel", **savedmodel.describe(path)}
    elif path.endswith(".tflite"):
        with open(path, "rb") as fh:
            info = {"format": "tflite", **tflite.describe(fh.read())}
    elif path.endswith(".onnx"):
        info = {"format": "onnx", **onnx_export.describe(path)}
    else:
        raise ValueError(f"inspect: unknown artifact type {path!r}; expected a SavedModel directory, .tflite or .onnx.")
    info.update({"path": path, "size_bytes": size, "sha256": digest})
    return info
