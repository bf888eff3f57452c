"""Fault-tolerant training: step-exact backups and resume.

Keras' ``BackupAndRestore`` resumes at the start of the interrupted epoch (it
records the batch but ``fit`` cannot skip to it), so an interrupted run repeats
steps and ends with different weights. Here the backup records the optimizer's
global step; :func:`keras_segattn.training.fit_resumable` restores it and
resumes the deterministic data stream exactly there, so a killed-and-restarted
run ends with the weights of an uninterrupted one (in deterministic mode),
losing only the steps since the last backup.

Multi-worker: only the chief writes (``backup_dir`` must be a filesystem every
worker can read, as for TensorFlow's own multi-worker checkpoints); every
worker restores from it.
"""

from __future__ import annotations

import json
import os
import shutil

import keras
import numpy as np

from keras_segattn.training.atomic import atomic_write, check_path, save_weights_atomic
from keras_segattn.training.callbacks import NonFiniteWeightsError
from keras_segattn.validation import is_int, message

WEIGHTS = "backup.weights.h5"
STATE = "backup.json"


def _is_chief() -> bool:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in json.loads(raw).get("cluster", {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


class Backup(keras.callbacks.Callback):
    """Save weights + optimizer state every ``save_freq`` steps and at every epoch end.

    Args:
        backup_dir: directory of the backup (created if needed).
        save_freq: ``"epoch"`` or a number of optimizer steps.

    Writes are atomic (temporary file, then rename), so a kill during a save
    leaves the previous backup intact. A save whose weights or optimizer state
    hold a NaN or infinity raises :class:`NonFiniteWeightsError` instead, so
    the backup on disk stays the last finite one (a finite loss does not
    guarantee finite weights: a NaN gradient can come from a finite loss).

    Example:
        >>> from keras_segattn.training import Backup
        >>> Backup("/tmp/run/backup", save_freq=50).save_freq
        50
    """

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__()
        check_path("Backup", "backup_dir", backup_dir)
        if save_freq != "epoch":
            if not (is_int(save_freq) and save_freq >= 1):
                raise ValueError(message("Backup", "save_freq", "'epoch' or a positive int", save_freq))
            save_freq = int(save_freq)
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.last_saved_step = None

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def save(self):
        step = self._step()
        if step == self.last_saved_step:
            return
        # Every worker checks (the weights are the same on all), so all stop together.
        bad = _first_non_finite(list(self.model.weights) + list(self.model.optimizer.variables))
        if bad is not None:
            raise NonFiniteWeightsError(
                f"Backup: the weights to save at step {step} must be finite, received NaN or "
                f"infinity in {bad!r}; the backup in {self.backup_dir!r} was not overwritten.",
                step=step,
                variable=bad,
            )
        self.last_saved_step = step
        if not _is_chief():
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        # Weights first, then the state naming their step: each replaces its file atomically (fsynced
        # temporary file + os.replace), so a crash leaves the old pair, or new weights with the old
        # state, which restore_backup reports as inconsistent instead of loading a torn file.
        save_weights_atomic(self.model, os.path.join(self.backup_dir, WEIGHTS), overwrite=True)
        with atomic_write(os.path.join(self.backup_dir, STATE)) as tmp_state:
            with open(tmp_state, "w") as fh:
                json.dump({"global_step": step}, fh)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch" and self._step() % self.save_freq == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()


def _first_non_finite(variables):
    for variable in variables:
        value = keras.ops.convert_to_numpy(variable)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return variable.path
    return None


def restore_backup(model, backup_dir) -> int:
    """Load the backup in ``backup_dir`` into ``model`` (compiled); returns its global step (0 if none)."""
    check_path("restore_backup", "backup_dir", backup_dir)
    state_path = os.path.join(os.fspath(backup_dir), STATE)
    if not os.path.exists(state_path):
        return 0
    with open(state_path) as fh:
        step = int(json.load(fh)["global_step"])
    if model.optimizer is None:
        raise ValueError("restore_backup: compile the model before restoring a backup.")
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(os.fspath(backup_dir), WEIGHTS))
    restored = int(model.optimizer.iterations.numpy())
    if restored != step:
        raise ValueError(f"backup in {backup_dir!r} is inconsistent: state says step {step}, weights hold step {restored}.")
    return step


def clear_backup(backup_dir):
    """Remove a finished run's backup (chief only)."""
    check_path("clear_backup", "backup_dir", backup_dir)
    if _is_chief():
        shutil.rmtree(os.fspath(backup_dir), ignore_errors=True)
