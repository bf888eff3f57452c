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
