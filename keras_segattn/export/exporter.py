"""``export()``: convert, verify against Keras, and only then write (artifact + manifest).

``export`` converts a Keras model with a backend of :data:`~keras_segattn.export.formats.BACKENDS`,
runs the artifact and the model on the same real inputs, and writes the
artifact and a JSON manifest beside it only if the parity gate passes, through
:mod:`keras_segattn.export.publish` (never over a user's files; the pair
changes as one unit). The gate of lossy formats is the model's Task's.

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

import keras
import numpy as np

from keras_segattn.export import publish, signature
from keras_segattn.export.formats import BACKENDS, FORMATS, backend, backend_for_path
from keras_segattn.export.parity import FLOAT_TOLERANCE, ParityError, compare_float
from keras_segattn.export.support import check_supported
from keras_segattn.validation import (
    check_bool,
    check_int_pair,
    check_number,
    check_positive_int,
    message,
)

__all__ = ["export", "verify_artifact", "inspect_artifact", "read_manifest", "summarize", "has_switches"]


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for dist in ("keras_segattn", "tensorflow", "keras", "tf2onnx", "onnxruntime", "ai-edge-litert", "numpy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


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
            f"export: parity_data must hold {len(model.inputs)} input array(s) for model {model.name!r}, "
            f"received {len(inputs)}."
        )
    return inputs, labels


def has_switches(model) -> bool:
    """Whether ``model`` (or a nested model) records argmax pooling switches."""
    from keras_segattn.layers import MaxPoolingWithArgmax2D

    if not isinstance(model, keras.Model):
        raise ValueError(message("has_switches", "model", "a keras.Model", model))
    return any(
        isinstance(layer, MaxPoolingWithArgmax2D) or (isinstance(layer, keras.Model) and has_switches(layer))
        for layer in model.layers
    )


def _run_artifact(artifact, fmt, feed, model_name, final_path, batch_size=None):
    """Run an artifact on named inputs; a runtime failure is a parity failure."""
    target = backend(fmt)
    try:
        return target.run(artifact, feed, batch_size=batch_size or 8)
    except Exception as error:
        # The runtimes' own failures (LiteRT raises RuntimeError; onnxruntime its Fail, InvalidGraph...,
        # which are not RuntimeErrors) mean the artifact cannot be verified; anything else is ours.
        if fmt == "savedmodel" or not (
            isinstance(error, RuntimeError) or type(error).__module__.startswith("onnxruntime")
        ):
            raise
        flex = []
        if fmt == "tflite":
            from keras_segattn.export import tflite

            with open(artifact, "rb") as fh:
                flex = tflite.op_set(fh.read())["flex"]
        raise ParityError(
            f"the {fmt} artifact of {model_name!r} could not be run in {target.runtime} "
            f"to check parity, so nothing was written to {final_path!r}"
            + (f" (it uses Flex ops {flex}; pip's LiteRT has no Flex delegate)" if flex else "")
            + f": {str(error).splitlines()[0][:300]}"
        ) from None


def _gate(quantize, reference, actual, task, labels, tolerance=None, switches=False):
    if quantize is None:
        return compare_float(
            reference, actual, tolerance if tolerance is not None else FLOAT_TOLERANCE, switches=switches
        )
    if task is None:
        raise ValueError(
            "export: a quantised export is judged on the model's task, which is unknown; pass task=... "
            "(a task name or a keras_segattn.tasks.Task)."
        )
    # Lossy formats are judged on the task (argmax agreement, metric drop);
    # their float errors are recorded beside.
    report = task.gate(reference, actual, labels)
    errors = compare_float(reference, actual, float("inf"))["outputs"]
    report["float_errors"] = {name: {k: v for k, v in e.items() if k != "passed"} for name, e in errors.items()}
    return report


def _task_data(task, model, split, count, argument):
    if task is None:
        raise ValueError(
            f"export: {argument} is needed: model {model.name!r} has no known task, so no embedded data. "
            "Pass it, or task=... (a task name or a keras_segattn.tasks.Task)."
        )
    try:
        return task.data(model, split, count)
    except NotImplementedError:
        raise ValueError(
            f"export: {argument} is needed: task {task.name!r} has no embedded data for {model.name!r}."
        ) from None


def _format_for_path(path, format):
    """``format``, or the one ``path``'s suffix names when ``format`` is None; a contradiction is refused."""
    if format is not None and format not in FORMATS:
        return format  # backend() refuses it with the list of formats
    if not isinstance(path, (str, os.PathLike)):
        return format or "savedmodel"  # publish.normalize refuses the path
    suffix = os.path.splitext(os.path.basename(os.fspath(path).rstrip("/" + os.sep)))[1].lower()
    by_suffix = {b.suffix: name for name, b in BACKENDS.items() if b.suffix}
    inferred = by_suffix.get(suffix, "savedmodel" if not suffix else None)
    if format is None:
        if inferred is None:
            raise ValueError(message(
                "export", "path", f"a {' or '.join(by_suffix)} file or a folder without a suffix (a SavedModel) when "
                "format is None (or pass format=...)", os.fspath(path)))
        return inferred
    if format == "savedmodel" and suffix in by_suffix:
        raise ValueError(message(
            "export", "path", f"a folder without a {suffix} suffix for format='savedmodel' (or pass "
            f"format={by_suffix[suffix]!r})", os.fspath(path)))
    return format


