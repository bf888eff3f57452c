"""Task objects: models carry their task; nothing outside keras_segattn/tasks/ branches on one."""

import ast
import os

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.export import UnsupportedTarget, export
from keras_segattn.tasks import SemanticSegmentation, TaskModel, get_task, list_tasks, task_of

PACKAGE = os.path.dirname(ksa.__file__)


def _task_name_branches(path):
    """(line, name) of every place ``path`` branches on a registered task name: a comparison
    with it (``==``, ``in (...)``), a dict keyed by it, or a ``match`` case on it. A line
    marked ``# not-a-task-branch: <why>`` is exempt."""
    names = set(list_tasks())
    source = open(path).read()
    lines = source.splitlines()
    tree = ast.parse(source)
    candidates = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                candidates += operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
        elif isinstance(node, ast.Dict):
            candidates += [k for k in node.keys if k is not None]
        elif isinstance(node, ast.MatchValue):
            candidates.append(node.value)
    return sorted(
        (c.lineno, c.value) for c in candidates
        if isinstance(c, ast.Constant) and c.value in names
        # A line may say why a task-named string is no branch (an output's name).
        and "# not-a-task-branch:" not in lines[c.lineno - 1]
    )


def test_no_module_outside_tasks_branches_on_a_task_name():
    found = {}
    for root, _, files in os.walk(PACKAGE):
        if os.path.relpath(root, PACKAGE).split(os.sep)[0] == "tasks":
            continue
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(root, file)
                hits = _task_name_branches(path)
                if hits:
                    found[os.path.relpath(path, PACKAGE)] = hits
    assert found == {}, f"task names used outside keras_segattn/tasks/ (dispatch through the Task instead): {found}"


def test_the_scan_sees_a_branch(tmp_path):
    path = tmp_path / "branchy.py"
    path.write_text(
        'def f(task):\n    if task == "semantic_segmentation":\n        return 1\n'
        '    if task in ("translation", "x"):\n        return 2\n'
        '    return {"image_classification": 3}[task]\n'
        'OUTPUT = {"name": "translation"}\n'
        'NAMES = {"translation": 1}  # not-a-task-branch: an output name\n'
    )
    assert _task_name_branches(str(path)) == [
        (2, "semantic_segmentation"), (4, "translation"), (6, "image_classification")
    ]


def test_every_registered_model_carries_its_task():
    for name in ksa.list_models("*_tiny"):
        spec = ksa.get_spec(name)
        model = spec.build(name=name)
        assert isinstance(model, TaskModel) and model.task is get_task(spec.task), name
        assert model.registered_name == name


def test_unknown_task_names_the_registered_ones():
    with pytest.raises(ValueError, match="Unknown task 'segmentation'. Did you mean 'semantic_segmentation'"):
        get_task("segmentation")
    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs), name="mine")
    with pytest.raises(ValueError, match="The task of model 'mine' is unknown.*pass task="):
        task_of(plain)
    assert task_of(plain, "semantic_segmentation").name == task_of(plain, SemanticSegmentation()).name


def _float16_manifest(model, path, **kwargs):
    manifest = export(model, path, format="tflite", quantize="float16", verbose=False, **kwargs)
    parity = manifest["parity"]
    assert parity["passed"] and parity["kind"] == "task"
    return manifest


@pytest.mark.export
def test_renamed_and_reloaded_deconvnet_export_with_their_gate_and_data(tmp_path):
    # Untrained (seed 0): float16 keeps 0.984 argmax agreement, above the gate's 0.95.
    keras.utils.set_random_seed(0)
    model = ksa.build_model("deconvnet_tiny")
    model.name = "my_segmenter"
    for label, candidate in (("renamed", model), ("reloaded", None)):
        if candidate is None:
            path = str(tmp_path / "my_segmenter.keras")
            model.save(path)
            candidate = keras.saving.load_model(path, safe_mode=True)
            assert candidate.name == "my_segmenter"
        manifest = _float16_manifest(candidate, str(tmp_path / f"{label}.tflite"))
        assert manifest["parity"]["metric"] == "mean_iou", label  # the segmentation gate
        assert manifest["parity"]["source"] == "embedded test data", label
        assert manifest["model"]["task"] == "semantic_segmentation"
        assert manifest["model"]["registered_name"] == "deconvnet_tiny"
        assert manifest["model"]["family"] == "deconvnet"


@pytest.mark.export
def test_a_users_own_model_exports_with_a_named_task(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    plain = keras.Model(inputs, keras.layers.Conv2D(5, 3, padding="same")(x), name="users_model")
    SemanticSegmentation().quick_fit(plain)
    manifest = _float16_manifest(plain, str(tmp_path / "u.tflite"), task="semantic_segmentation")
    assert manifest["model"]["task"] == "semantic_segmentation" and manifest["model"]["registered"] is False
    assert manifest["parity"]["metric"] == "mean_iou"


def test_renamed_model_keeps_its_unsupported_target_note(tmp_path):
    model = ksa.build_model("bahdanau_nmt_tiny")
    model.name = "my_translator"
    with pytest.raises(UnsupportedTarget, match="my_translator cannot be exported to tflite/int8: full-integer int8"):
        export(model, str(tmp_path / "t.tflite"), format="tflite", quantize="int8")


def test_default_data_follows_the_model_input_size():
    model = ksa.build_model("fcn8s_tiny", input_shape=(32, 32, 3))
    (images,), labels = task_of(model).data(model, "test", 3)
    assert images.shape == (3, 32, 32, 3) and labels.shape == (3, 32, 32)
    assert np.isfinite(images).all()


def test_every_task_says_what_predict_reads():
    kinds = {name: get_task(name).predict_input for name in list_tasks()}
    assert set(kinds.values()) <= {"image", "text", "seed"}, kinds
    assert kinds["translation"] == kinds["handwriting"] == "text"
    assert kinds["adversarial_generation"] == "seed"
    assert kinds["semantic_segmentation"] == "image"
    assert all(get_task(name).predict_input_help for name in kinds)


def test_every_task_refuses_a_learning_rate_that_cannot_train():
    from keras_segattn.registry import get_spec, list_models

    first_tiny = {}
    for name in list_models():
        spec = get_spec(name)
        if spec.tiny and spec.builder.__module__.startswith("keras_segattn."):  # not a test's toy
            first_tiny.setdefault(spec.task, name)
    assert set(first_tiny) == {t for t in list_tasks() if type(get_task(t)).__module__.startswith("keras_segattn.")}
    for task, name in first_tiny.items():
        model = ksa.build_model(name)
        for bad in (float("nan"), float("inf"), 0.0, -1e-3):
            with pytest.raises(ValueError, match=rf"learning_rate must be a finite number > 0, received {bad!r}"):
                get_task(task).compile(model, learning_rate=bad)
        assert get_task(task).compile(model, learning_rate=1e-3) is model
