"""Saves during training are atomic: a crash mid-write leaves the previous file intact and no temporary file.

Each case makes the underlying writer (``model.save``, ``model.save_weights`` or a
plain file write) write part of the file and then fail, as a full disk or a
killed process would, and checks the target still holds the previous complete
file and the folder holds nothing else.
"""

from __future__ import annotations

import json
import os
import re

import keras
import numpy as np
import pytest

from keras_segattn.training import restore_backup
from keras_segattn.training.atomic import (
    AtomicModelCheckpoint,
    atomic_write,
    save_model_atomic,
    save_weights_atomic,
    temp_path_for,
)
from keras_segattn.training.backup import STATE, WEIGHTS, Backup


class Crash(OSError):
    pass


def _tiny(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _partial_writer(path, *args, **kwargs):
    with open(path, "wb") as fh:
        fh.write(b"PK\x03\x04 half a file")  # the start of a zip (.keras) file, then the crash
    raise Crash("disk full")


def _files(folder):
    return sorted(os.listdir(folder))


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    with pytest.raises(Crash):
        with atomic_write(target) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith("notes.txt")
            _partial_writer(tmp)
    assert target.read_text() == "old" and _files(tmp_path) == ["notes.txt"]
    with atomic_write(target) as tmp:
        with open(tmp, "w") as fh:
            fh.write("new")
    assert target.read_text() == "new" and _files(tmp_path) == ["notes.txt"]


def test_atomic_write_cleans_up_after_an_interrupt(tmp_path):
    # KeyboardInterrupt and other BaseExceptions remove the temporary file too.
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            open(tmp, "wb").write(b"partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and _files(tmp_path) == ["a.bin"]


def test_temporary_names_keep_the_suffix_keras_checks():
    tmp = temp_path_for("/x/model.keras")
    assert os.path.dirname(tmp) == "/x" and re.fullmatch(r"\.ksa-tmp\.\d+\.[0-9a-f]{8}\.model\.keras", os.path.basename(tmp))
    assert temp_path_for("/x/a.weights.h5").endswith(".a.weights.h5")


def test_save_model_atomic_keeps_the_previous_model_when_the_save_crashes(tmp_path, monkeypatch):
    path = tmp_path / "model.keras"
    first = _tiny(0)
    save_model_atomic(first, path)
    before = path.read_bytes()
    second = _tiny(1)
    monkeypatch.setattr(second, "save", _partial_writer)
    with pytest.raises(Crash):
        save_model_atomic(second, path)
    assert path.read_bytes() == before and _files(tmp_path) == ["model.keras"]
    reloaded = keras.saving.load_model(path)
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), first.predict(x, verbose=0))


def test_save_weights_atomic_keeps_the_previous_weights(tmp_path, monkeypatch):
    path = tmp_path / "w.weights.h5"
    model = _tiny(0)
    save_weights_atomic(model, path)
    before = path.read_bytes()
    monkeypatch.setattr(model, "save_weights", _partial_writer)
    with pytest.raises(Crash):
        save_weights_atomic(model, path)
    assert path.read_bytes() == before and _files(tmp_path) == ["w.weights.h5"]


def test_backup_crash_mid_write_keeps_the_previous_backup(tmp_path, monkeypatch):
    model = _tiny(0)
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    backup = Backup(tmp_path / "backup")
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[backup])  # a backup at step 2
    folder = tmp_path / "backup"
    assert _files(folder) == sorted([WEIGHTS, STATE])
    weights_before = (folder / WEIGHTS).read_bytes()
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)  # step 4, not backed up
    monkeypatch.setattr(model, "save_weights", _partial_writer)
    with pytest.raises(Crash):
        backup.save()
    assert (folder / WEIGHTS).read_bytes() == weights_before and _files(folder) == sorted([WEIGHTS, STATE])
    assert json.loads((folder / STATE).read_text()) == {"global_step": 2}
    fresh = _tiny(5)
    assert restore_backup(fresh, folder) == 2


def test_backup_crash_while_writing_the_state_keeps_the_previous_state(tmp_path, monkeypatch):
    model = _tiny(0)
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    backup = Backup(tmp_path / "backup")
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[backup])
    folder = tmp_path / "backup"
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)

    def crash_dump(obj, fh):
        fh.write('{"global_')
        raise Crash("killed")

    monkeypatch.setattr(json, "dump", crash_dump)
    with pytest.raises(Crash):
        backup.save()
    monkeypatch.undo()
    assert json.loads((folder / STATE).read_text()) == {"global_step": 2}
    assert _files(folder) == sorted([WEIGHTS, STATE])
    # New weights (step 4) beside the old state (step 2): reported, never loaded silently.
    with pytest.raises(ValueError, match="inconsistent: state says step 2, weights hold step 4"):
        restore_backup(_tiny(5), folder)


@pytest.mark.parametrize("weights_only", [False, True])
def test_atomic_model_checkpoint(tmp_path, monkeypatch, weights_only):
    name = "best.weights.h5" if weights_only else "best.keras"
    path = tmp_path / name
    model = _tiny(0)
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    checkpoint = AtomicModelCheckpoint(str(path), save_weights_only=weights_only)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    before = path.read_bytes()
    if not weights_only:
        keras.saving.load_model(path)
    monkeypatch.setattr(model, "save_weights" if weights_only else "save", _partial_writer)
    with pytest.raises(Crash):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert path.read_bytes() == before and _files(tmp_path) == [name]
