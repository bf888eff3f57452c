"""Backbones: functional feature extractors exposing named endpoints by stride."""

from keras_segattn.backbones.vgg16 import (
    load_vgg16_weights,
    preprocessing,
    vgg16,
    vgg16_features,
)

BACKBONES = ("vgg16",)


def check_backbone(backbone: str, model: str) -> str:
    if backbone not in BACKBONES:
        raise ValueError(
            f"{model}: unknown backbone {backbone!r}; available: {', '.join(BACKBONES)}."
        )
    return backbone


__all__ = [
    "BACKBONES",
    "check_backbone",
    "load_vgg16_weights",
    "preprocessing",
    "vgg16",
    "vgg16_features",
]
