"""Model registry: ``register_model``, ``build_model``, ``list_models``.

Every architecture registers a builder under a unique name together with its
family (``"fcn"``, ``"deconvnet"``...) and task (a registered task name such as
``"semantic_segmentation"``, or a :class:`~keras_segattn.tasks.Task`), with the
``@register_model`` decorator. ``build_model(name)`` returns the paper's
configuration as a :class:`~keras_segattn.tasks.TaskModel` that carries its
task; keyword overrides change sizes. Tiny variants are registered as their own
names (``"fcn8s_tiny"``, :func:`register_variant`) so the registry sweep in the
tests covers them.

The registry imports no model: ``import keras_segattn`` imports the model
families once (``keras_segattn.models``), which runs their registrations; a
family outside the package registers itself the same way when imported.
Reloading a saved model never needs the registry: models are functional Keras
graphs of serialisable layers.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
from collections.abc import Callable

__all__ = [
    "ModelSpec",
    "register_model",
    "register_variant",
    "build_model",
    "list_models",
    "get_spec",
    "find_spec",
]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one registered name."""

    name: str
    builder: Callable
    family: str
    task: str
    paper: str = ""
    defaults: dict = dataclasses.field(default_factory=dict)
    tiny: bool = False
    #: export target (``"tflite_int8"``...) -> the measured reason it cannot be reached.
    export_unsupported: dict = dataclasses.field(default_factory=dict)

    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.builder).parameters)

    @property
    def task_object(self):
        """The registered :class:`~keras_segattn.tasks.Task` of this model."""
        from keras_segattn.tasks import get_task

        return get_task(self.task)

    def build(self, **overrides):
        """The builder's model, as a :class:`~keras_segattn.tasks.TaskModel` carrying ``task``."""
        kwargs = {**self.defaults, **overrides}
        return _with_task(self.builder(**kwargs), self.task, self.name)


