"""Losses, metrics and training recipes."""

from keras_segattn.training.callbacks import TimeLimit
from keras_segattn.training.losses import segmentation_loss
from keras_segattn.training.metrics import VOID_LABEL, MeanIoU, PixelAccuracy
from keras_segattn.training.recipes import (
    compile_segmentation,
    evaluate_segmentation,
    segmentation_data,
    train_segmentation,
    warmup_cosine,
)

__all__ = [
    "VOID_LABEL",
    "MeanIoU",
    "PixelAccuracy",
    "TimeLimit",
    "compile_segmentation",
    "evaluate_segmentation",
    "segmentation_data",
    "segmentation_loss",
    "train_segmentation",
    "warmup_cosine",
]
