"""Keep TensorFlow's C++ log lines out of the command line's output (unless --verbose).

TensorFlow writes its start-up lines (``I0000 ...``, ``E0000 ... cuInit``, "All
log messages before absl::InitializeLog()", the CPU-instructions notice) and
the TFLite converter/interpreter notes straight to file descriptor 2, while it
is imported, before any Python or ``TF_CPP_MIN_LOG_LEVEL`` setting applies.
So for the ``keras-segattn`` command, ``keras_segattn/__init__.py`` installs
this filter before it imports TensorFlow: fd 2 goes through a pipe, and a
thread copies every line except those to the real stderr. Library users
(``import keras_segattn``) are left alone.
"""

from __future__ import annotations

import os
import re
import sys

_NOISE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::InitializeLog|"
    r"To enable the following instructions:|.*rebuild TensorFlow with the appropriate compiler flags|"
    r"INFO: Created TensorFlow Lite XNNPACK delegate|fully_quantize: \d, inference_type:)"
)
_installed = False


def is_noise(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's C++ log lines."""
    return bool(_NOISE.match(line))


def running_the_cli() -> bool:
    """The process is the ``keras-segattn`` console script (or ``python -m keras_segattn.cli``) without --verbose."""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    is_cli = program in ("keras-segattn", "keras-segattn.exe") or sys.argv[0].endswith(
        os.path.join("keras_segattn", "cli.py")
    )
    return is_cli and "--verbose" not in sys.argv[1:]


def filter_tensorflow_logs():
    """Route fd 2 through a filter that drops TensorFlow's C++ log lines (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    import atexit
    import threading

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb") as pipe, os.fdopen(original, "wb", buffering=0) as out:
            for line in pipe:
                if not is_noise(line.decode("utf-8", "replace")):
                    out.write(line)

    thread = threading.Thread(target=pump, name="tf-log-filter", daemon=True)
    thread.start()

    def restore():
        sys.stderr.flush()
        saved = os.dup(original)
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF and drains
        os.close(saved)
        thread.join(timeout=5)

    atexit.register(restore)
