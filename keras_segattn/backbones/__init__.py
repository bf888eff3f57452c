"""Backbones: feature extractors exposing named endpoints by stride, chosen by name.

Every head that sits on a backbone (FCN, Show-Attend-Tell's encoder, ...)
takes ``backbone="<name>"`` and ``backbone_weights=None | "imagenet" | path``
and asks the backbone for features by stride (:meth:`Backbone.at_stride`) or
endpoint name, never by layer names or indices::

    spec = get_backbone("inception_v4_tiny")
    x = spec.preprocessing()(image)               # raw RGB [0, 255] -> the backbone's scaling
    features = spec.apply(x, padding="same")      # dict: endpoint name -> tensor
    top = features[spec.at_stride(32)]
    ...
    spec.load_weights(model, backbone_weights)    # after the head is built

Registered: ``vgg16``, ``inception_v4``, ``inception_resnet_v2`` (paper
configurations) and their ``*_tiny`` presets (narrow, shallow; for tests and
CPUs). :func:`register_backbone` adds one.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from keras_segattn.backbones.inception_resnet_v2 import (
    INCEPTION_RESNET_V2_ENDPOINTS,
    inception_resnet_v2_backbone,
    load_inception_resnet_v2_weights,
)
from keras_segattn.backbones.inception_v4 import (
    INCEPTION_V4_ENDPOINTS,
    inception_preprocessing,
    inception_v4_backbone,
    load_inception_v4_weights,
)
from keras_segattn.backbones.vgg16 import (
    VGG16_DEPTHS,
    VGG16_WIDTHS,
    load_vgg16_weights,
    preprocessing,
    vgg16,
    vgg16_features,
)
from keras_segattn.validation import message

__all__ = [
    "Backbone",
    "check_backbone",
    "get_backbone",
    "inception_preprocessing",
    "inception_resnet_v2_backbone",
    "inception_v4_backbone",
    "list_backbones",
    "load_inception_resnet_v2_weights",
    "load_inception_v4_weights",
    "load_vgg16_weights",
    "preprocessing",
    "register_backbone",
    "vgg16",
    "vgg16_features",
]


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A registered backbone: how to build it, scale its input and load its weights.

    Attributes:
        name: registry name (``"inception_v4_tiny"``).
        family: the architecture (``"inception_v4"``); presets of one family
            share weights loading and endpoint names.
        paper: reference.
        features: ``features(x, **arch) -> dict`` applies the backbone to a
            preprocessed symbolic tensor and returns its endpoints.
        endpoints: ``endpoints(**arch) -> {name: stride}``; for each stride the
            last name listed is the one heads use (:meth:`at_stride`).
        preprocessing: ``preprocessing(name=...) -> keras layer`` mapping raw
            RGB in [0, 255] to the scaling the weights expect.
        weights_loader: ``load(model, weights)`` for the whole head model.
        arch: the preset's architecture arguments (tiny: reduced widths and depths).
    """

    name: str
    family: str
    paper: str
    features: Callable
    endpoints: Callable
    preprocessing: Callable
    weights_loader: Callable
    arch: dict = dataclasses.field(default_factory=dict)

    def apply(self, x, **overrides):
        """Endpoints of the backbone applied to ``x`` (preset arguments, then ``overrides``)."""
        return self.features(x, **{**self.arch, **overrides})

    def strides(self, **overrides) -> dict:
        """``{endpoint: stride}`` for this preset (with dense-prediction padding)."""
        return dict(self.endpoints(**{**self.arch, **overrides}))

    def at_stride(self, stride: int, **overrides) -> str:
        """The backbone's feature for output stride ``stride``: the last endpoint listed with it
        (VGG: ``pool{i}``; Inception: the last block before the next reduction)."""
        strides = self.strides(**overrides)
        names = [name for name, s in strides.items() if s == stride]
        if not names:
            raise ValueError(
                message(self.name, "stride", f"one of {sorted(set(strides.values()))} (its endpoints' strides)", stride)
            )
        return names[-1]

    def load_weights(self, model, weights):
        """Load ``weights`` (``None``, ``"imagenet"`` or a path) into the backbone inside ``model``."""
        return self.weights_loader(model, weights)


