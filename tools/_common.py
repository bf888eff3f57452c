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


def replace_readme_section(name: str, content: str) -> bool:
    """Replace the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in README.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    text = open(readme).read()
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(readme, "w") as fh:
        fh.write(f"{head}{start}\n{content}\n{end}{tail}")
    return True


def parse_override(text: str):
    """``KEY=VALUE`` of a ``--set`` option -> ``(key, value)``, the value a Python literal where it parses."""
    import ast

    key, _, value = text.partition("=")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value
