"""Verified export: SavedModel, TFLite (float32/float16/dynamic/int8) and ONNX.

- :func:`export` (in :mod:`.exporter`): convert, run the artifact and Keras on
  the same real inputs, and write the artifact and its JSON manifest only if
  the parity gate passes;
- :mod:`.formats`: the formats as one table of backends;
- :mod:`.publish`: how files are written (never over a user's files; an
  artifact and its manifest change together; nothing left behind);
- :mod:`.parity`: the gates; :mod:`.seq2seq`: translators.

Example:
    >>> import tempfile, os, keras_segattn as ksa
    >>> from keras_segattn.export import export
    >>> model = ksa.build_model("fcn8s_tiny")
    >>> path = os.path.join(tempfile.mkdtemp(), "fcn8s_tiny.tflite")
    >>> manifest = export(model, path, format="tflite", verbose=False)
    >>> manifest["parity"]["passed"], manifest["ops"]["flex"]
    (True, [])
"""

from __future__ import annotations

from keras_segattn.export.exporter import (
    _versions,  # noqa: F401  (the seq2seq manifest records the same versions)
    export,
    has_switches,
    inspect_artifact,
    read_manifest,
    summarize,
    verify_artifact,
)
from keras_segattn.export.formats import BACKENDS, FORMATS
from keras_segattn.export.parity import ParityError
from keras_segattn.export.publish import TargetRefused
from keras_segattn.export.support import UnsupportedTarget
from keras_segattn.export.tflite import FlexOpsRequired

__all__ = [
    "export",
    "verify_artifact",
    "inspect_artifact",
    "read_manifest",
    "summarize",
    "has_switches",
    "BACKENDS",
    "FORMATS",
    "ParityError",
    "FlexOpsRequired",
    "TargetRefused",
    "UnsupportedTarget",
]
