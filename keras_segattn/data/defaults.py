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


def translation_data(model, split, count, seed=0):
    """Embedded Spanish -> English pairs encoded for a ``bahdanau_nmt`` model: ``([tokens], labels)``."""
    from keras_segattn.data.translation import spanish_english_arrays, translation_vocabulary

    max_length = int(model.inputs[0].shape[-1])
    source, target = translation_vocabulary()
    for side, layer, needed in (
        ("source", "source_embedding", len(source) + 2),
        ("target", "target_embedding", len(target) + 2),
    ):
        size = model.get_layer(layer).input_dim
        if size < needed:
            raise ValueError(
                f"default data: model {model.name!r} has a {side} vocabulary of {size} ids but the embedded "
                f"Spanish -> English corpus needs {needed}; build it with {side}_vocab_size >= {needed} "
                "or pass parity_data explicitly."
            )
    inputs, labels, _ = spanish_english_arrays(split, count, max_length=max_length, seed=seed)
    return [inputs], labels


def classification_data(model, split, count, seed):
    """Distorted digits (RTS family) at the model's input size; grey repeated for 3 channels."""
    from keras_segattn.data.distorted_digits import distorted_digits_arrays

    shape = model.inputs[0].shape
    size = shape[1] or 42
    if shape[2] is not None and shape[2] != size:
        raise ValueError(f"default data: non-square model input {tuple(shape)} needs user data.")
    channels = shape[3] if shape[3] in (1, 3) else None
    if channels is None:
        raise ValueError(f"default data: model input {tuple(shape)} must have 1 or 3 channels.")
    num_classes = max(2, min(int(model.outputs[0].shape[-1]), 10))
    images, labels = distorted_digits_arrays(
        split, count, family="RTS", image_size=size, num_classes=num_classes, channels=channels, seed=seed
    )
    return [images.astype(np.float32)], labels.astype(np.int32)


_BY_TASK = {
    "semantic_segmentation": _segmentation,
    "translation": translation_data,
    "image_classification": classification_data,
}


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
