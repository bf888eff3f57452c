"""Input-validation sweep of the public functions: data pipelines, the exporter, training helpers.

The companion of ``tests/test_api_sweep.py`` (models and layers), with its outcome checks.
The entry points are enumerated, not listed: every public callable of
``keras_segattn.data``, ``keras_segattn.export`` and ``keras_segattn.training`` (their
``__all__``). Each gets invalid inputs derived from its signature's defaults (bool where
an int is expected, negative and zero counts, NaN/Inf for floats, unknown strings, wrong
types) plus the cases of ``EXTRA`` (empty inputs, contradictions, sizes), and each must
raise ``ValueError``/``TypeError`` naming the argument, showing the received value and
saying what is expected, before any work: ``Model.fit`` and the exporter's conversion are
replaced by a tripwire, so an invalid input that gets as far as training or converting is
"silent" and costs nothing. Valid but unusual inputs (NumPy integers for counts, lists for
tuples) must be accepted; one real (tiny) export checks that ``input_size`` takes effect.

A public callable without an invalid case fails ``test_every_public_callable_has_cases``,
unless it is in ``EXCLUDED`` (things that take no user values). ``test_sweep_summary``
prints the counts (run with ``-s``).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_segattn as ksa
from keras_segattn import data as ksa_data
from keras_segattn import export as ksa_export
from keras_segattn import training as ksa_training
from tests.test_api_sweep import INF, NAN, Case, _failures, _invalid_values, classify

MODULES = {"data": ksa_data, "export": ksa_export, "training": ksa_training}

# Public callables that take no user values (exception classes raised by the library,
# a callback without arguments, a fixed vocabulary, an environment fix): nothing to sweep.
EXCLUDED = {
    "data.CorruptFileError",  # exception raised by the file readers
    "data.CorruptFiles",  # a collector without arguments
    "data.translation_vocabulary",  # no arguments: the embedded vocabulary
    "export.ParityError",  # exception
    "export.FlexOpsRequired",  # exception
    "export.TargetRefused",  # exception
    "export.UnsupportedTarget",  # exception
    "training.NonFiniteLossError",  # exception
    "training.NonFiniteWeightsError",  # exception
    "training.StopOnNonFinite",  # callback without arguments
    "training.apply_multi_worker_fit_fix",  # no arguments: patches Keras for MultiWorkerMirroredStrategy
}


def public_callables() -> list[str]:
    names = []
    for prefix, module in MODULES.items():
        for name in module.__all__:
            if not name.startswith("_") and callable(getattr(module, name)):
                names.append(f"{prefix}.{name}")
    return sorted(names)


def _resolve(qualified: str):
    prefix, name = qualified.split(".", 1)
    return getattr(MODULES[prefix], name)


# ----------------------------------------------------------------- tripwire: no work for invalid inputs
class _Reached(Exception):
    """Raised where real work would start (training, converting): the checks all passed."""


@contextlib.contextmanager
def _tripwire():
    from keras_segattn.export import exporter

    saved_fit, saved_serving = keras.Model.fit, exporter.signature.serving_function

    def stop(*args, **kwargs):
        raise _Reached()

    keras.Model.fit = stop
    exporter.signature.serving_function = stop
    try:
        yield
    finally:
        keras.Model.fit = saved_fit
        exporter.signature.serving_function = saved_serving


# ----------------------------------------------------------------- shared tiny inputs
_CACHE: dict = {}


def _cached(key, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def seg_ds():
    """Four 16x16 synthetic examples (image float32 HxWx3, mask int32 HxW)."""
    return _cached("seg", lambda: ksa_data.synthetic_shapes("train", 4, image_size=16))


def fcn():
    return _cached("fcn", lambda: ksa.build_model("fcn8s_tiny"))


def digits():
    return _cached("digits", lambda: ksa.build_model("digits_cnn_tiny"))


def vectorizers():
    def make():
        source, target = ksa_data.translation_vocabulary()
        return ksa_data.text_vectorizer(source, 8), ksa_data.text_vectorizer(target, 9)

    return _cached("vec", make)


def pairs_ds():
    return _cached("pairs", lambda: tf.data.Dataset.from_tensor_slices((["uno dos"], ["one two"])))


def caption_ds():
    def make():
        images = np.zeros((2, 8, 8, 3), "float32")
        return tf.data.Dataset.from_tensor_slices({"image": images, "captions": {"text": [["a b"], ["c d"]]}})

    return _cached("cap", make)


VOCAB = ["[start]", "[end]", "a", "b", "c", "d"]
TFDS_DIR = "/tmp/ksa-sweep-never/tfds"  # never prepared: the checks must come first


def instance_targets():
    """Two 16x16 images of the embedded instance data (padded targets, 4 rows)."""
    return _cached("inst", lambda: ksa_data.instance_shapes_arrays("test", 2, image_size=16)[1])


def instance_detections():
    """Perfect detections of instance_targets() in the batched detections layout."""
    def make():
        t = instance_targets()
        return {"boxes": t["boxes"], "classes": t["classes"], "scores": (t["classes"] > 0).astype("float32"),
                "masks": t["masks"].astype("float32"), "num_detections": (t["classes"] > 0).sum(1).astype("int32")}

    return _cached("dets", make)


def strokes():
    return np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 0.0], [2.0, 1.0, 1.0]], "float32")


# Arguments every callable takes (positional/required ones and small sizes so that an
# invalid value that slips through costs little). A callable of MODULES needs a row here
# (or an EXCLUDED entry); `lambda: {...}` defers building inputs to the sweep.
BASE = {
    # data
    "data.caption_vectorizer": lambda: {"vocabulary": ["a", "b"]},
    "data.caption_vocabulary": lambda: {"texts": ["a b", "c"]},
    "data.captioning_pipeline": lambda: {"dataset": caption_ds(), "vocabulary": VOCAB,
                                         "image_size": (8, 8), "batch_size": 2, "max_length": 4},
    "data.check_labels": lambda: {"num_classes": 4},
    "data.coco_captions": lambda: {"data_dir": TFDS_DIR},
    "data.coco_instances": lambda: {"data_dir": TFDS_DIR},
    "data.distorted_digits": lambda: {"num_examples": 2},
    "data.distorted_digits_arrays": lambda: {"num_examples": 2},
    "data.encode_captions": lambda: {"texts": ["a b"], "vocabulary": VOCAB, "max_length": 4},
    "data.handwriting_arrays": lambda: {"count": 2},
    "data.iam_ondb_lines": lambda: {"root": "/nonexistent-iam-ondb"},
    "data.instance_shapes": lambda: {"num_examples": 2, "image_size": 16},
    "data.instance_shapes_arrays": lambda: {"num_examples": 2, "image_size": 16},
    "data.instances_to_coco": lambda: {"targets": instance_targets()},
    "data.normalise_strokes": lambda: {"strokes": strokes()},
    "data.oxford_iiit_pet": lambda: {"data_dir": TFDS_DIR},
    "data.read_strokes_xml": lambda: {"path": "/nonexistent.xml"},
    "data.read_transcriptions": lambda: {"path": "/nonexistent.txt"},
    "data.render_distorted_digit": lambda: {"rng": np.random.default_rng(0), "digit": np.zeros((28, 28), "float32")},
    "data.render_example": lambda: {"rng": np.random.default_rng(0), "image_size": 32},
    "data.scene_parse150": lambda: {"data_dir": TFDS_DIR},
    "data.scene_parsing_pipeline": lambda: {"split": "train", "batch_size": 2, "data_dir": TFDS_DIR},
    "data.segmentation_files": lambda: {"images": ["/nonexistent/a.png"], "masks": ["/nonexistent/a.png"]},
    "data.segmentation_from_directory": lambda: {"image_dir": "/nonexistent-i", "mask_dir": "/nonexistent-m"},
    "data.segmentation_pipeline": lambda: {"dataset": seg_ds(), "batch_size": 2},
    "data.segmentation_stream": lambda: {"dataset": seg_ds(), "batch_size": 2, "epochs": 1},
    "data.shape_captions": lambda: {"count": 2},
    "data.shape_captions_arrays": lambda: {"count": 2},
    "data.spanish_english": lambda: {"num_examples": 2},
    "data.spanish_english_arrays": lambda: {"num_examples": 2},
    "data.spanish_english_pairs": lambda: {"num_examples": 2},
    "data.spanish_number": lambda: {"n": 7},
    "data.synthetic_shapes": lambda: {"num_examples": 2, "image_size": 16},
    "data.synthetic_shapes_arrays": lambda: {"num_examples": 2, "image_size": 16},
    "data.ted_hrlr_translate": lambda: {"data_dir": TFDS_DIR},
    "data.text_vectorizer": lambda: {"vocabulary": ["a", "b"]},
    "data.translation_pipeline": lambda: {"dataset": pairs_ds(), "source_vectorizer": vectorizers()[0],
                                          "target_vectorizer": vectorizers()[1], "max_length": 8, "batch_size": 2},
    "data.write_coco_annotations": lambda: {"path": "/tmp/ksa-sweep-never/gt.json", "targets": instance_targets()},
    "data.write_text": lambda: {"text": "ab"},
    # export
    "export.export": lambda: {"model": fcn(), "path": "/nonexistent-dir-ksa/never/x.tflite", "format": "tflite",
                              "verbose": False},
    "export.verify_artifact": lambda: {"model": fcn(), "path": "/nonexistent-ksa/x.tflite"},
    "export.inspect_artifact": lambda: {"path": "/nonexistent-ksa/x.tflite"},
    "export.read_manifest": lambda: {"path": "/nonexistent-ksa/x.tflite"},
    "export.summarize": lambda: {"manifest": {}},
    "export.has_switches": lambda: {"model": fcn()},
    # training
    "training.AtomicModelCheckpoint": lambda: {"filepath": "/tmp/ksa-sweep-never/m.keras"},
    "training.Backup": lambda: {"backup_dir": "/tmp/ksa-sweep-never/backup"},
    "training.MeanIoU": lambda: {"num_classes": 4},
    "training.PixelAccuracy": lambda: {},
    "training.TimeLimit": lambda: {"seconds": 10.0},
    "training.atomic_write": lambda: {"path": "/tmp/ksa-sweep-never/file"},
    "training.clear_backup": lambda: {"backup_dir": "/tmp/ksa-sweep-never/backup"},
    "training.coco_instance_evaluation": lambda: {"targets": instance_targets(), "detections": instance_detections()},
    "training.compile_segmentation": lambda: {"model": fcn(), "num_classes": 4, "total_steps": 10},
    "training.describe_strategy": lambda: {"strategy": tf.distribute.get_strategy()},
    "training.evaluate_segmentation": lambda: {"model": fcn(), "examples": 2, "batch_size": 2},
    "training.fit_resumable": lambda: {"model": fcn(), "make_stream": lambda start: seg_ds().batch(2),
                                       "steps_per_epoch": 1, "epochs": 1, "verbose": 0},
    "training.get_strategy": lambda: {},
    "training.global_batch_size": lambda: {"per_replica": 8},
    "training.learning_rate_schedule": lambda: {"name": "cosine", "learning_rate": 0.01, "total_steps": 10},
    "training.precision_policy": lambda: {"precision": None},
    "training.restore_backup": lambda: {"model": fcn(), "backup_dir": "/tmp/ksa-sweep-never/backup"},
    "training.save_model_atomic": lambda: {"model": fcn(), "path": "/tmp/ksa-sweep-never/m.keras"},
    "training.save_weights_atomic": lambda: {"model": fcn(), "path": "/tmp/ksa-sweep-never/m.weights.h5"},
    "training.segmentation_data": lambda: {"num_examples": 2, "image_size": 16},
    "training.segmentation_loss": lambda: {},
    "training.shard_for_strategy": lambda: {"dataset": seg_ds(), "strategy": tf.distribute.get_strategy()},
    "training.train_segmentation": lambda: {"model": fcn(), "train_examples": 2, "val_examples": 2, "epochs": 1,
                                            "batch_size": 2, "verbose": 0},
    "training.warmup_cosine": lambda: {"learning_rate": 0.01, "total_steps": 10},
}

# Arguments not swept from their defaults: free text (names, directories), Keras'
# own options passed through (verbose, monitor, mode), objects checked by Keras.
NOT_DERIVED = {"name", "data_dir", "dtype", "verbose", "monitor", "mode", "save_freq", "jit_compile",
               "callbacks", "corrupt", "strategy", "devices", "rng", "clutter_digits", "vary",
               "representative_data", "parity_data", "task", "initial_value_threshold", "save_best_only",
               "save_weights_only", "download"}

EMPTY = np.zeros((0, 16, 16, 3), "float32")

# Extra invalid values per callable and argument (beyond those derived from defaults).
EXTRA = {
    "data.caption_vectorizer": {"vocabulary": [[], 5]},
    "data.caption_vocabulary": {"texts": [[]], "max_tokens": [0]},
    "data.captioning_pipeline": {"image_size": [(0, 8), "ab"], "max_length": [0], "batch_size": [0],
                                 "vocabulary": [[]], "shuffle": [0, True]},
    "data.check_labels": {"num_classes": [0, True, 2.5], "void_label": ["x", 2.5]},
    "data.coco_captions": {"download": ["yes"]},
    "data.coco_instances": {"split": ["test", "val"], "image_size": [(0, 8), (8, 8, 8)],
                            "max_instances": [0], "download": ["yes"]},
    "data.distorted_digits": {"num_examples": [0], "family": ["XYZ"], "image_size": [0, True], "num_classes": [0, 11],
                              "channels": [0, 2], "batch_size": [0, True]},
    "data.distorted_digits_arrays": {"num_examples": [0], "family": ["XYZ"], "num_classes": [1], "image_size": [-4]},
    "data.encode_captions": {"max_length": [0, True], "texts": [5], "vocabulary": [[]]},
    "data.handwriting_arrays": {"count": [0], "max_letters": [0], "min_letters": [0, 9], "max_words": [0],
                                "max_text_length": [0, True], "max_points": [0]},
    "data.iam_ondb_lines": {"max_lines": [0, True], "on_corrupt": ["ignore"]},
    "data.instance_shapes": {"num_examples": [0], "image_size": [0, 8], "num_classes": [0, 7], "max_instances": [0],
                             "batch_size": [0, True, 2.5, "2"]},
    "data.instance_shapes_arrays": {"split": ["val"], "num_examples": [0], "image_size": [8], "num_classes": [0, 7],
                                    "max_instances": [0]},
    "data.instances_to_coco": {"targets": [None, 5, "x", []], "image_size": [(32, 32), 0, "ab"],
                               "class_names": ["abc", [], [1, 2], ["a"]], "image_ids": [[1], "ab", [1, 1], [1.5, 2]]},
    "data.normalise_strokes": {"strokes": [np.zeros((0, 3), "float32"), np.zeros((3, 2), "float32"),
                                           np.array([[NAN, 0.0, 0.0]], "float32")],
                               "scale": [0.0, NAN, -1.0]},
    "data.oxford_iiit_pet": {"image_size": [(0, 8), "ab", (8, 8, 8)], "download": ["yes"]},
    "data.read_strokes_xml": {"path": [5, None, ""]},
    "data.read_transcriptions": {"path": [5, None, ""]},
    "data.render_distorted_digit": {"family": ["XYZ"], "image_size": [0], "digit_size": [0.0, NAN],
                                    "clutter_pieces": [-1], "clutter_size": [0]},
    "data.render_example": {"image_size": [0], "num_classes": [0], "min_objects": [-1], "max_objects": [0],
                            "min_size": [0], "noise": [-1.0, NAN], "min_contrast": [NAN]},
    "data.scene_parse150": {"image_size": [(0, 8)], "num_classes": [0], "download": ["yes"]},
    "data.scene_parsing_pipeline": {"batch_size": [0, True], "image_size": [(0, 8)], "num_classes": [0],
                                    "training": ["yes"]},
    "data.segmentation_files": {"images": [[]], "image_size": [(0, 8), "ab"],
                                "on_corrupt": ["ignore"]},
    "data.segmentation_from_directory": {"image_size": [(0, 8)], "on_corrupt": ["ignore"]},
    "data.segmentation_pipeline": {"batch_size": [0, True, 2.5, "2"], "num_classes": [0, True], "void_label": ["x"],
                                   "shuffle_buffer": [0], "augment": ["yes"], "dataset": [[1, 2], None]},
    "data.segmentation_stream": {"epochs": [0, -1, True, 2.5], "batch_size": [0, True], "start_step": [-1, True],
                                 "num_classes": [0], "shuffle_buffer": [0], "dataset": [[1, 2]]},
    "data.shape_captions": {"count": [0, True], "split": ["nope"]},
    "data.shape_captions_arrays": {"count": [0], "grid": [0, 1], "cell": [0], "distractors": [-1],
                                   "max_length": [0]},
    "data.spanish_english": {"max_length": [0], "kinds": [(), ("nope",), "numbers"]},
    "data.spanish_english_arrays": {"kinds": [(), ("nope",)]},
    "data.spanish_english_pairs": {"kinds": [(), ("nope",)], "max_length": [0, True]},
    "data.spanish_number": {"n": [-1, True, 2.5, "7", 10**12]},
    "data.synthetic_shapes": {"num_examples": [0], "image_size": [0, 4], "num_classes": [0, 1]},
    "data.synthetic_shapes_arrays": {"num_examples": [0], "image_size": [0], "num_classes": [0]},
    "data.ted_hrlr_translate": {"language_pair": ["xx_to_yy"], "download": ["yes"]},
    "data.text_vectorizer": {"vocabulary": [[], 5], "max_length": [0, True]},
    "data.translation_pipeline": {"max_length": [0, True], "batch_size": [0], "drop_long": ["yes"],
                                  "source_vectorizer": [None]},
    "data.write_coco_annotations": {"path": ["", 5, None], "targets": [None, 5], "image_size": [(32, 32)],
                                    "class_names": [[]], "image_ids": [[1]]},
    "data.write_text": {"text": ["", 5, None]},
    "export.export": {"format": ["tflit", 5], "quantize": ["int4"], "parity_samples": [0, True],
                      "batch_size": [0, True], "input_size": [(0, 8), "ab", (48,), (True, 48)],
                      "tolerance": [NAN, -1.0, "x"], "overwrite": ["yes"], "allow_flex": ["yes"],
                      "path": ["", 5, None]},
    "export.verify_artifact": {"path": ["", 5]},
    "export.inspect_artifact": {"path": ["", 5]},
    "export.read_manifest": {"path": ["", 5]},
    "export.summarize": {"manifest": [{}, None, "x"]},
    "export.has_switches": {"model": ["fcn8s_tiny", None]},
    "training.AtomicModelCheckpoint": {"filepath": ["", 5]},
    "training.Backup": {"backup_dir": ["", 5], "save_freq": [0, "sometimes", True]},
    "training.MeanIoU": {"num_classes": [0, True, 2.5, "4", None], "void_label": ["x", 2.5]},
    "training.PixelAccuracy": {"num_classes": [0, True], "void_label": ["x"]},
    "training.TimeLimit": {"seconds": [0.0, -1.0, NAN, INF, "10", True]},
    "training.atomic_write": {"path": ["", 5]},
    "training.clear_backup": {"backup_dir": ["", 5]},
    "training.coco_instance_evaluation": {"targets": [None, 5, "x"], "detections": [None, 5, "x"],
                                          "mask_threshold": [0.0, -0.5, 1.5]},
    "training.compile_segmentation": {"num_classes": [0, True], "total_steps": [0, True], "learning_rate": [0.0],
                                      "lr_schedule": ["exponential"], "jit_compile": ["sometimes"],
                                      "void_label": ["x"], "model": ["fcn8s_tiny"]},
    "training.describe_strategy": {"strategy": ["mirrored", None]},
    "training.evaluate_segmentation": {"examples": [0, True], "batch_size": [0, True], "data": ["nope"],
                                       "model": ["fcn8s_tiny"]},
    "training.fit_resumable": {"steps_per_epoch": [0, True], "epochs": [0, True], "save_freq": [0, "sometimes"],
                               "make_stream": [None]},
    "training.get_strategy": {"name": ["nope", 5], "devices": [[], "cpu"]},
    "training.global_batch_size": {"per_replica": [0, True, 2.5, "8"], "strategy": ["mirrored"]},
    "training.learning_rate_schedule": {"name": ["exponential", None], "learning_rate": [0.0], "total_steps": [0],
                                        "warmup_steps": [-1, True, 11]},
    "training.precision_policy": {"precision": ["float64", 5, "mixed"]},
    "training.restore_backup": {"backup_dir": ["", 5]},
    "training.save_model_atomic": {"path": ["", 5]},
    "training.save_weights_atomic": {"path": ["", 5]},
    "training.segmentation_data": {"data": ["nope"], "num_examples": [0], "image_size": [0], "num_classes": [0]},
    "training.segmentation_loss": {"void_label": ["x", 2.5, True]},
    "training.shard_for_strategy": {"dataset": [[1, 2]], "strategy": ["mirrored"]},
    "training.train_segmentation": {"num_classes": [0, True], "epochs": [0], "batch_size": [0], "train_examples": [0],
                                    "val_examples": [0], "learning_rate": [NAN], "lr_schedule": ["exponential"],
                                    "image_size": [0, True], "time_limit": [0.0, NAN, -1.0], "precision": ["float64"],
                                    "data": ["nope"], "model": ["no_such_model", 5]},
    "training.warmup_cosine": {"learning_rate": [0.0], "total_steps": [0], "warmup_steps": [-1, 11]},
}

# Values derived from the defaults that are in fact valid for this argument.
DERIVED_VALID = {
    ("data.captioning_pipeline", "image_size"): [7],  # an int is a square size
    ("data.coco_instances", "image_size"): [7],
    ("data.scene_parse150", "image_size"): [7],
    ("data.scene_parsing_pipeline", "image_size"): [7],
    ("data.spanish_english_pairs", "max_length"): [None],  # None: no length limit
}
# Integer arguments for which a negative value is meaningful (an ignore label of -1).
SIGNED = {"void_label"}


def _cases_for(qualified: str) -> list[Case]:
    if qualified not in BASE:
        return []
    func = _resolve(qualified)
    target = func.__init__ if isinstance(func, type) else func
    params = inspect.signature(target).parameters
    base = BASE[qualified]
    extra = EXTRA.get(qualified, {})
    cases = []
    for argument, p in params.items():
        if argument == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        values = []
        if argument not in NOT_DERIVED and p.default is not inspect.Parameter.empty and p.default is not None:
            values = _invalid_values(argument, p.default)
        if argument in SIGNED:  # an ignore label may be negative, or None (nothing ignored)
            values = [v for v in values if v != -1 and v is not None]
        values = [v for v in values if v not in DERIVED_VALID.get((qualified, argument), [])]
        for value in list(values) + list(extra.get(argument, [])):
            # arrays are shown by their shape ("received shape (0, 3)")
            shown = f"shape {value.shape}" if isinstance(value, np.ndarray) else None
            cases.append(Case(qualified, argument, value, _call(func, base, argument, value), shown=shown))
    return cases


def _call(func, base, argument, value):
    def run():
        kwargs = {**base(), argument: value}
        result = func(**kwargs)
        if isinstance(result, contextlib.AbstractContextManager) and not isinstance(result, keras.callbacks.Callback):
            with result:  # a context manager checks its arguments when entered
                pass
        if isinstance(result, tf.data.Dataset):  # a lazy pipeline's checks may run on the first element
            next(iter(result.take(1)), None)
        return result

    return run


# ----------------------------------------------------------------- valid but unusual
def _valid(qualified, argument, value, run):
    return Case(qualified, argument, value, run, valid=True)


def _reaches_work(run):
    """``run`` passes the checks and gets as far as training/converting (the tripwire)."""

    def wrapped():
        try:
            run()
        except _Reached:
            return "reached"
        return "returned"

    return wrapped


VALID_CASES = [
    _valid("training.MeanIoU", "num_classes", np.int64(3), lambda: ksa_training.MeanIoU(np.int64(3))),
    _valid("training.PixelAccuracy", "num_classes", np.int32(3), lambda: ksa_training.PixelAccuracy(num_classes=np.int32(3))),
    _valid("training.global_batch_size", "per_replica", np.int64(4), lambda: ksa_training.global_batch_size(np.int64(4))),
    _valid("training.learning_rate_schedule", "total_steps", np.int32(10),
           lambda: ksa_training.learning_rate_schedule("poly", np.float32(0.1), np.int32(10))),
    _valid("training.warmup_cosine", "warmup_steps", np.int64(0), lambda: ksa_training.warmup_cosine(0.1, 10, np.int64(0))),
    _valid("training.TimeLimit", "seconds", 5, lambda: ksa_training.TimeLimit(5)),
    _valid("data.synthetic_shapes_arrays", "num_examples", np.int64(2),
           lambda: ksa_data.synthetic_shapes_arrays("train", np.int64(2), image_size=np.int32(16), num_classes=np.uint8(3))),
    _valid("data.segmentation_stream", "epochs", np.int64(2),
           lambda: list(ksa_data.segmentation_stream(seg_ds(), np.int64(2), epochs=np.int64(2)))),
    _valid("data.segmentation_pipeline", "batch_size", np.int16(2),
           lambda: list(ksa_data.segmentation_pipeline(seg_ds(), np.int16(2), num_classes=np.int64(4)))),
    _valid("data.spanish_english_pairs", "kinds", ["numbers"],
           lambda: ksa_data.spanish_english_pairs("train", np.int64(3), kinds=["numbers"])),
    _valid("data.spanish_number", "n", np.int64(21), lambda: ksa_data.spanish_number(np.int64(21))),
    _valid("data.handwriting_arrays", "count", np.int64(2), lambda: ksa_data.handwriting_arrays("train", np.int64(2))),
    _valid("data.shape_captions_arrays", "count", np.int32(2), lambda: ksa_data.shape_captions_arrays("train", np.int32(2))),
    _valid("data.instance_shapes_arrays", "num_examples", np.int64(2),
           lambda: ksa_data.instance_shapes_arrays("train", np.int64(2), image_size=np.int32(16),
                                                   num_classes=np.uint8(2), max_instances=np.int64(3))),
    _valid("data.instance_shapes", "batch_size", np.int64(2),
           lambda: list(ksa_data.instance_shapes("train", 3, image_size=16, batch_size=np.int64(2)))),
    _valid("data.instances_to_coco", "image_size", [16, 16],
           lambda: ksa_data.instances_to_coco(instance_targets(), [16, 16], image_ids=np.array([3, 4]))),
    _valid("training.coco_instance_evaluation", "mask_threshold", np.float32(0.5),
           lambda: ksa_training.coco_instance_evaluation(instance_targets(), instance_detections(),
                                                         mask_threshold=np.float32(0.5))),
    _valid("data.distorted_digits_arrays", "num_examples", np.int64(2),
           lambda: ksa_data.distorted_digits_arrays("train", np.int64(2), num_classes=np.int64(10))),
    _valid("training.train_segmentation", "batch_size", np.int64(2),
           _reaches_work(lambda: ksa_training.train_segmentation(
               fcn(), num_classes=np.int64(4), train_examples=np.int64(2), val_examples=2, epochs=np.int64(1),
               batch_size=np.int64(2), verbose=0))),
    # format inferred from the suffix (no format given): gets as far as converting
    _valid("export.export", "path", "x.tflite",
           _reaches_work(lambda: ksa_export.export(fcn(), "/tmp/ksa-sweep-never/x.tflite", verbose=False,
                                                   parity_samples=np.int64(2)))),
    _valid("export.export", "input_size", [np.int64(48), 48],
           _reaches_work(lambda: ksa_export.export(fcn(), "/tmp/ksa-sweep-never/y.tflite", format="tflite",
                                                   input_size=[np.int64(48), 48], parity_samples=2, verbose=False))),
]

# The format inferred from the path, and paths that contradict the format (these and the
# input_size contradictions were written silently: a SavedModel folder named a.tflite).
EXPORT_CASES = [
    Case("export.export", "path", "/tmp/ksa-sweep-never/a.tflite", lambda: ksa_export.export(
        fcn(), "/tmp/ksa-sweep-never/a.tflite", format="savedmodel", verbose=False)),
    Case("export.export", "path", "/tmp/ksa-sweep-never/c.xyz", lambda: ksa_export.export(
        fcn(), "/tmp/ksa-sweep-never/c.xyz", verbose=False)),
    Case("export.export", "path", "/tmp/ksa-sweep-never/c.onnx", lambda: ksa_export.export(
        fcn(), "/tmp/ksa-sweep-never/c.onnx", format="tflite", verbose=False)),
    # input_size fixes the size of a TFLite artifact: a SavedModel/ONNX keeps dynamic sizes
    Case("export.export", "input_size", (48, 48), lambda: ksa_export.export(
        fcn(), "/tmp/ksa-sweep-never/sm", input_size=(48, 48), verbose=False)),
    # ... and a model of fixed size cannot be exported at another size
    Case("export.export", "input_size", (48, 48), lambda: ksa_export.export(
        digits(), "/tmp/ksa-sweep-never/d.tflite", input_size=(48, 48), verbose=False)),
]


def _with(make, key, value):
    """``make()`` (a dict) with ``key`` replaced by ``value``."""
    return {**make(), key: value}


EXTRA_CASES = [
    # instance layouts whose parts disagree: the message shows the offending shape
    Case("training.coco_instance_evaluation", "detections", "masks of 8x8 images", lambda: ksa_training.coco_instance_evaluation(
        instance_targets(), _with(instance_detections, "masks", np.zeros((2, 4, 8, 8), "float32"))),
        shown="shape (2, 4, 8, 8)"),
    Case("training.coco_instance_evaluation", "detections", "scores of 3 images", lambda: ksa_training.coco_instance_evaluation(
        instance_targets(), _with(instance_detections, "scores", np.zeros((3, 4), "float32"))), shown="shape (3, 4)"),
    Case("training.coco_instance_evaluation", "targets", "no instance", lambda: ksa_training.coco_instance_evaluation(
        _with(instance_targets, "classes", np.zeros((2, 4), "int32")), instance_detections()),
        shown="2 images with only padding rows"),
    Case("data.instances_to_coco", "targets", "boxes (2, 4)", lambda: ksa_data.instances_to_coco(
        _with(instance_targets, "boxes", np.zeros((2, 4), "float32"))), shown="shape (2, 4)"),
    Case("data.instances_to_coco", "targets", "no masks", lambda: ksa_data.instances_to_coco(
        {"boxes": instance_targets()["boxes"], "classes": instance_targets()["classes"]}),
        shown="keys ['boxes', 'classes']"),
    Case("data.segmentation_files", "masks", [], lambda: ksa_data.segmentation_files(["/nonexistent/a.png"], []),
         shown="shape (0,)"),
]


# ----------------------------------------------------------------- the sweep
def _run(case: Case):
    start = time.perf_counter()
    error = None
    with _tripwire():
        try:
            case.run()
        except _Reached:
            error = None  # got as far as real work: nothing refused the input
        except Exception as e:  # noqa: BLE001 - every failure is classified
            error = e
    seconds = time.perf_counter() - start
    if case.valid:
        result = "ok" if error is None else f"rejected: {type(error).__name__}: {str(error)[:300]}"
    else:
        result = classify(error, case.argument, case.value, case.shown)
        if result.startswith("unclear"):
            result += f" -- {type(error).__name__}: {str(error)[:300]}"
    return types.SimpleNamespace(case=case, result=result, seconds=seconds)


CALLABLES = public_callables()


@pytest.fixture(scope="module")
def sweep():
    keras.backend.clear_session()
    cases = [c for name in CALLABLES for c in _cases_for(name)] + EXPORT_CASES + EXTRA_CASES + VALID_CASES
    start = time.perf_counter()
    outcomes = [_run(c) for c in cases]
    return outcomes, time.perf_counter() - start


def test_every_public_callable_has_cases():
    missing = [n for n in CALLABLES if n not in EXCLUDED and not any(not c.valid for c in _cases_for(n))]
    assert not missing, (
        f"public callables without an invalid-input case (add a BASE row and EXTRA cases in "
        f"tests/test_api_sweep_functions.py, or an EXCLUDED entry if it takes no user values): {missing}"
    )
    stale = sorted(set(EXCLUDED) - set(CALLABLES))
    assert not stale, f"EXCLUDED names that are no longer public callables: {stale}"


def test_no_invalid_input_is_silently_accepted(sweep):
    silent = _failures(sweep[0], "silent")
    assert not silent, f"{len(silent)} invalid inputs accepted:\n" + "\n".join(silent)


def test_every_error_names_argument_value_and_expectation(sweep):
    unclear = _failures(sweep[0], "unclear")
    assert not unclear, f"{len(unclear)} unclear errors:\n" + "\n".join(unclear)


def test_valid_unusual_inputs_are_accepted(sweep):
    rejected = _failures(sweep[0], "rejected")
    assert not rejected, f"{len(rejected)} valid inputs rejected:\n" + "\n".join(rejected)


def test_sweep_summary(sweep):
    outcomes, seconds = sweep
    entries = {o.case.entry for o in outcomes}
    counts = {
        "inputs tried": len(outcomes),
        "callables covered": len(entries),
        "data": len({e for e in entries if e.startswith("data.")}),
        "export": len({e for e in entries if e.startswith("export.")}),
        "training": len({e for e in entries if e.startswith("training.")}),
        "unclear": len(_failures(outcomes, "unclear")),
        "silently accepted": len(_failures(outcomes, "silent")),
        "wrongly rejected": len(_failures(outcomes, "rejected")),
        "seconds": round(seconds, 1),
    }
    print("\nfunction sweep:", counts)
    assert counts["callables covered"] == len(set(CALLABLES) - EXCLUDED)
    assert not math.isnan(seconds)


def test_export_input_size_takes_effect_and_format_follows_the_suffix(tmp_path):
    """The one real export of this file: no ``format`` (inferred from ``.tflite``) and
    ``input_size`` fixing the artifact's spatial size (it was ignored: the parity data's
    size was used whatever was asked)."""
    manifest = ksa_export.export(fcn(), str(tmp_path / "f.tflite"), input_size=(48, 48), parity_samples=2,
                                 verbose=False)
    assert manifest["format"] == "tflite"
    assert manifest["inputs"]["image"]["shape"][1:3] == [48, 48]
    assert manifest["parity"]["passed"]
    # nothing was written by the refused exports of the sweep
    import os

    assert not os.path.exists("/tmp/ksa-sweep-never/a.tflite") and not os.path.exists("/tmp/ksa-sweep-never/c.xyz")
