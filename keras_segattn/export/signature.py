"""The serving function every exporter converts: named inputs in, named outputs out."""

from __future__ import annotations

import copy

import keras
import numpy as np
import tensorflow as tf


def inference_copy(model):
    """``model`` without its optimizer (same architecture and weights), for saving and export.

    A compiled model drags its optimizer slots into ``.keras`` files and
    SavedModels (three times the weights with Adam); ``keras.models.clone_model``
    keeps the compile state, so the copy is rebuilt from the config.
    """
    if getattr(model, "optimizer", None) is None:
        return model
    clone = type(model).from_config(copy.deepcopy(model.get_config()))
    clone.set_weights(model.get_weights())
    return clone


def input_names(model) -> list[str]:
    return [t.name.split(":")[0] for t in model.inputs]


def output_names(model) -> list[str]:
    """Output names: the dict keys for dict outputs, else the output layers' names."""
    if isinstance(model.output, dict):
        return list(model.output)
    names = []
    for t in model.outputs:
        history = getattr(t, "_keras_history", None)
        names.append(history.operation.name if history is not None else t.name)
    if len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(names))]
    return names


def input_specs(model, spatial: tuple | None = None, batch_size: int | None = None) -> list[tf.TensorSpec]:
    """TensorSpecs of the model inputs, with a dynamic batch unless ``batch_size`` fixes it.

    ``spatial`` replaces ``None`` spatial dimensions of 4-D image inputs (TFLite
    runs faster and quantises better with static sizes). A fixed batch is for
    runtimes that cannot resize an input (LiteRT.js, some NPU delegates).
    """
    specs = []
    for name, t in zip(input_names(model), model.inputs):
        shape = list(t.shape)
        shape[0] = batch_size
        if spatial is not None and len(shape) == 4:
            shape[1] = shape[1] if shape[1] is not None else spatial[0]
            shape[2] = shape[2] if shape[2] is not None else spatial[1]
        specs.append(tf.TensorSpec(shape, tf.as_dtype(t.dtype), name=name))
    return specs


def serving_function(model, specs: list[tf.TensorSpec]):
    """A ``tf.function`` taking the inputs as keyword arguments, returning a dict of outputs."""
    names = output_names(model)

    def serve(*args):
        outputs = model(list(args) if len(args) > 1 else args[0], training=False)
        if isinstance(outputs, dict):
            return {k: outputs[k] for k in names}
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(names, outputs))

    return tf.function(serve, input_signature=specs, autograph=False)


def keras_outputs(model, inputs: list[np.ndarray], batch_size: int = 8) -> dict[str, np.ndarray]:
    """The model's outputs on ``inputs`` as a dict of NumPy arrays (inference mode)."""
    names = output_names(model)
    results = {n: [] for n in names}
    count = len(inputs[0])
    for start in range(0, count, batch_size):
        batch = [x[start : start + batch_size] for x in inputs]
        out = model(batch if len(batch) > 1 else batch[0], training=False)
        if isinstance(out, dict):
            out = [out[n] for n in names]
        out = out if isinstance(out, (list, tuple)) else [out]
        for n, o in zip(names, out):
            results[n].append(keras.ops.convert_to_numpy(o))
    return {n: np.concatenate(v) for n, v in results.items()}
