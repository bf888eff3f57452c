"""``TaskModel``: a functional ``keras.Model`` that remembers which task it solves."""

from __future__ import annotations

import keras

__all__ = ["TaskModel"]


@keras.saving.register_keras_serializable(package="keras_segattn")
class TaskModel(keras.Model):
    """A functional model whose config holds its task's name.

    ``build_model`` returns one, so a model keeps its task when the user
    renames it, and a reloaded ``.keras`` file still knows it: export picks the
    right gate and default data, the CLI the right train / evaluate / predict.
    Everything else is a plain functional model (same layers, weights, graph);
    ``keras.Model(model.inputs, model.outputs)`` of it is a plain model again
    (the task is then looked up by name in the registry, or given explicitly).

    Args:
        inputs, outputs, name: as for ``keras.Model``.
        task: the task's registered name (``"semantic_segmentation"``) or a
            :class:`~keras_segattn.tasks.Task`.
        registered_name: the registry name it was built from (``"fcn8s_tiny"``),
            which keeps its family and export notes after a rename.

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("fcn8s_tiny")
        >>> model.name = "my_segmenter"
        >>> model.task.name
        'semantic_segmentation'
    """

    # *args/**kwargs keep Keras' functional revival path (from_config, clone_model).
    def __init__(self, *args, task=None, registered_name=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task_name = getattr(task, "name", task)
        self.registered_name = registered_name

    def __call__(self, *args, **kwargs):
        # Keras' functional models check the rank only (a 1-channel image broadcast
        # silently through a 3-channel model; an empty image reached a TF op's error).
        # Checked here, before Layer.__call__ wraps errors of call() in its own text;
        # static shapes only, so traced graphs and exports carry no check.
        inputs = args[0] if args else kwargs.get("inputs")
        if inputs is not None:
            for reference, x in _paired_inputs(self, inputs):
                _check_input_shape(self.name, reference, x)
                _check_ids(self.name, reference, x)
        try:
            return super().__call__(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - re-raised as it is unless an id is out of range
            explained = _index_error(self, error)
            if explained is None:
                raise
            raise explained from None

    def predict(self, *args, **kwargs):
        try:
            return super().predict(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - re-raised as it is unless an id is out of range
            explained = _index_error(self, error)
            if explained is None:
                raise
            raise explained from None

    @property
    def task(self):
        """The :class:`~keras_segattn.tasks.Task` object (``None`` when unknown)."""
        from keras_segattn.tasks import get_task

        return get_task(self.task_name) if self.task_name else None

    def get_config(self):
        config = super().get_config()
        config["task"] = self.task_name
        config["registered_name"] = self.registered_name
        return config


def _paired_inputs(model, inputs):
    """``(model input, given tensor)`` pairs; none where the structures do not match
    (Keras' own structure check then speaks)."""
    refs = model._inputs
    if isinstance(inputs, dict):
        struct = model._inputs_struct
        if isinstance(struct, dict):
            names = list(keras.tree.flatten({k: k for k in struct}))
        else:
            names = [ref.name for ref in refs]
        flat = [inputs.get(name) for name in names] if all(n in inputs for n in names) else []
    elif isinstance(inputs, (list, tuple)):
        flat = list(keras.tree.flatten(inputs))
    else:
        flat = [inputs]
    if len(flat) != len(refs):
        return []
    return [(ref, x) for ref, x in zip(refs, flat) if hasattr(x, "shape")]


def _check_input_shape(model_name, reference, x):
    """``x``'s static shape matches the model input ``reference`` where both are known
    (rank included), and has no zero-sized dimension past the batch."""
    from keras_segattn.validation import message

    expected = tuple(reference.shape)
    try:
        actual = tuple(None if d is None else int(d) for d in x.shape)
    except (TypeError, ValueError):  # unknown rank
        return
    if (len(actual) == len(expected) + 1 and actual[-1] == 1) or (
        len(expected) == len(actual) + 1 and expected[-1] == 1
    ):
        return  # a trailing axis of 1 that Keras adds or squeezes itself
    wrong = len(expected) != len(actual) or any(
        e is not None and a is not None and e != a for e, a in zip(expected[1:], actual[1:])
    )
    if wrong or any(a == 0 for a in actual[1:]):
        shown = "(batch, " + ", ".join("any" if e is None else str(e) for e in expected[1:]) + ")"
        raise ValueError(
            message(model_name, f"input {reference.name!r}", f"of shape {shown} with no empty dimension",
                    f"shape {actual}")
        )


def _index_error(model, error):
    """A ``ValueError`` naming the model's integer input for TensorFlow's "indices[..] = 9999
    is not in [0, 246)" (an id beyond an embedding's vocabulary, on CPU), else ``None``."""
    import re

    from keras_segattn.validation import message

    found = re.search(r"indices\[[^\]]*\] = (-?\d+) is not in \[0, (\d+)\)", str(error))
    if not found:
        return None
    names = [ref.name for ref in model._inputs if "int" in str(ref.dtype)] or [ref.name for ref in model._inputs]
    argument = "input " + " or ".join(repr(n) for n in names)
    expected = f"ids in [0, {found.group(2)}) (the vocabulary size of the embedding they index)"
    return ValueError(message(model.name, argument, expected, int(found.group(1))))


def _check_ids(model_name, reference, x):
    """Concrete integer inputs (NumPy arrays, eager tensors) hold no negative id: Keras'
    embedding lookup wraps -1 around to the last row of the vocabulary without a word."""
    import numpy as np

    from keras_segattn.validation import message

    if "int" not in str(reference.dtype):
        return
    if not isinstance(x, np.ndarray):
        if not hasattr(x, "numpy") or type(x).__name__ != "EagerTensor":
            return
        x = x.numpy()
    if np.issubdtype(x.dtype, np.integer) and x.size and x.min() < 0:
        raise ValueError(message(model_name, f"input {reference.name!r}", "ids >= 0", int(x.min())))