def _with_task(model, task: str, registered_name: str):
    """``model`` carrying ``task``: functional models become a TaskModel over the same
    layers and tensors (nothing is copied); other models get the attribute."""
    import keras

    from keras_segattn.tasks import TaskModel

    if isinstance(model, TaskModel):
        model.task_name = model.task_name or task
        model.registered_name = model.registered_name or registered_name
        return model
    # Exactly Keras' Functional class (what keras.Model(inputs, outputs) returns);
    # a subclass may have its own constructor and train_step, so it keeps its class.
    if type(model).__name__ == "Functional" and type(model).__module__.startswith("keras."):
        # The structures (lists/dicts) of the original graph, so outputs keep their nesting.
        return TaskModel(
            model._inputs_struct, model._outputs_struct, name=model.name, task=task, registered_name=registered_name
        )
    if isinstance(model, keras.Model):
        model.task_name, model.registered_name = task, registered_name
    return model


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    family: str,
    task: str,
    paper: str = "",
    tiny: bool = False,
    export_unsupported: dict | None = None,
    **defaults,
):
    """Decorator registering ``builder`` under ``name``.

    Args:
        name: the registered name (unique; registering it twice raises).
        family: the family (``"fcn"``), for ``list_models(family=...)``.
        task: a registered task name or a :class:`~keras_segattn.tasks.Task`
            (registered here if new).
        paper: the reference, shown by ``keras-segattn list``.
        tiny: a small variant for tests and demos.
        export_unsupported: export target (a key of
            ``keras_segattn.export.support.TARGETS``) -> the measured reason
            this model cannot reach it; export refuses it with that reason.
        **defaults: keyword arguments bound for this name (how a tiny variant
            reuses the paper builder, see :func:`register_variant`).

    Example:
        >>> import keras
        >>> from keras_segattn.registry import register_model, build_model
        >>> @register_model("doc_toy_segmenter", family="toy", task="semantic_segmentation")
        ... def toy(num_classes=2, name="toy"):
        ...     x = keras.Input((None, None, 3))
        ...     return keras.Model(x, keras.layers.Conv2D(num_classes, 1)(x), name=name)
        >>> build_model("doc_toy_segmenter").task.name
        'semantic_segmentation'
    """
    from keras_segattn.tasks import get_task, register_task

    if not isinstance(name, str) or not name:
        raise ValueError(f"register_model: name must be a non-empty string, received {name!r}.")
    if not isinstance(family, str) or not family:
        raise ValueError(f"register_model({name!r}): family must be a non-empty string, received {family!r}.")
    task = (register_task(task) if not isinstance(task, str) else get_task(task)).name

    def decorator(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(
                f"register_model: the name {name!r} is already registered "
                f"(by {_REGISTRY[name].builder.__module__}.{_REGISTRY[name].builder.__qualname__}). "
                "Choose another name."
            )
        accepted = inspect.signature(builder).parameters
        has_var_kw = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        unknown = [k for k in defaults if k not in accepted and not has_var_kw]
        if unknown:
            raise ValueError(
                f"register_model({name!r}): defaults {unknown} are not arguments of "
                f"{builder.__qualname__}; accepted: {sorted(accepted)}."
            )
        _REGISTRY[name] = ModelSpec(
            name=name,
            builder=builder,
            family=family,
            task=task,
            paper=paper,
            defaults=dict(defaults),
            tiny=tiny,
            export_unsupported=dict(export_unsupported or {}),
        )
        return builder

    return decorator


def find_spec(name) -> ModelSpec | None:
    """The :class:`ModelSpec` of ``name``, or ``None`` when it is not registered."""
    return _REGISTRY.get(name) if isinstance(name, str) else None


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; unknown names raise ``ValueError``."""
    if not isinstance(name, str):
        raise TypeError(
            f"model name must be a string such as 'fcn8s', received {type(name).__name__} {name!r}."
        )
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown model name {name!r}.{hint} Registered models: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]


def build_model(name: str, /, **overrides):
    """Build the registered model ``name`` (paper defaults) with ``overrides``.

    Args:
        name: a registered name, see :func:`list_models`.
        **overrides: builder arguments (``num_classes``, ``input_shape``...);
            ``name=`` names the built model (``name`` itself is positional-only).

    Returns:
        A :class:`~keras_segattn.tasks.TaskModel` (a functional ``keras.Model``)
        named ``name``, carrying its task.

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("fcn8s_tiny", num_classes=4)
        >>> model.name
        'fcn8s_tiny'
    """
    spec = get_spec(name)
    params = spec.parameters()
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in overrides if k not in params]
        if unknown:
            raise ValueError(
                f"build_model({name!r}): unknown argument(s) {unknown}. "
                f"Accepted: {', '.join(sorted(params))}."
            )
    if "name" in params:
        overrides.setdefault("name", name)
    return spec.build(**overrides)


def list_models(pattern: str = "*", family: str | None = None, task: str | None = None) -> list[str]:
    """Sorted registered names matching a glob ``pattern``, ``family`` and ``task``.

    Example:
        >>> import keras_segattn as ksa
        >>> ksa.list_models("fcn*", family="fcn")[:2]
        ['fcn16s', 'fcn16s_tiny']
    """
    return sorted(
        n
        for n, s in _REGISTRY.items()
        if fnmatch.fnmatchcase(n, pattern)
        and (family is None or s.family == family)
        and (task is None or s.task == task)
    )


def register_variant(name: str, base: str, *, tiny: bool = False, **defaults):
    """Register ``name`` as ``base``'s builder with extra bound ``defaults``.

    Example:
        >>> from keras_segattn.registry import register_variant, get_spec
        >>> register_variant("doc_fcn8s_3class", "fcn8s_tiny", num_classes=3)
        >>> get_spec("doc_fcn8s_3class").defaults["num_classes"]
        3
    """
    spec = get_spec(base)
    merged = {**spec.defaults, **defaults}
    register_model(
        name,
        family=spec.family,
        task=spec.task,
        paper=spec.paper,
        tiny=tiny,
        export_unsupported=spec.export_unsupported,
        **merged,
    )(spec.builder)
