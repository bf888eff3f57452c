"""The parity gate: an exported artifact must reproduce Keras on the same inputs.

Float exports (SavedModel, ONNX, TFLite float32) are compared output by output:
the largest absolute difference divided by the output's scale (its largest
absolute Keras value) must be within ``FLOAT_TOLERANCE``. Lossy exports
(TFLite float16, dynamic-range, int8) are judged by the model's Task
(:meth:`keras_segattn.tasks.Task.gate`): by default argmax agreement with Keras
of at least ``MIN_AGREEMENT`` and, where labels are given, a drop of the task's
metric (mean IoU for segmentation, accuracy for classification) of at most
``MAX_METRIC_DROP`` points (0-100 scale); their float errors are recorded.

Models with argmax pooling switches (DeconvNet) are not continuous: where the
two largest activations of a pooling window differ by less than float rounding,
another runtime may pick the other position and move that value by one pixel,
changing the output around it. Measured on the trained demo DeconvNet's ONNX
export: 1 of 100 held-out images, with 4 windows whose top two activations were
within 1e-5 of each other, and identical class predictions everywhere. Their
float gate therefore exempts up to ``OUTLIER_FRACTION`` of the examples (at least
one) if the class argmax agrees on ``SWITCH_MIN_AGREEMENT`` of all positions;
every other example must meet ``FLOAT_TOLERANCE`` (see ``compare_float``).
"""

from __future__ import annotations

import numpy as np

FLOAT_TOLERANCE = 1e-5
OUTLIER_FRACTION = 0.02
SWITCH_MIN_AGREEMENT = 0.999
MIN_AGREEMENT = 0.95
MAX_METRIC_DROP = 1.0

__all__ = [
    "FLOAT_TOLERANCE",
    "OUTLIER_FRACTION",
    "SWITCH_MIN_AGREEMENT",
    "MIN_AGREEMENT",
    "MAX_METRIC_DROP",
    "ParityError",
    "mean_iou",
    "compare_float",
    "argmax_gate",
    "compare_task",
    "compare_translation",
]


class ParityError(RuntimeError):
    """An exported artifact does not reproduce the Keras model; nothing was written."""


