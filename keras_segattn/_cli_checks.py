"""Checks of ``keras-segattn`` arguments, run before any model is trained.

Each check raises :class:`UserError` (or ``argparse.ArgumentTypeError`` for the
argument types) with one line naming the option, the received value and what
is accepted; the CLI prints that line and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import zipfile


class UserError(Exception):
    """A bad value on the command line (not a bug): one line on stderr, exit status 2."""


# ------------------------------------------------------------ argument types
def shown(text: str) -> str:
    """A received value as typed (``0``, ``nan``), quoted only where quotes are needed to see it."""
    return text if text and not any(c.isspace() for c in text) and "'" not in text else repr(text)


def count(minimum: int = 1):
    """An argparse type: an integer >= ``minimum`` (argparse names the option in front)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}; received {shown(text)}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (NaN, inf, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; received {shown(text)}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..65535 (0 picks a free port); received {shown(text)}")
    return value


# ------------------------------------------------------------------- files
def writable_path(path: str, option: str, suffixes=None, *, directory: bool = False) -> str:
    """Refuse ``path`` now rather than after training: a wrong suffix, an existing folder (or
    file, for ``directory``) in the way, or a first existing parent that is not a writable folder."""
    if suffixes and not path.lower().endswith(tuple(suffixes)):
        raise UserError(f"{option} must end with {' or '.join(suffixes)}; received {path!r}")
    absolute = os.path.abspath(path)
    if directory and os.path.exists(absolute) and not os.path.isdir(absolute):
        raise UserError(f"{option} must be a folder; received {path!r}, which is a file")
    if not directory and os.path.isdir(absolute):
        raise UserError(f"{option} must be a file path; received {path!r}, which is a folder")
    if directory and os.path.isdir(absolute) and not os.access(absolute, os.W_OK | os.X_OK):
        raise UserError(f"{option} is not writable; received {path!r} (no write permission)")
    # The folders that do not exist yet are created when writing: the first one that does must take
    # a new file (probed there, never in the target itself, which may be a user's folder).
    parent = os.path.dirname(absolute)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(f"{option} is not writable; received {path!r} ({parent!r} is a file, not a folder)")
    # Creating a file is the only test that holds for root and for special folders such as /proc.
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".keras_segattn_write_test")
    except OSError as error:
        raise UserError(
            f"{option} is not writable; received {path!r} (cannot create files in {parent!r}: {error.strerror})"
        ) from None
    os.close(handle)
    os.remove(probe)
    return path


def existing_file(path: str, option: str, expected: str) -> str:
    if not os.path.exists(path):
        raise UserError(f"{option} must be {expected}; received {path!r}, which does not exist")
    if os.path.isdir(path):
        raise UserError(f"{option} must be {expected}; received {path!r}, which is a folder")
    return path


def keras_file(path: str, option: str = "MODEL", expected: str = "a registered model name or a .keras file") -> str:
    """A ``.keras`` file that can be loaded: a zip with the model's config (Keras itself says
    "File not found" for a truncated or corrupt file)."""
    existing_file(path, option, expected)
    if not zipfile.is_zipfile(path):
        raise UserError(
            f"{option} {path!r} is not a valid .keras file: it is not a zip archive (truncated or corrupt?)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        raise UserError(f"{option} {path!r} is not a valid .keras file: {error}") from None
    if "config.json" not in names:
        raise UserError(f"{option} {path!r} is not a valid .keras file: it has no config.json")
    return path


def prepared_dataset(name, data_dir):
    """A tfds dataset (``--data``) must be prepared in ``data_dir`` (the CLI never downloads):
    tfds would otherwise fail with an AssertionError deep in its loader."""
    if name in (None, "synthetic"):
        return
    base = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    folder = os.path.join(base, name)
    prepared = any("dataset_info.json" in files for _, _, files in os.walk(folder)) if os.path.isdir(folder) else False
    if not prepared:
        raise UserError(
            f"--data {name} is not prepared in {base!r} (no {name}/VERSION/dataset_info.json there): prepare it "
            f"where a network exists (tfds build {name} --data_dir DIR) and pass --data-dir DIR"
        )


# ------------------------------------------------------------------ memory
def available_memory() -> int:
    """Bytes this process may use: MemAvailable of /proc/meminfo, else the physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _elements(shape, size: int) -> int:
    # Dynamic dimensions take the training image size: an upper bound for layers after a pooling.
    total = 1
    for dim in shape[1:]:
        total *= size if dim is None else int(dim)
    return total


def _layer_outputs(model) -> tuple[list, bool]:
    """The output tensors of ``model``'s layers, nested functional models' layers included, and whether
    there were nested ones (their tensors are not connected to ``model``'s inputs)."""
    import keras

    tensors, nested = [], False
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model) and getattr(layer, "_is_graph_network", hasattr(layer, "_nodes_by_depth")):
            inner, _ = _layer_outputs(layer)
            tensors += inner
            nested = True
            continue
        try:
            outputs = layer.output
        except (AttributeError, ValueError):
            continue  # a layer used more than once: no single output
        tensors += [t for t in keras.tree.flatten(outputs) if getattr(t, "shape", None) is not None]
    return [t for t in tensors if len(t.shape) >= 1], nested


def _output_shapes(model, image_size: int) -> list:
    """The shapes of the outputs of ``model``'s layers. A dynamic-size model is traced symbolically
    at ``image_size`` (no memory allocated); where that fails, dynamic dimensions take
    ``image_size`` (an upper bound for the layers after a pooling)."""
    import keras

    tensors, nested = _layer_outputs(model)
    shape = tuple(model.inputs[0].shape)
    if len(model.inputs) == 1 and None in shape[1:] and not nested:
        try:
            probe = keras.Model(model.inputs, tensors)
            concrete = (1,) + tuple(image_size if d is None else d for d in shape[1:])
            specs = probe.compute_output_spec(keras.KerasTensor(concrete))
            return [tuple(s.shape) for s in specs]
        except Exception:  # noqa: BLE001 - an estimate: fall back to the static shapes
            pass
    return [tuple(t.shape) for t in tensors]


def training_memory(model, batch_size: int, image_size: int = 64) -> int:
    """A rough estimate in bytes of what training ``model`` at ``batch_size`` holds:
    (parameters + batch x the activations of one example, summed over the layers' outputs)
    x 4 bytes x 3 (forward values, their gradients, optimizer state). Layers that hide their
    own sublayers count only their outputs, so the estimate errs low for those."""
    activations = sum(_elements(shape, image_size) for shape in _output_shapes(model, image_size))
    return 4 * 3 * (int(model.count_params()) + batch_size * activations)


def check_memory(model, batch_size: int, image_size: int, allow_large: bool, available=None):
    """Refuse (UserError) a run whose estimate exceeds the available memory, unless ``allow_large``."""
    needed = training_memory(model, batch_size, image_size)
    available = available_memory() if available is None else available
    if needed > available and not allow_large:
        raise UserError(
            f"--batch-size {batch_size} needs about {needed / 2**30:.1f} GiB to train {model.name} "
            f"(estimate), more than the {available / 2**30:.1f} GiB available; use a smaller --batch-size "
            "or a *_tiny model, or pass --allow-large to try anyway"
        )
    return needed
