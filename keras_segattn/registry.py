"""Model registry: ``register_model``, ``build_model``, ``list_models``.

Every architecture registers a builder under a unique name together with its
family (``"fcn"``, ``"deconvnet"``...) and task (``"semantic_segmentation"``...).
``build_model(name)`` returns the paper's configuration; keyword overrides change
sizes. Tiny variants are registered as their own names (``"fcn8s_tiny"``) so the
registry sweep in the tests covers them.

Reloading a saved model never needs the registry: models are plain functional
Keras graphs of serialisable layers.
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

    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.builder).parameters)

    def build(self, **overrides):
        kwargs = {**self.defaults, **overrides}
        return self.builder(**kwargs)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    family: str,
    task: str,
    paper: str = "",
    tiny: bool = False,
    **defaults,
):
    """Decorator registering ``builder`` under ``name``.

    ``defaults`` are keyword arguments bound for this name, which is how a tiny
    variant reuses the paper builder: ``register_model("fcn8s_tiny", ...,
    tiny=True, widths=(...))(fcn8s)``. Registering a name twice raises.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_model: name must be a non-empty string, received {name!r}.")

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
        )
        return builder

    return decorator


def _ensure_models_imported():
    # Importing the models package runs every module's register_model calls.
    from keras_segattn import models  # noqa: F401


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; unknown names raise ``ValueError``."""
    _ensure_models_imported()
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


def build_model(name: str, **overrides):
    """Build the registered model ``name`` (paper defaults) with ``overrides``.

    Args:
        name: a registered name, see :func:`list_models`.
        **overrides: builder arguments (``num_classes``, ``input_shape``...).

    Returns:
        A ``keras.Model`` named ``name``.

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
    _ensure_models_imported()
    return sorted(
        n
        for n, s in _REGISTRY.items()
        if fnmatch.fnmatchcase(n, pattern)
        and (family is None or s.family == family)
        and (task is None or s.task == task)
    )


def register_variant(name: str, base: str, *, tiny: bool = False, **defaults):
    """Register ``name`` as ``base``'s builder with extra bound ``defaults``."""
    spec = _REGISTRY[base]
    merged = {**spec.defaults, **defaults}
    register_model(name, family=spec.family, task=spec.task, paper=spec.paper, tiny=tiny, **merged)(
        spec.builder
    )
