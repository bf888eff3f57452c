"""A model's embedded data, from its Task (used by exporters and tools when the user gives none)."""

from __future__ import annotations


def default_data(model, split="test", count=32, seed=0, task=None):
    """``(inputs list, labels or None)``: ``count`` examples of ``model``'s task.

    The task is ``task`` when given, else the one the model carries or its
    registry entry's (:func:`keras_segattn.tasks.task_of`).
    """
    from keras_segattn.tasks import task_of

    return task_of(model, task).data(model, split, count, seed)
