"""Shared bits of the tools/ scripts: machine description and result files."""

from __future__ import annotations

import json
import os
import platform


def machine() -> dict:
    import keras
    import tensorflow as tf

    import keras_segattn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_segattn": keras_segattn.__version__,
    }


def write_result(name: str, payload: dict) -> str:
    path = os.path.join(os.path.dirname(__file__), "results", f"{name}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"machine": machine(), **payload}, fh, indent=2)
    return path
