"""Each task's embedded data, used by exporters and tools when the user gives none."""

from __future__ import annotations

import numpy as np

from keras_segattn.data.synthetic_shapes import SHAPES, synthetic_shapes_arrays


def _segmentation(model, split, count, seed):
    shape = model.inputs[0].shape
    size = shape[1] or 64
    num_classes = min(int(model.outputs[0].shape[-1]), len(SHAPES) + 1)
    images, labels = synthetic_shapes_arrays(
        split, count, image_size=size, num_classes=max(num_classes, 2), seed=seed
    )
    if shape[2] is not None and shape[2] != size:
        raise ValueError(f"default data: non-square model input {tuple(shape)} needs user data.")
    return [images.astype(np.float32)], labels.astype(np.int32)


_BY_TASK = {"semantic_segmentation": _segmentation}


def default_data(model, split="test", count=32, seed=0):
    """``(inputs list, labels or None)``: ``count`` examples of ``model``'s task.

    The task comes from the registry entry of ``model.name``.
    """
    from keras_segattn.registry import _REGISTRY, _ensure_models_imported

    _ensure_models_imported()
    spec = _REGISTRY.get(model.name)
    if spec is None or spec.task not in _BY_TASK:
        raise ValueError(
            f"No embedded data is known for model {model.name!r} "
            f"(task {spec.task if spec else 'unknown'!r}); pass parity_data (and, for int8, "
            "representative_data) explicitly."
        )
    return _BY_TASK[spec.task](model, split, count, seed)
