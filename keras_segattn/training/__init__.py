"""Losses, metrics, schedules, strategies, precision, backups and training recipes."""

# The per-task recipe modules are imported here so their serialisable metrics
# (TokenAccuracy) are registered by `import keras_segattn`, as every class is.
from keras_segattn.training import classification, translation  # noqa: F401, I001

from keras_segattn.training.atomic import AtomicModelCheckpoint, atomic_write, save_model_atomic, save_weights_atomic
from keras_segattn.training.backup import Backup, clear_backup, restore_backup
from keras_segattn.training.callbacks import (
    NonFiniteLossError,
    NonFiniteWeightsError,
    StopOnNonFinite,
    TimeLimit,
)
from keras_segattn.training.distribute import (
    STRATEGIES,
    apply_multi_worker_fit_fix,
    describe_strategy,
    get_strategy,
    global_batch_size,
    shard_for_strategy,
)
from keras_segattn.training.instance_metrics import coco_instance_evaluation
from keras_segattn.training.losses import segmentation_loss
from keras_segattn.training.metrics import VOID_LABEL, MeanIoU, PixelAccuracy
from keras_segattn.training.precision import PRECISIONS, precision_policy
from keras_segattn.training.recipes import (
    compile_segmentation,
    evaluate_segmentation,
    fit_resumable,
    segmentation_data,
    train_segmentation,
    warmup_cosine,
)
from keras_segattn.training.schedules import SCHEDULES, learning_rate_schedule

__all__ = [
    "PRECISIONS",
    "SCHEDULES",
    "STRATEGIES",
    "VOID_LABEL",
    "AtomicModelCheckpoint",
    "Backup",
    "MeanIoU",
    "NonFiniteLossError",
    "NonFiniteWeightsError",
    "PixelAccuracy",
    "StopOnNonFinite",
    "TimeLimit",
    "apply_multi_worker_fit_fix",
    "atomic_write",
    "clear_backup",
    "coco_instance_evaluation",
    "compile_segmentation",
    "describe_strategy",
    "evaluate_segmentation",
    "fit_resumable",
    "get_strategy",
    "global_batch_size",
    "learning_rate_schedule",
    "precision_policy",
    "restore_backup",
    "save_model_atomic",
    "save_weights_atomic",
    "segmentation_data",
    "segmentation_loss",
    "shard_for_strategy",
    "train_segmentation",
    "warmup_cosine",
]