def mean_iou(labels: np.ndarray, predictions: np.ndarray, num_classes: int, void_label=255) -> float:
    """Mean IoU over classes present in labels or predictions (NumPy, independent of Keras)."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    predictions = np.asarray(predictions).reshape(-1).astype(np.int64)
    keep = labels != void_label if void_label is not None else np.ones_like(labels, bool)
    cm = np.bincount(
        labels[keep] * num_classes + predictions[keep], minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean()) if present.any() else 0.0


def _accuracy(labels, predictions, void_label=255):
    labels = np.asarray(labels).reshape(-1)
    predictions = np.asarray(predictions).reshape(-1)
    keep = labels != void_label
    return float((labels[keep] == predictions[keep]).mean()) if keep.any() else 0.0


def max_outlier_examples(count: int) -> int:
    """Examples a switch-flip-tolerant gate may exempt: 2% of them, at least one."""
    return max(1, int(np.ceil(OUTLIER_FRACTION * count)))


def compare_float(reference: dict, actual: dict, tolerance: float, *, switches: bool = False) -> dict:
    """Per-output max abs / relative error; ``passed`` iff every relative error <= tolerance.

    With ``switches=True`` (models with argmax pooling switches, whose outputs
    jump where two activations of a pooling window are within rounding of each
    other) up to :func:`max_outlier_examples` examples may exceed the tolerance,
    provided the class argmax agrees on at least ``SWITCH_MIN_AGREEMENT`` of
    all positions; every other example must be within the tolerance. The
    exempted examples and their errors are reported.
    """
    report = {"kind": "float", "tolerance": tolerance, "outputs": {}}
    if switches:
        report["switches"] = True
    passed = True
    for name, ref in reference.items():
        if name not in actual:
            raise ParityError(f"the artifact has no output {name!r}; it has {sorted(actual)}.")
        got = np.asarray(actual[name])
        ref = np.asarray(ref)
        if got.shape != ref.shape:
            raise ParityError(
                f"output {name!r}: artifact shape {got.shape} differs from Keras {ref.shape}."
            )
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        max_abs = float(diff.max()) if diff.size else 0.0
        relative = max_abs / max(scale, 1e-12)
        ok = bool(np.isfinite(relative) and relative <= tolerance)
        entry = {
            "max_abs_error": max_abs,
            "mean_abs_error": float(diff.mean()) if diff.size else 0.0,
            "output_scale": scale,
            "relative_error": relative,
        }
        if switches and not ok and ref.ndim >= 2 and len(ref):
            per_example = diff.reshape(len(ref), -1).max(axis=1) / max(scale, 1e-12)
            outliers = np.nonzero(~(per_example <= tolerance))[0]
            agreement = float((ref.argmax(-1) == got.argmax(-1)).mean())
            inliers = np.delete(per_example, outliers)
            entry.update(
                {
                    "examples_over_tolerance": outliers.tolist(),
                    "max_outlier_examples": max_outlier_examples(len(ref)),
                    "inlier_relative_error": float(inliers.max()) if inliers.size else 0.0,
                    "argmax_agreement": agreement,
                }
            )
            ok = bool(
                len(outliers) <= max_outlier_examples(len(ref))
                and agreement >= SWITCH_MIN_AGREEMENT
                and np.all(np.isfinite(per_example))
            )
        entry["passed"] = ok
        passed &= ok
        report["outputs"][name] = entry
    report["passed"] = passed
    return report


def _argmax_agreement(reference: dict, actual: dict, min_agreement: float, positions=None):
    """Start of every task gate: the first output's argmax, Keras vs artifact.

    Returns both argmax arrays and the report's common fields; the agreement
    counts only ``positions`` (a boolean mask) when given, 1.0 where it is empty.
    """
    name = next(iter(reference))
    ref = np.asarray(reference[name])
    got = np.asarray(actual[name])
    if got.shape != ref.shape:
        raise ParityError(f"output {name!r}: artifact shape {got.shape} differs from Keras {ref.shape}.")
    ref_cls, got_cls = ref.argmax(-1), got.argmax(-1)
    same = ref_cls == got_cls
    if positions is not None:
        same = same[positions]
    report = {
        "kind": "task",
        "output": name,
        "argmax_agreement": float(same.mean()) if same.size else 1.0,
        "min_agreement": min_agreement,
        "max_abs_error": float(np.abs(got.astype(np.float64) - ref).max()),
        "output_scale": float(np.abs(ref).max()),
    }
    return ref_cls, got_cls, report


def argmax_gate(
    reference: dict,
    actual: dict,
    labels=None,
    *,
    metric: str = "accuracy",
    score=None,
    num_classes: int | None = None,
    min_agreement: float | None = None,
    max_metric_drop: float | None = None,
) -> dict:
    """Quantised-export gate on the first output's argmax (class scores).

    The argmax agreement with Keras must reach ``min_agreement``; with
    ``labels``, ``score(labels, argmax, num_classes)`` (0-1, e.g. mean IoU)
    of the artifact may be at most ``max_metric_drop`` points below Keras'.
    """
    min_agreement = MIN_AGREEMENT if min_agreement is None else min_agreement
    max_metric_drop = MAX_METRIC_DROP if max_metric_drop is None else max_metric_drop
    ref_cls, got_cls, report = _argmax_agreement(reference, actual, min_agreement)
    passed = report["argmax_agreement"] >= min_agreement
    if labels is not None:
        num_classes = num_classes or np.shape(reference[report["output"]])[-1]
        score = score or (lambda y, p, n: _accuracy(y, p))
        keras_value, artifact_value = score(labels, ref_cls, num_classes), score(labels, got_cls, num_classes)
        drop = 100.0 * (keras_value - artifact_value)
        report.update(
            {
                "metric": metric,
                "keras": keras_value,
                "artifact": artifact_value,
                "drop_points": drop,
                "max_metric_drop": max_metric_drop,
            }
        )
        passed &= drop <= max_metric_drop
    report["passed"] = bool(passed)
    return report


def compare_task(reference: dict, actual: dict, *, task, labels: np.ndarray | None = None, **limits) -> dict:
    """The quantised-export gate of ``task`` (a name or a :class:`~keras_segattn.tasks.Task`)."""
    from keras_segattn.tasks import get_task

    return get_task(task).gate(reference, actual, labels, **limits)


def compare_translation(
    reference: dict,
    actual: dict,
    *,
    labels: np.ndarray | None = None,
    min_agreement: float | None = None,
    max_metric_drop: float | None = None,
    pad_id: int = 0,
) -> dict:
    """Quantised-export gate of a teacher-forced translation model (first output: token logits).

    Argmax-token agreement with Keras over the real target positions (labels
    != ``pad_id``; all positions without labels) must reach ``min_agreement``;
    with labels, the drops of token accuracy and of sentence exact match (every
    real token right) must each stay within ``max_metric_drop`` points.
    """
    min_agreement = MIN_AGREEMENT if min_agreement is None else min_agreement
    max_metric_drop = MAX_METRIC_DROP if max_metric_drop is None else max_metric_drop
    real = None if labels is None else np.asarray(labels) != pad_id
    ref_tokens, got_tokens, report = _argmax_agreement(reference, actual, min_agreement, real)
    if real is None:
        real = np.ones(ref_tokens.shape, bool)
    passed = report["argmax_agreement"] >= min_agreement
    if labels is not None:
        labels = np.asarray(labels)

        def scores(tokens):
            hit = (tokens == labels) | ~real
            return float(hit[real].mean()) if real.any() else 1.0, float(hit.all(axis=-1).mean())

        keras_accuracy, keras_exact = scores(ref_tokens)
        artifact_accuracy, artifact_exact = scores(got_tokens)
        accuracy_drop = 100.0 * (keras_accuracy - artifact_accuracy)
        exact_drop = 100.0 * (keras_exact - artifact_exact)
        report.update(
            {
                "metric": "exact_match",
                "keras": keras_exact,
                "artifact": artifact_exact,
                "drop_points": exact_drop,
                "token_accuracy_keras": keras_accuracy,
                "token_accuracy_artifact": artifact_accuracy,
                "token_accuracy_drop_points": accuracy_drop,
                "max_metric_drop": max_metric_drop,
            }
        )
        passed &= exact_drop <= max_metric_drop and accuracy_drop <= max_metric_drop
    report["passed"] = bool(passed)
    return report
