"""Atomic saves: a model, weights or checkpoint file is either the old one or the complete new one.

Every writer here writes to a temporary file in the target's folder (same
filesystem, so the final move is one atomic ``os.replace``), flushes it to
disk (``fsync``), moves it over the target and then flushes the folder entry.
A crash or exception while writing leaves the previous file untouched; an
exception removes the temporary file (a killed process leaves a hidden
``.ksa-tmp.<pid>.<random>.<name>`` beside the target, never a half-written
target). The naming follows :mod:`keras_segattn.export.publish`, which does the
same for exported artifacts and their manifests.
"""

from __future__ import annotations

import contextlib
import os
import secrets

import keras

# The prefix of keras_segattn.export.publish's temporary names (not imported: importing the export
# package from training would be circular).
TMP_MARK = ".ksa-tmp."

__all__ = ["AtomicModelCheckpoint", "atomic_write", "save_model_atomic", "save_weights_atomic", "temp_path_for"]


def temp_path_for(path) -> str:
    """A fresh temporary path beside ``path`` that keeps its name as a suffix (Keras checks ``.keras``)."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    return os.path.join(folder, f"{TMP_MARK}{os.getpid()}.{secrets.token_hex(4)}.{name}")


def _fsync_file(path):
    if os.path.isdir(path):  # a SavedModel-like folder: flush each file
        for root, _, names in os.walk(path):
            for name in names:
                _fsync_file(os.path.join(root, name))
        return
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def check_path(where: str, argument: str, path) -> str:
    """``path`` as a non-empty ``str`` (a ``str`` or ``os.PathLike``); anything else is a ``ValueError``."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        from keras_segattn.validation import message

        raise ValueError(message(where, argument, "a non-empty file or folder path", path))
    return os.fspath(path)


def _check_model(where, model):
    if not isinstance(model, keras.Model):
        from keras_segattn.validation import message

        raise ValueError(message(where, "model", "a keras.Model", model))


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path to write; on success it replaces ``path`` atomically, on failure it is removed.

    Example:
        >>> import os, tempfile
        >>> from keras_segattn.training.atomic import atomic_write
        >>> folder = tempfile.TemporaryDirectory()
        >>> target = os.path.join(folder.name, "notes.txt")
        >>> with atomic_write(target) as tmp:
        ...     with open(tmp, "w") as fh:
        ...         _ = fh.write("done")
        >>> open(target).read(), os.listdir(folder.name)
        ('done', ['notes.txt'])
        >>> folder.cleanup()
    """
    target = os.path.abspath(check_path("atomic_write", "path", path))
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"atomic_write: nothing was written to the temporary file {tmp!r} for {target!r}.")
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_folder(folder)


def save_model_atomic(model, path, **kwargs) -> str:
    """``model.save(path)`` (a ``.keras`` file), atomically; returns ``path``."""
    _check_model("save_model_atomic", model)
    check_path("save_model_atomic", "path", path)
    with atomic_write(path) as tmp:
        model.save(tmp, **kwargs)
    return os.fspath(path)


def save_weights_atomic(model, path, **kwargs) -> str:
    """``model.save_weights(path)`` (a ``.weights.h5`` file), atomically; returns ``path``."""
    _check_model("save_weights_atomic", model)
    check_path("save_weights_atomic", "path", path)
    with atomic_write(path) as tmp:
        model.save_weights(tmp, **kwargs)
    return os.fspath(path)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """``keras.callbacks.ModelCheckpoint`` whose every save is atomic (see :func:`atomic_write`).

    Keras' own callback writes straight to the target, so a crash during a
    save leaves a truncated ``.keras`` file in place of the last good one.
    Same arguments and behaviour otherwise.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        check_path("AtomicModelCheckpoint", "filepath", filepath)
        super().__init__(filepath, monitor=monitor, verbose=verbose, save_best_only=save_best_only,
                         save_weights_only=save_weights_only, mode=mode, save_freq=save_freq,
                         initial_value_threshold=initial_value_threshold)

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise OSError(
                f"AtomicModelCheckpoint: filepath must be a file path, received the existing folder {filepath!r}."
            )
        with atomic_write(filepath) as tmp:
            if self.save_weights_only:
                self.model.save_weights(tmp, overwrite=True)
            else:
                self.model.save(tmp, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")
