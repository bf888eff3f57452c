"""Never lose a user's data: every registered model reloads from ``.keras`` in a fresh process.

The sweep covers ``list_models("*_tiny")`` (the paper-size models, e.g.
``bahdanau_nmt`` with 30k vocabularies or ``fcn8s`` on VGG16, are too big to
build and save in CI; the tiny variants share their builders and layers), each
uncompiled and compiled with its task's recipe (then trained one step, so the
file holds optimizer state and the compile config). A module fixture builds and
saves everything, then ONE fresh subprocess (one TensorFlow start-up) runs
``import keras, keras_segattn`` and nothing else from the package, loads every
file with ``safe_mode=True``, and writes back what it read; each test compares
with the in-process model on the same fixed input, bit for bit.

The subprocess runs under an ASCII (POSIX, non-UTF-8) locale, as a cron job or
a bare container does: saving and loading must not depend on the locale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.tasks import get_task
from keras_segattn.training import VOID_LABEL
from tests.helpers import sample_batch

# Paper-size models are too big for CI (see the module docstring).
TINY_MODELS = ksa.list_models("*_tiny")
TOTAL_STEPS = 10  # compile with a learning-rate schedule: the schedule must round-trip too


def _compile_segmentation(model):
    from keras_segattn.training import compile_segmentation

    return compile_segmentation(model, int(model.outputs[0].shape[-1]), total_steps=TOTAL_STEPS)


def _compile_classification(model):
    from keras_segattn.training.classification import compile_classification

    return compile_classification(model, total_steps=TOTAL_STEPS)


def _compile_translation(model):
    from keras_segattn.training.translation import compile_translation

    return compile_translation(model)


# Explicit recipes of the first tasks (with a schedule, which must round-trip); other tasks use
# their Task's compile.
COMPILE = {
    "semantic_segmentation": _compile_segmentation,
    "image_classification": _compile_classification,
    "translation": _compile_translation,
}

TRANSLATOR_BEAM_WIDTH = 2


def _translator_sentences():
    from keras_segattn.data.translation import spanish_english_pairs

    # Corpus sentences plus one whose words are non-ASCII vocabulary entries.
    return [source for source, _ in spanish_english_pairs("test", 4)] + ["el niño está en el jardín"]


def _translations_as_dict(results):
    return {
        "text": [r.text for r in results],
        "tokens": [r.tokens for r in results],
        "source_tokens": [r.source_tokens for r in results],
        "unknown": [r.unknown for r in results],
        "score": [r.score for r in results],
    }


# What the fresh process runs: `import keras, keras_segattn` and nothing else of the package.
LOADER = textwrap.dedent(
    """
    import json, os, sys, traceback, warnings
    import numpy as np
    import keras, keras_segattn

    root = sys.argv[1]
    manifest = json.load(open(os.path.join(root, "manifest.json"), encoding="utf-8"))
    report = {"registered": sorted(k for k in keras.saving.get_custom_objects() if k.startswith("keras_segattn>"))}
    for case in manifest["cases"]:
        entry = report[case["id"]] = {}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = keras.saving.load_model(case["path"], safe_mode=True)
            entry["warnings"] = [str(w.message) for w in caught]
            entry["compiled"] = bool(model.compiled)
            arrays = np.load(case["x"])
            x = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
            x = x[0] if len(x) == 1 else x  # a multi-input model (image, caption) takes a list
            out = {f"output_{i}": keras.ops.convert_to_numpy(t)
                   for i, t in enumerate(keras.tree.flatten(model(x, training=False)))}
            if case["compiled"]:
                model.run_eagerly = True
                y = np.load(case["y"])
                if case["y"].endswith(".npz"):  # dict targets (instance segmentation)
                    y = {k: y[k] for k in y.files}
                else:
                    y = y if len(model.outputs) == 1 else [y]  # as _targets() in the test
                entry["evaluate"] = model.evaluate(x, y, return_dict=True, verbose=0)
                entry["compile_config"] = json.loads(json.dumps(model.get_compile_config(), default=str))
                out.update({f"optimizer_{i}": keras.ops.convert_to_numpy(v)
                            for i, v in enumerate(model.optimizer.variables)})
            np.savez(case["result"], **out)
        except Exception:
            entry["error"] = traceback.format_exc()
    try:
        translator = keras_segattn.models.bahdanau_nmt.Translator.load(manifest["translator"]["directory"])
        results = translator.translate(manifest["translator"]["sentences"], beam_width=manifest["translator"]["beam_width"])
        report["translator"] = {
            "text": [r.text for r in results], "tokens": [r.tokens for r in results],
            "source_tokens": [r.source_tokens for r in results], "unknown": [r.unknown for r in results],
            "score": [r.score for r in results], "compiled": bool(translator.model.compiled),
        }
        np.savez(os.path.join(root, "translator_alignment.npz"), *[r.alignment for r in results])
    except Exception:
        report["translator"] = {"error": traceback.format_exc()}
    with open(os.path.join(root, "report.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, default=str)
    """
)


def _targets(model, y):
    # Eager Keras matches y_true to the outputs by structure: the translator's second
    # output (alignment) has no loss, so its labels are given as [logit_labels].
    # Dict targets (instance segmentation) go to the model's own compute_loss as they are.
    return y if isinstance(y, dict) or len(model.outputs) == 1 else [y]


def _perturb(model, rng):
    """Move every trainable weight off its initial value, as training would.

    Initial values can hide a lost setting: a spatial transformer initialised to
    the identity samples the same pixels whatever its ``align_corners``.
    """
    for weight in model.trainable_weights:
        value = keras.ops.convert_to_numpy(weight)
        noise = rng.standard_normal(value.shape).astype(value.dtype)
        weight.assign(value * (1 + 0.1 * noise) + 0.05 * noise)


def _fresh_process_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONUTF8"))}
    # ASCII locale, no UTF-8 mode: open() without an encoding would use ASCII here.
    env.update(
        LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0",
        TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1",
    )  # fmt: skip
    return env


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    """Save every case here, load them all in one fresh process; yields (expected, report, root)."""
    root = tmp_path_factory.mktemp("reload")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cases, expected = [], {}
    for name in TINY_MODELS:
        task = ksa.get_spec(name).task
        for compiled in (False, True):
            case_id = f"{name}-{'compiled' if compiled else 'uncompiled'}"
            model = ksa.build_model(name)
            _perturb(model, rng)
            x, y = sample_batch(model, task, batch_size=2)
            if task == "semantic_segmentation":
                # Void pixels: a loss or metric that lost its void_label on reload scores them.
                y = y.copy()
                y[:, : y.shape[1] // 4] = VOID_LABEL
            targets = _targets(model, y)
            record = {}
            if compiled:
                COMPILE[task](model) if task in COMPILE else get_task(task).compile(model, total_steps=TOTAL_STEPS)
                model.run_eagerly = True  # one eager step: no XLA compile in CI
                model.train_on_batch(x, targets)
                record["evaluate"] = model.evaluate(x, targets, return_dict=True, verbose=0)
                record["compile_config"] = json.loads(json.dumps(model.get_compile_config(), default=str))
                record["optimizer"] = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
            record["outputs"] = [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(model(x, training=False))]
            path = str(root / f"{case_id}.keras")
            model.save(path)
            np.savez(root / f"{case_id}_x.npz", *(x if isinstance(x, (list, tuple)) else [x]))
            if isinstance(y, dict):
                y_path = str(root / f"{case_id}_y.npz")
                np.savez(y_path, **y)
            else:
                y_path = str(root / f"{case_id}_y.npy")
                np.save(y_path, y)
            cases.append(
                {
                    "id": case_id,
                    "path": path,
                    "compiled": compiled,
                    "x": str(root / f"{case_id}_x.npz"),
                    "y": y_path,
                    "result": str(root / f"{case_id}_result.npz"),
                }
            )
            expected[case_id] = record
            if name == "bahdanau_nmt_tiny" and compiled:
                trained_nmt = model

    # Translator round trip: the compiled, trained-one-step model with the default vocabularies.
    translator = ksa.models.bahdanau_nmt.Translator(trained_nmt)
    sentences = _translator_sentences()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # untrained: [UNK] warnings are not the point here
        results = translator.translate(sentences, beam_width=TRANSLATOR_BEAM_WIDTH)
    expected["translator"] = {**_translations_as_dict(results), "alignment": [r.alignment for r in results]}
    translator_dir = str(root / "translator")
    translator.save(translator_dir)

    manifest = {
        "cases": cases,
        "translator": {"directory": translator_dir, "sentences": sentences, "beam_width": TRANSLATOR_BEAM_WIDTH},
    }
    with open(root / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(root)],
        cwd=str(root),  # not the repository: the installed package, nothing from tests/
        env=_fresh_process_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(f"fresh-process load of {len(cases)} models and the translator: {time.perf_counter() - start:.1f} s")
    assert done.returncode == 0, f"the loader process failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    with open(root / "report.json", encoding="utf-8") as fh:
        report = json.load(fh)
    return expected, report, root


def _case(reloaded, case_id):
    expected, report, _ = reloaded
    entry = report[case_id]
    assert "error" not in entry, f"{case_id}: loading in a fresh process failed:\n{entry['error']}"
    return expected[case_id], entry


@pytest.mark.parametrize("name", TINY_MODELS)
def test_uncompiled_model_reloads_in_a_fresh_process(reloaded, name):
    case_id = f"{name}-uncompiled"
    record, entry = _case(reloaded, case_id)
    assert entry["warnings"] == [], f"{case_id}: load_model warned: {entry['warnings']}"
    assert entry["compiled"] is False
    result = np.load(os.path.join(reloaded[2], f"{case_id}_result.npz"))
    outputs = [result[f"output_{i}"] for i in range(len([k for k in result.files if k.startswith("output_")]))]
    assert len(outputs) == len(record["outputs"])
    for before, after in zip(record["outputs"], outputs):
        assert np.all(np.isfinite(before)), f"{case_id}: non-finite outputs would compare equal as NaN"
        np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("name", TINY_MODELS)
def test_compiled_model_reloads_in_a_fresh_process_with_its_loss_metrics_and_optimizer(reloaded, name):
    case_id = f"{name}-compiled"
    record, entry = _case(reloaded, case_id)
    # A warning here means something was silently dropped (optimizer state, compile()).
    assert entry["warnings"] == [], f"{case_id}: load_model warned: {entry['warnings']}"
    assert entry["compiled"] is True
    result = np.load(os.path.join(reloaded[2], f"{case_id}_result.npz"))
    outputs = [result[f"output_{i}"] for i in range(len(record["outputs"]))]
    for before, after in zip(record["outputs"], outputs):
        assert np.all(np.isfinite(before)), f"{case_id}: non-finite outputs would compare equal as NaN"
        np.testing.assert_array_equal(after, before)
    # Same loss, metrics (names and values) and optimizer state (step count, moments).
    assert entry["compile_config"] == record["compile_config"]
    assert sorted(entry["evaluate"]) == sorted(record["evaluate"])
    for key, value in record["evaluate"].items():
        np.testing.assert_allclose(entry["evaluate"][key], value, rtol=1e-6, err_msg=f"{case_id}: {key}")
    optimizer = [result[f"optimizer_{i}"] for i in range(len([k for k in result.files if k.startswith("optimizer_")]))]
    assert len(optimizer) == len(record["optimizer"]) and int(optimizer[0]) == 1  # iterations
    for before, after in zip(record["optimizer"], optimizer):
        np.testing.assert_array_equal(after, before)


def test_every_serialisable_class_is_registered_by_import_keras_segattn_alone(reloaded):
    """No class is registered only by importing a submodule: the fresh process sees them all."""
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(ksa.__path__, prefix="keras_segattn."):
        importlib.import_module(module.name)
    everything = {k for k in keras.saving.get_custom_objects() if k.startswith("keras_segattn>")}
    assert everything, "keras_segattn registers no serialisable class?"
    missing = everything - set(reloaded[1]["registered"])
    assert not missing, f"registered only after importing a submodule, not by `import keras_segattn`: {sorted(missing)}"


def test_translator_save_load_round_trip_in_a_fresh_process(reloaded):
    expected, report, root = reloaded
    loaded = report["translator"]
    assert "error" not in loaded, f"Translator.load failed in a fresh process:\n{loaded['error']}"
    assert loaded["compiled"] is True
    want = expected["translator"]
    for key in ("text", "tokens", "source_tokens", "unknown", "score"):
        assert loaded[key] == want[key], key
    assert {"niño", "está", "jardín"} <= set(loaded["source_tokens"][-1])  # non-ASCII vocabulary intact
    assert loaded["unknown"][-1] == []
    alignment = np.load(os.path.join(root, "translator_alignment.npz"))
    for i, before in enumerate(want["alignment"]):
        np.testing.assert_array_equal(alignment[f"arr_{i}"], before)