_BACKBONES: dict[str, Backbone] = {}


def register_backbone(spec: Backbone) -> Backbone:
    """Add ``spec`` to the backbone registry (names are unique)."""
    if not isinstance(spec, Backbone):
        raise ValueError(message("register_backbone", "spec", "a Backbone", spec))
    if spec.name in _BACKBONES:
        raise ValueError(f"register_backbone: the name {spec.name!r} is already registered.")
    _BACKBONES[spec.name] = spec
    return spec


def list_backbones() -> list[str]:
    """Every registered backbone name, sorted."""
    return sorted(_BACKBONES)


def get_backbone(name) -> Backbone:
    """The registered :class:`Backbone` called ``name`` (clear error with close matches)."""
    if isinstance(name, Backbone):
        return name
    if name not in _BACKBONES:
        close = difflib.get_close_matches(str(name), list(_BACKBONES), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(message("backbone", "backbone", f"one of {', '.join(list_backbones())}", name) + hint)
    return _BACKBONES[name]


def check_backbone(backbone, model: str, families=None) -> Backbone:
    """The spec of ``backbone`` for the head ``model``; ``families`` restricts the architectures."""
    try:
        spec = get_backbone(backbone)
    except ValueError:
        raise ValueError(
            message(model, "backbone", f"one of {', '.join(list_backbones())}", backbone)
        ) from None
    if families is not None and spec.family not in families:
        allowed = [name for name in list_backbones() if _BACKBONES[name].family in families]
        raise ValueError(message(model, "backbone", f"one of {', '.join(allowed)}", backbone))
    return spec


def _vgg_features(x, *, widths=VGG16_WIDTHS, depths=VGG16_DEPTHS, padding="same", **kwargs):
    # VGG's 3x3 convolutions are "same"-padded already: every stride is exact.
    return vgg16_features(x, widths=widths, depths=depths, **kwargs)


def _vgg_endpoints(*, widths=VGG16_WIDTHS, depths=VGG16_DEPTHS, **_):
    # conv{i} (before pooling) first, so that at_stride() gives pool{i}, FCN's skips.
    stages = range(1, len(widths) + 1)
    return {**{f"conv{i}": 2 ** (i - 1) for i in stages}, **{f"pool{i}": 2**i for i in stages}}


def _nested(builder, name):
    def features(x, **arch):
        return builder(tuple(x.shape[1:]), name=name, **arch)(x)

    return features


def _fixed(endpoints):
    return lambda **_: dict(endpoints)


VGG_PAPER = "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, ICLR 2015"
INCEPTION_PAPER = (
    "Szegedy, Ioffe, Vanhoucke & Alemi, Inception-v4, Inception-ResNet and the Impact of Residual "
    "Connections on Learning, AAAI 2017"
)

for _suffix, _arch in (("", {}), ("_tiny", {"widths": (16, 32, 64, 96, 128), "depths": (1, 2, 2, 2, 2)})):
    register_backbone(Backbone(
        f"vgg16{_suffix}", "vgg16", VGG_PAPER, _vgg_features, _vgg_endpoints, preprocessing, load_vgg16_weights,
        _arch,
    ))
_TINY_INCEPTION = {"blocks": (1, 1, 1), "width_divisor": 8}
for _suffix, _arch in (("", {}), ("_tiny", _TINY_INCEPTION)):
    register_backbone(Backbone(
        f"inception_v4{_suffix}", "inception_v4", INCEPTION_PAPER,
        _nested(inception_v4_backbone, "inception_v4"), _fixed(INCEPTION_V4_ENDPOINTS),
        inception_preprocessing, load_inception_v4_weights, _arch,
    ))
    register_backbone(Backbone(
        f"inception_resnet_v2{_suffix}", "inception_resnet_v2", INCEPTION_PAPER,
        _nested(inception_resnet_v2_backbone, "inception_resnet_v2"), _fixed(INCEPTION_RESNET_V2_ENDPOINTS),
        inception_preprocessing, load_inception_resnet_v2_weights, _arch,
    ))

BACKBONES = tuple(list_backbones())
