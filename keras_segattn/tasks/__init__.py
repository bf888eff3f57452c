"""Task objects: one per task; they carry everything that differs between tasks.

- :class:`Task`: the base class (data, compile recipe, export gate, plot, CLI);
- :class:`SemanticSegmentation`, :class:`ImageClassification`,
  :class:`Translation`: the tasks of the families on main;
- :func:`register_task` / :func:`get_task` / :func:`list_tasks`: the task
  registry (a family adding a task registers it once);
- :func:`task_of`: a model's task (explicit, carried by the model, or its
  registry entry);
- :class:`TaskModel`: the functional model class that carries its task.

Example:
    >>> import keras_segattn as ksa
    >>> from keras_segattn.tasks import task_of
    >>> task_of(ksa.build_model("deconvnet_tiny")).name
    'semantic_segmentation'
"""

from __future__ import annotations

import difflib

from keras_segattn.tasks.base import Task, check_finite
from keras_segattn.tasks.model import TaskModel

__all__ = [
    "Task",
    "TaskModel",
    "SemanticSegmentation",
    "ImageClassification",
    "Translation",
    "register_task",
    "get_task",
    "list_tasks",
    "task_of",
    "spec_of",
    "check_finite",
]

_TASKS: dict[str, Task] = {}


def register_task(task):
    """Register a :class:`Task` instance (or class, instantiated here) under ``task.name``.

    Registering the same name again replaces the entry only with an instance
    of the same class (re-imports); another class under a taken name raises.
    Returns the instance.
    """
    if isinstance(task, type) and issubclass(task, Task):
        task = task()
    if not isinstance(task, Task):
        raise TypeError(f"register_task: task must be a Task subclass or instance, received {task!r}.")
    if not isinstance(task.name, str) or not task.name:
        raise ValueError(f"register_task: {type(task).__name__}.name must be a non-empty string, received {task.name!r}.")
    held = _TASKS.get(task.name)
    if held is not None and type(held).__qualname__ != type(task).__qualname__:
        raise ValueError(
            f"register_task: the task name {task.name!r} is already registered by {type(held).__qualname__}."
        )
    _TASKS[task.name] = task
    return task


def get_task(task) -> Task:
    """The :class:`Task` for a registered name, or ``task`` itself if it is a Task."""
    if isinstance(task, Task):
        return task
    if isinstance(task, type) and issubclass(task, Task):
        return register_task(task)
    if not isinstance(task, str):
        raise TypeError(f"task must be a task name or a Task, received {type(task).__name__} {task!r}.")
    if task not in _TASKS:
        close = difflib.get_close_matches(task, list(_TASKS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown task {task!r}.{hint} Registered tasks: {', '.join(sorted(_TASKS))}.")
    return _TASKS[task]


def list_tasks() -> list[str]:
    """Sorted registered task names."""
    return sorted(_TASKS)


def task_of(model, task=None, *, required: bool = True):
    """The :class:`Task` of ``model``.

    In order: ``task`` when given (name or Task); the task the model carries
    (a :class:`TaskModel` from ``build_model``, renamed or reloaded); the
    registry entry of ``model.name``. With ``required`` (default) an unknown
    task raises a ``ValueError`` saying how to name it; else returns ``None``.
    """
    if task is not None:
        return get_task(task)
    carried = getattr(model, "task_name", None)
    if carried:
        return get_task(carried)
    spec = spec_of(model)
    if spec is not None:
        return get_task(spec.task)
    if required:
        raise ValueError(
            f"The task of model {getattr(model, 'name', model)!r} is unknown (it was not built by "
            f"build_model and its name is not registered); pass task=..., one of {', '.join(list_tasks())}, "
            "or a Task instance."
        )
    return None


def spec_of(model):
    """The registry entry ``model`` was built from (kept through a rename), else the one of its name."""
    from keras_segattn.registry import find_spec

    return find_spec(getattr(model, "registered_name", None)) or find_spec(getattr(model, "name", None))


# The tasks of the families on main; later families register theirs in their own package.
from keras_segattn.tasks.classification import ImageClassification  # noqa: E402
from keras_segattn.tasks.segmentation import SemanticSegmentation  # noqa: E402
from keras_segattn.tasks.translation import Translation  # noqa: E402

for _task in (SemanticSegmentation, ImageClassification, Translation):
    register_task(_task)