def _checked_input_size(model, input_size, format):
    """``input_size`` as ``(H, W)``: TFLite only, and only where the model's own size is dynamic or equal."""
    size = check_int_pair("export", "input_size", input_size)
    if format != "tflite":
        raise ValueError(message(
            "export", "input_size", f"None for format={format!r} (it keeps dynamic sizes; input_size fixes the "
            "size of a TFLite artifact)", input_size))
    for t in model.inputs:
        shape = tuple(t.shape)
        if len(shape) == 4:
            fixed = tuple(shape[1:3])
            if any(d is not None and d != s for d, s in zip(fixed, size)):
                raise ValueError(message(
                    "export", "input_size", f"None or {fixed} for model {model.name!r} (its input size is fixed)",
                    input_size))
    return size


def _at_input_size(inputs, labels, size, embedded, argument="parity_data"):
    """Images (4-D float arrays) at ``size``: embedded data is resized (labels by nearest neighbour),
    user data of another size is refused."""
    import tensorflow as tf

    out = []
    for x in inputs:
        if x.ndim == 4 and tuple(x.shape[1:3]) != size:
            if not embedded:
                raise ValueError(message(
                    "export", "input_size", f"the spatial size of {argument} {tuple(x.shape[1:3])} (or pass "
                    f"{argument} at that size)", tuple(size)))
            x = tf.image.resize(x.astype(np.float32), size).numpy().astype(x.dtype)
        out.append(x)
    if labels is not None and np.ndim(labels) == 3 and tuple(np.shape(labels)[1:3]) != size:
        labels = tf.image.resize(np.asarray(labels)[..., None], size, method="nearest").numpy()[..., 0]
    return out, labels


