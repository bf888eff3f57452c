"""Helpers to run `keras-segattn train` as real processes: single, multi-worker, killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

CLI = [sys.executable, "-m", "keras_segattn.cli"]
# `keras-segattn train` in one process over two logical CPU devices: with
# --strategy mirrored, a 2-worker job's all-reduce (the same half-batch
# gradients, summed in the same order) without the cluster.
TWO_CPU_CLI = [
    sys.executable, "-c",
    "import sys, tensorflow as tf; "
    "tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0], "
    "[tf.config.LogicalDeviceConfiguration()] * 2); "
    "from keras_segattn.cli import main; sys.exit(main(sys.argv[1:]))",
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small, fast run: 32x32 images, 20 steps per epoch. No dropout: replicas
# draw different masks than a single process, and this compares them.
TRAIN_ARGS = [
    "train", "fcn8s_tiny", "--set", "dropout=0", "--image-size", "32", "--train-examples", "320", "--val-examples", "32",
    "--batch-size", "16", "--epochs", "3", "--jit-compile", "off", "--deterministic", "--seed", "3",
]


def free_ports(count):
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def env_for(worker=None, ports=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "PYTHONPATH": ROOT}
    env.pop("TF_CONFIG", None)
    if worker is not None:
        env["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": worker}}
        )
    return env


def start(args, env, log_path, cli=CLI):
    log = open(log_path, "w")
    return subprocess.Popen(cli + args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def result_of(log_path):
    for line in reversed(open(log_path).read().splitlines()):
        if line.startswith("{") and '"train_seconds"' in line:
            return json.loads(line)
    raise AssertionError(f"no result line in {log_path}:\n{open(log_path).read()[-3000:]}")


def wait_all(procs, timeout):
    deadline = time.time() + timeout
    try:
        for p in procs:
            p.wait(timeout=max(1, deadline - time.time()))
    finally:
        kill_all(procs)
    return [p.returncode for p in procs]


def kill_all(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def wait_for_backup_step(backup_dir, minimum, procs, timeout):
    """Block until the backup in ``backup_dir`` holds a step >= ``minimum``."""
    deadline = time.time() + timeout
    state = os.path.join(backup_dir, "backup.json")
    while time.time() < deadline:
        if os.path.exists(state):
            try:
                step = json.load(open(state))["global_step"]
            except (json.JSONDecodeError, KeyError):
                step = -1
            if step >= minimum:
                return step
        if any(p.poll() is not None for p in procs):
            raise AssertionError("a training process ended before the backup reached the kill point")
        time.sleep(0.02)
    raise AssertionError(f"no backup with step >= {minimum} within {timeout} s")


def weights_of(path):
    import keras

    import keras_segattn  # noqa: F401  (registers the layers the file names)

    return [w for w in keras.saving.load_model(path).get_weights()]
