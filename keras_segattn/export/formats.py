"""The export formats as one table: how each is written, run, described and named.

``export()``, the seq2seq exporter, ``inspect``, the CLI's ``--format`` choices
and the export-matrix test all read :data:`BACKENDS`; adding a format is one
entry here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

__all__ = ["Backend", "BACKENDS", "FORMATS", "backend", "backend_for_path"]


@dataclasses.dataclass(frozen=True)
class Backend:
    """One export format.

    Attributes:
        name: ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        suffix: the artifact's file suffix; ``None`` for a folder artifact.
        quantizations: the ``quantize`` values it accepts.
        write: ``write(model, function, specs, path, quantize, representative, allow_flex)``.
        run: ``run(path, feed, batch_size=8) -> {output name: array}`` in the format's own runtime
            (``batch_size``: rows per call; an artifact with a fixed batch gets exactly that many).
        describe: ``describe(path) -> dict`` (inputs, outputs, ops...).
        runtime: what :attr:`run` uses, for messages.
    """

    name: str
    suffix: str | None
    quantizations: tuple
    write: Callable
    run: Callable
    describe: Callable
    runtime: str

    def default_path(self, model_name: str, quantize=None, out_dir: str | None = None) -> str:
        """Where the CLI writes ``model_name`` by default."""
        if self.name == "tflite":
            return os.path.join(out_dir or "tflite", f"{model_name}{'_' + quantize if quantize else ''}.tflite")
        return os.path.join(out_dir or "saved_models", model_name + (self.suffix or ""))

    def matches(self, path: str) -> bool:
        return os.path.isdir(path) if self.suffix is None else path.endswith(self.suffix)


# ---------------------------------------------------------------- savedmodel
def _savedmodel_write(model, function, specs, path, quantize, representative, allow_flex):
    from keras_segattn.export import savedmodel

    savedmodel.write(model, function, specs, path)


def _savedmodel_run(path, feed, batch_size=8):
    from keras_segattn.export import savedmodel

    return savedmodel.run(path, feed, batch_size=batch_size)


def _savedmodel_describe(path):
    from keras_segattn.export import savedmodel

    return savedmodel.describe(path)


# -------------------------------------------------------------------- tflite
def _tflite_write(model, function, specs, path, quantize, representative, allow_flex):
    from keras_segattn.export import tflite

    content = tflite.convert(
        model, function, specs, quantize=quantize, representative_data=representative, allow_flex=allow_flex
    )
    with open(path, "wb") as fh:
        fh.write(content)


def _tflite_run(path, feed, batch_size=8):
    from keras_segattn.export import tflite

    with open(path, "rb") as fh:
        return tflite.run(fh.read(), feed, batch_size=batch_size)


def _tflite_describe(path):
    from keras_segattn.export import tflite

    with open(path, "rb") as fh:
        return tflite.describe(fh.read())


# ---------------------------------------------------------------------- onnx
def _onnx_write(model, function, specs, path, quantize, representative, allow_flex):
    from keras_segattn.export import onnx

    onnx.convert(function, specs, path)


def _onnx_run(path, feed, batch_size=8):
    from keras_segattn.export import onnx

    return onnx.run(path, feed, batch_size=batch_size)


def _onnx_describe(path):
    from keras_segattn.export import onnx

    return onnx.describe(path)


BACKENDS: dict[str, Backend] = {
    "savedmodel": Backend(
        "savedmodel", None, (None,), _savedmodel_write, _savedmodel_run, _savedmodel_describe,
        "tf.saved_model.load",
    ),
    "tflite": Backend(
        "tflite", ".tflite", (None, "float16", "dynamic", "int8"), _tflite_write, _tflite_run, _tflite_describe,
        "the LiteRT interpreter",
    ),
    "onnx": Backend("onnx", ".onnx", (None,), _onnx_write, _onnx_run, _onnx_describe, "onnxruntime"),
}
FORMATS = tuple(BACKENDS)


def backend(format) -> Backend:
    """The :class:`Backend` of ``format``; an unknown name raises ``ValueError``."""
    if format not in BACKENDS:
        raise ValueError(f"export: format must be one of {', '.join(FORMATS)}, received {format!r}.")
    return BACKENDS[format]


def backend_for_path(path: str) -> Backend:
    """The format of an existing artifact, from its suffix (a folder is a SavedModel)."""
    for candidate in BACKENDS.values():
        if candidate.matches(path):
            return candidate
    raise ValueError(
        f"inspect: path must be a SavedModel folder, "
        f"{' or '.join(b.suffix for b in BACKENDS.values() if b.suffix)} file, received {path!r}."
    )
