"""tf.distribute: the Keras multi-worker fit fix, a real 2-worker run, kill-and-resume."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.training import distribute, get_strategy, global_batch_size
from tests.distributed import (
    TRAIN_ARGS,
    TWO_CPU_CLI,
    env_for,
    free_ports,
    kill_all,
    result_of,
    start,
    wait_all,
    wait_for_backup_step,
    weights_of,
)

pytestmark = pytest.mark.xdist_group("distributed")

# Multi-worker vs single process after one epoch (tools/distributed_noise.py,
# 5 seeds): correct runs differ by at most 1.6e-6 relative L2 over all weights,
# 1.9e-5 in one weight and 0 in val_loss; half the global batch differs by at
# least 0.084, 0.029 and 1.2e-2. Each bound sits near the geometric middle.
WEIGHT_REL_L2 = 1e-4
WEIGHT_ATOL = 1e-3
VAL_LOSS_RTOL = 1e-3


def test_get_strategy_names_and_errors(monkeypatch):
    assert get_strategy("one_device").num_replicas_in_sync == 1
    assert get_strategy("auto") is tf.distribute.get_strategy()
    assert global_batch_size(16, get_strategy("one_device")) == 16
    with pytest.raises(ValueError, match="strategy must be one of auto, one_device, mirrored, multi_worker, tpu; received 'horovod'"):
        get_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="strategy 'multi_worker' needs TF_CONFIG"):
        get_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        get_strategy("auto")


def test_fix_detects_the_keras_defect_and_stays_off_where_fixed(monkeypatch):
    needed = distribute.multi_worker_fit_fix_needed()
    assert set(needed) == {"symbolic_build_eager_reduce", "scalar_reduce_axis0"}
    if keras.__version__.startswith("3.15."):
        assert all(needed.values()), "Keras 3.15 has both defects (keras-team/keras#20585)"
    # Where Keras is fixed, nothing is patched.
    from keras.src.backend.tensorflow import trainer

    monkeypatch.setattr(distribute, "_PATCHED", False)
    monkeypatch.setattr(distribute, "multi_worker_fit_fix_needed", lambda: dict.fromkeys(needed, False))
    original = (trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica)
    distribute.apply_multi_worker_fit_fix()
    assert (trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica) == original


def test_fix_is_transparent_without_multi_worker():
    distribute.apply_multi_worker_fit_fix()
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x.sum(1) > 0).astype("int32")

    def run(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return history.history["loss"], model.get_weights()

    loss_a, weights_a = run(tf.distribute.get_strategy())
    loss_b, weights_b = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _multi_worker_run(tmp_path, tag, extra=(), kill_at=None):
    ports = free_ports(2)
    logs = [str(tmp_path / f"{tag}_w{i}.log") for i in range(2)]
    out = str(tmp_path / f"{tag}.keras")
    args = TRAIN_ARGS + ["-o", out, *extra]
    procs = [start(args, env_for(i, ports), logs[i]) for i in range(2)]
    if kill_at is not None:
        backup_dir, step = kill_at
        try:
            killed_at = wait_for_backup_step(backup_dir, step, procs, timeout=240)
        finally:
            kill_all(procs)  # SIGKILL both: the whole job goes down, as when a machine dies
        return killed_at
    codes = wait_all(procs, timeout=300)
    assert codes == [0, 0], [open(log).read()[-3000:] for log in logs]
    return out, [result_of(log) for log in logs]


def test_two_workers_on_loopback_match_a_single_process(tmp_path):
    one_epoch = ["--epochs", "1"]
    out, results = _multi_worker_run(tmp_path, "mw", one_epoch)
    assert [r["strategy"] for r in results] == ["multi_worker"] * 2
    assert [r["task_id"] for r in results] == [0, 1]
    assert results[0]["val_loss"] == results[1]["val_loss"]
    assert results[0]["final_step"] == results[1]["final_step"] == 20

    # The same job in one process over two logical CPUs sums the same two
    # half-batch gradients in the same order: the same bits, on any machine.
    mirrored_out = str(tmp_path / "mirrored.keras")
    args = TRAIN_ARGS + ["-o", mirrored_out, "--strategy", "mirrored", *one_epoch]
    proc = start(args, env_for(), str(tmp_path / "mirrored.log"), cli=TWO_CPU_CLI)
    assert wait_all([proc], timeout=300) == [0]
    mirrored = result_of(str(tmp_path / "mirrored.log"))
    assert (mirrored["strategy"], mirrored["replicas"]) == ("mirrored", 2)
    assert mirrored["val_loss"] == results[0]["val_loss"]
    for a, b in zip(weights_of(out), weights_of(mirrored_out)):
        np.testing.assert_array_equal(a, b)

    # A single process sums the whole batch at once: the same training up to
    # float rounding, which Adam turns into weight differences (one weight
    # whose gradient is ~0 can take a full step the other way). The bounds sit
    # between what tools/distributed_noise.py measured for correct runs and for
    # a defect (half the global batch, as unsummed replicas amount to); see
    # WEIGHT_REL_L2 and tools/results/distributed_noise.json.
    single_out = str(tmp_path / "single.keras")
    proc = start(TRAIN_ARGS + ["-o", single_out, *one_epoch], env_for(), str(tmp_path / "single.log"))
    assert wait_all([proc], timeout=300) == [0]
    single = result_of(str(tmp_path / "single.log"))
    assert single["strategy"] == "default"
    np.testing.assert_allclose(results[0]["val_loss"], single["val_loss"], rtol=VAL_LOSS_RTOL)
    np.testing.assert_allclose(results[0]["val_mean_iou"], single["val_mean_iou"], rtol=VAL_LOSS_RTOL)
    multi, one = (np.concatenate([w.ravel() for w in weights_of(path)]) for path in (out, single_out))
    assert np.linalg.norm(multi - one) / np.linalg.norm(one) <= WEIGHT_REL_L2
    np.testing.assert_allclose(multi, one, rtol=0, atol=WEIGHT_ATOL)


def test_single_process_kill_and_resume_is_step_exact(tmp_path):
    reference_out = str(tmp_path / "reference.keras")
    proc = start(TRAIN_ARGS + ["-o", reference_out], env_for(), str(tmp_path / "reference.log"))
    assert wait_all([proc], timeout=300) == [0]

    backup = str(tmp_path / "backup")
    out = str(tmp_path / "resumed.keras")
    args = TRAIN_ARGS + ["-o", out, "--backup-dir", backup, "--save-freq", "7"]
    proc = start(args, env_for(), str(tmp_path / "killed.log"))
    try:
        killed_at = wait_for_backup_step(backup, 28, [proc], timeout=240)  # mid epoch 2
    finally:
        kill_all([proc])
    assert not os.path.exists(out)
    proc = start(args, env_for(), str(tmp_path / "resumed.log"))
    assert wait_all([proc], timeout=300) == [0]
    resumed = result_of(str(tmp_path / "resumed.log"))
    # It resumed from the last backup: at most save_freq steps were lost.
    assert killed_at <= resumed["resumed_from_step"] < killed_at + 7
    assert resumed["final_step"] == 60
    assert not os.path.exists(backup), "a finished run removes its backup"
    for a, b in zip(weights_of(out), weights_of(reference_out)):
        np.testing.assert_array_equal(a, b)


def test_multi_worker_kill_and_restart_is_step_exact(tmp_path):
    reference_out, _ = _multi_worker_run(tmp_path, "reference")
    backup = str(tmp_path / "backup")
    extra = ["--backup-dir", backup, "--save-freq", "5"]
    killed_at = _multi_worker_run(tmp_path, "killed", extra, kill_at=(backup, 25))
    out, results = _multi_worker_run(tmp_path, "restarted", extra)
    assert [r["resumed_from_step"] for r in results] == [results[0]["resumed_from_step"]] * 2
    assert killed_at <= results[0]["resumed_from_step"] < killed_at + 5
    assert results[0]["final_step"] == 60
    for a, b in zip(weights_of(out), weights_of(reference_out)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