def export(
    model,
    path,
    format=None,
    quantize=None,
    representative_data=None,
    *,
    parity_data=None,
    parity_samples=32,
    input_size=None,
    batch_size=None,
    allow_flex=False,
    tolerance=None,
    task=None,
    overwrite=False,
    verbose=True,
):
    """Export ``model`` to ``path`` and verify it; returns the manifest dict.

    Args:
        model: a Keras model (e.g. from ``build_model``).
        path: artifact path: a directory for ``"savedmodel"``, ``*.tflite`` or
            ``*.onnx`` otherwise. The manifest goes to ``path + ".json"``.
            An existing path is replaced only if it is an artifact this
            library wrote and ``overwrite=True``; anything else is refused.
        format: ``"savedmodel"``, ``"tflite"`` or ``"onnx"``; default ``None``: from
            ``path``'s suffix (``.tflite``, ``.onnx``, none: a SavedModel folder). A
            suffix that contradicts ``format``, or an unknown one, is a ``ValueError``.
        quantize: TFLite only: ``None`` (float32), ``"float16"``,
            ``"dynamic"`` or ``"int8"``.
        representative_data: int8 calibration inputs (array, ``(inputs,
            labels)`` or ``tf.data.Dataset``); defaults to the task's
            embedded training data.
        parity_data: inputs (optionally with labels) for the parity check;
            defaults to the embedded test data of the model's task. NaN/Inf
            inputs are refused.
        parity_samples: how many examples the check runs.
        input_size: ``(H, W)`` fixed for TFLite where the model's spatial size
            is dynamic (default: the parity data's size). The embedded parity
            and calibration images are resized to it (labels by nearest
            neighbour); ``parity_data`` of another size is refused. SavedModel
            and ONNX keep dynamic sizes, so ``input_size`` applies to TFLite
            only; a model of fixed size takes only its own size.
        batch_size: TFLite and ONNX: fix the batch dimension of every input
            (default ``None``: dynamic). Runtimes that cannot resize an input
            need it: LiteRT.js (TFLite in the browser) rejects ``[-1, H, W,
            3]`` and runs ``[1, H, W, 3]``. The parity gate then runs the
            artifact at exactly this batch (on the largest multiple of it
            among the ``parity_samples`` examples, at least one batch), and
            the manifest records it.
        allow_flex: TFLite: accept TensorFlow (Flex) ops. Refused by default.
        tolerance: the float gate's tolerance (max abs error / output scale)
            for SavedModel, ONNX and TFLite float32; default ``FLOAT_TOLERANCE``
            (1e-5). Float16, dynamic-range and int8 TFLite are judged by the
            task (:meth:`keras_segattn.tasks.Task.gate`).
        task: a task name or :class:`~keras_segattn.tasks.Task`; default: the
            task the model carries (``build_model``'s models, renamed or
            reloaded), else the registry entry of ``model.name``.
        overwrite: replace an artifact this library wrote at ``path``.
        verbose: print a one-line parity summary.

    Raises:
        ValueError: bad arguments (format, quantisation, path, data); a
            target that is not ours (``publish.TargetRefused``).
        FlexOpsRequired: TFLite needs Flex ops and ``allow_flex`` is False.
        UnsupportedTarget: the model's family lists this target as
            unsupported (with the reason).
        ParityError: the artifact does not reproduce Keras; nothing is written.
    """
    from keras_segattn.tasks import check_finite, spec_of, task_of

    if not isinstance(model, keras.Model):
        raise TypeError(f"export: model must be a keras.Model, received {type(model).__name__}.")
    format = _format_for_path(path, format)
    target = backend(format)
    if quantize is not None and format != "tflite":
        raise ValueError(
            f"export: quantize applies to format='tflite' only, received quantize={quantize!r} with format={format!r}."
        )
    if quantize not in target.quantizations:
        raise ValueError(
            f"export: quantize must be one of None, 'float16', 'dynamic', 'int8', received {quantize!r}."
        )
    check_positive_int("export", "parity_samples", parity_samples)
    for flag, value in (("allow_flex", allow_flex), ("overwrite", overwrite)):
        check_bool("export", flag, value)
    if tolerance is not None:
        check_number("export", "tolerance", tolerance, minimum=0, exclusive_minimum=True)
    if input_size is not None:
        input_size = _checked_input_size(model, input_size, format)
    if batch_size is not None:
        check_positive_int("export", "batch_size", batch_size)
        if format == "savedmodel":
            raise ValueError(
                "export: batch_size applies to format='tflite' or 'onnx' (runtimes that cannot resize inputs); "
                f"a SavedModel serves any batch, received batch_size={batch_size!r} with format='savedmodel'."
            )
    path = publish.normalize(path)
    if target.suffix and not path.endswith(target.suffix):
        raise ValueError(
            f"export: path must end in {target.suffix} for format={format!r}, received {path!r}."
        )
    manifest_path = path + ".json"
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise ValueError(f"export: output path {path!r} is not writable: cannot create {parent!r} ({error.strerror}).") from None
    if not os.access(parent, os.W_OK):
        raise ValueError(f"export: output path {path!r} is not writable: no write permission on {parent!r}.")
    publish.recover(path, manifest_path)
    publish.check_target(path, manifest_path=manifest_path, directory=target.suffix is None, overwrite=overwrite)
    spec = spec_of(model)
    check_supported(spec, model.name, format, quantize)
    task = task_of(model, task, required=False)
    model_task_name = getattr(model, "task_name", None)
    model = signature.inference_copy(model)

    if parity_data is None:
        parity_inputs, parity_labels = _task_data(task, model, "test", parity_samples, "parity_data")
        source = "embedded test data"
    else:
        parity_inputs, parity_labels = _as_arrays(parity_data, model, parity_samples)
        source = "user data"
    if input_size is not None:
        parity_inputs, parity_labels = _at_input_size(parity_inputs, parity_labels, input_size, parity_data is None)
    check_finite(parity_inputs, "export: parity_data")
    if batch_size is not None:
        usable = len(parity_inputs[0]) // batch_size * batch_size
        if not usable:
            raise ValueError(
                f"export: batch_size={batch_size} needs at least {batch_size} parity examples, received "
                f"{len(parity_inputs[0])} (raise parity_samples or pass more parity_data)."
            )
        parity_inputs = [x[:usable] for x in parity_inputs]
        parity_labels = None if parity_labels is None else parity_labels[:usable]
    if quantize == "int8":
        if representative_data is None:
            rep_inputs, _ = _task_data(task, model, "train", 128, "representative_data")
        else:
            rep_inputs, _ = _as_arrays(representative_data, model, 256)
        if input_size is not None:
            rep_inputs, _ = _at_input_size(rep_inputs, None, input_size, representative_data is None,
                                           "representative_data")
        check_finite(rep_inputs, "export: representative_data")
        # Images calibrate as float32 (the converter's float graph); integer
        # inputs such as token ids keep their dtype.
        step = batch_size or 1  # calibration batches must have the artifact's batch
        representative = [
            [
                x[i : i + step] if np.issubdtype(x.dtype, np.integer) else x[i : i + step].astype(np.float32)
                for x in rep_inputs
            ]
            for i in range(0, len(rep_inputs[0]) - step + 1, step)
        ]
    else:
        representative = None

    spatial = tuple(input_size) if input_size else tuple(parity_inputs[0].shape[1:3]) if parity_inputs[0].ndim == 4 else None
    specs = signature.input_specs(model, spatial if format == "tflite" else None, batch_size)
    function = signature.serving_function(model, specs)
    feed = dict(zip(signature.input_names(model), parity_inputs))
    reference = signature.keras_outputs(model, parity_inputs)
    check_finite(list(reference.values()), f"export: the Keras outputs of {model.name!r} on parity_data")

    with publish.Staging(path, manifest_path) as staging:
        target.write(model, function, specs, staging.artifact, quantize, representative, allow_flex)
        actual = _run_artifact(staging.artifact, format, feed, model.name, path, batch_size)
        details = target.describe(staging.artifact)
        report = _gate(quantize, reference, actual, task, parity_labels, tolerance, has_switches(model))
        report.update({"samples": int(len(parity_inputs[0])), "source": source, "batch_size": batch_size})
        if not report["passed"]:
            raise ParityError(
                f"{format}{'/' + quantize if quantize else ''} export of {model.name!r} failed the parity "
                f"gate; nothing was written to {path!r}. Report: {json.dumps(report, default=float)}"
            )
        digest, size = publish.sha256_of(staging.artifact)
        manifest = {
            "artifact": os.path.basename(path),
            "format": format,
            "quantize": quantize,
            "model": {
                "name": model.name,
                "registered": spec is not None,
                "registered_name": spec.name if spec else None,
                "family": spec.family if spec else None,
                "task": task.name if task else model_task_name,
                "parameters": int(model.count_params()),
                "class_names": None if task is None else task.class_names(model),
                "config_sha256": hashlib.sha256(model.to_json().encode()).hexdigest(),
            },
            **details,
            "batch_size": batch_size,
            "size_bytes": size,
            "sha256": digest,
            "parity": report,
            "versions": _versions(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        staging.publish(manifest)
    if verbose:
        print(summarize(manifest))
    return manifest


def summarize(manifest: dict) -> str:
    """One line: artifact, size and the parity numbers."""
    needed = ("artifact", "format", "quantize", "size_bytes", "parity")
    if not isinstance(manifest, dict) or any(k not in manifest for k in needed):
        raise ValueError(message("summarize", "manifest", f"an export manifest (a dict with {', '.join(needed)})",
                                 manifest))
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


def verify_artifact(model, path, *, parity_data=None, task=None) -> dict:
    """Re-run the parity gate of an existing artifact against ``model`` today.

    Uses the manifest beside ``path`` (format, quantisation, sample count, task)
    and, unless ``parity_data`` is given, the same embedded test data. Returns
    the gate report with ``sha256_matches`` (the bytes are the ones the
    manifest describes) added; ``report["passed"]`` holds only if both the
    gate and the checksum hold. An artifact without a manifest is unverified:
    a ``ValueError`` says so.

    Example:
        >>> import keras, keras_segattn as ksa
        >>> from keras_segattn.export import verify_artifact
        >>> model = keras.saving.load_model("saved_models/deconvnet_tiny.keras")  # doctest: +SKIP
        >>> verify_artifact(model, "tflite/deconvnet_tiny_int8.tflite")["passed"]  # doctest: +SKIP
        True
    """
    from keras_segattn.tasks import check_finite, task_of

    path = publish.normalize(path)
    manifest = read_manifest(path)
    task = task_of(model, task or manifest["model"].get("task"), required=False)
    samples = manifest["parity"]["samples"]
    if parity_data is None:
        inputs, labels = _task_data(task, model, "test", samples, "parity_data")
    else:
        inputs, labels = _as_arrays(parity_data, model, samples)
    check_finite(inputs, "verify_artifact: parity_data")
    batch_size = manifest.get("batch_size")
    if batch_size:
        usable = max(len(inputs[0]) // batch_size * batch_size, batch_size)
        inputs = [x[:usable] for x in inputs]
        labels = None if labels is None else labels[:usable]
    feed = dict(zip(signature.input_names(model), inputs))
    reference = signature.keras_outputs(model, inputs)
    actual = _run_artifact(path, manifest["format"], feed, model.name, path, batch_size)
    report = _gate(manifest["quantize"], reference, actual, task, labels, switches=has_switches(model))
    report["sha256_matches"] = publish.sha256_of(path)[0] == manifest["sha256"]
    report["passed"] = bool(report["passed"] and report["sha256_matches"])
    return report


def read_manifest(path) -> dict:
    """The manifest beside ``path``; a missing or foreign one means the artifact is unverified."""
    path = publish.normalize(path)
    manifest_path = path + ".json"
    if not os.path.exists(manifest_path):
        raise ValueError(
            f"{path!r} is unverified: there is no manifest {manifest_path!r} beside it (an export may have "
            "been interrupted, or the file was not written by keras_segattn). Export it again."
        )
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    if manifest.get("artifact") != os.path.basename(path):
        raise ValueError(
            f"{path!r} is unverified: its manifest {manifest_path!r} describes {manifest.get('artifact')!r}."
        )
    return manifest


def inspect_artifact(path) -> dict:
    """Describe an exported artifact: inputs/outputs (quantization), op set, size, and whether
    its manifest vouches for it (``verified``; ``verification`` says why not)."""
    path = publish.normalize(path)
    if not os.path.exists(path):
        raise ValueError(f"inspect: path must be an exported artifact, received {path!r} (it does not exist).")
    fmt = backend_for_path(path)
    digest, size = publish.sha256_of(path)
    info = {"format": fmt.name, **fmt.describe(path)}
    info.update({"path": path, "size_bytes": size, "sha256": digest})
    try:
        manifest = read_manifest(path)
    except ValueError as error:
        info.update(verified=False, verification=str(error))
        return info
    if manifest.get("sha256") != digest:
        info.update(
            verified=False,
            verification=f"{path!r} is unverified: its bytes differ from what its manifest describes (sha256).",
        )
    else:
        info.update(verified=bool(manifest["parity"]["passed"]), verification="manifest sha256 matches; parity passed")
    return info
