"""The shared checks every layer and every registered model must pass.

``check_layer`` and ``check_model`` assert: output shapes agree between the
symbolic graph, eager execution and ``compute_output_shape``; the config round
trip is exact; a ``.keras`` save/load reproduces the outputs; gradients exist
and are finite for every trainable weight; a ``fit`` step runs under XLA
(``jit_compile=True``) and changes the weights with a finite loss.
"""

from __future__ import annotations

import copy
import gc
import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.registry import get_spec
from keras_segattn.tasks import get_task, task_of


# --------------------------------------------------------------------- shapes
def _shapes_agree(symbolic, eager, where):
    symbolic, eager = tuple(symbolic), tuple(eager)
    assert len(symbolic) == len(eager), f"{where}: rank {symbolic} vs {eager}"
    for s, e in zip(symbolic, eager):
        assert s is None or s == e, f"{where}: symbolic {symbolic} vs eager {eager}"


def _flat(x):
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _assert_same_config(a, b, where):
    a = json.dumps(a, sort_keys=True, indent=0, default=str).splitlines()
    b = json.dumps(b, sort_keys=True, indent=0, default=str).splitlines()
    if a != b:
        import difflib

        diff = "\n".join(list(difflib.unified_diff(b, a, "config", "round trip", lineterm=""))[:30])
        raise AssertionError(f"{where}: get_config round trip differs:\n{diff}")


# --------------------------------------------------------------------- layers
def check_layer(
    layer_factory,
    inputs,
    *,
    tmp_path,
    xla=True,
    grad_wrt_inputs=True,  # True: every float input; or a list of input indices
    expected_output_shapes=None,
):
    """Run the shared layer checks. ``inputs``: one array or a list of arrays."""
    inputs_list = inputs if isinstance(inputs, list) else [inputs]
    layer = layer_factory()
    call_arg = inputs_list if isinstance(inputs, list) else inputs_list[0]

    # Eager, symbolic and compute_output_shape agree.
    eager = _flat(layer(call_arg))
    sym_inputs = [keras.Input(x.shape[1:], batch_size=None, dtype=x.dtype) for x in inputs_list]
    sym_out = _flat(layer_factory()(sym_inputs if isinstance(inputs, list) else sym_inputs[0]))
    shapes = [tuple(x.shape) for x in inputs_list]
    computed = layer.compute_output_shape(shapes if isinstance(inputs, list) else shapes[0])
    computed = computed if isinstance(computed, (list, tuple)) and computed and isinstance(computed[0], (list, tuple)) else [computed]
    assert len(eager) == len(sym_out) == len(computed)
    for e, s, c in zip(eager, sym_out, computed):
        _shapes_agree(s.shape, e.shape, f"{type(layer).__name__} symbolic/eager")
        _shapes_agree(c, e.shape, f"{type(layer).__name__} compute_output_shape/eager")
    if expected_output_shapes is not None:
        assert [tuple(e.shape) for e in eager] == [tuple(s) for s in expected_output_shapes]

    # Config round trip: get_config holds the constructor arguments.
    config = layer.get_config()
    clone = type(layer).from_config(copy.deepcopy(config))
    _assert_same_config(clone.get_config(), config, type(layer).__name__)

    # .keras save/load inside a functional model.
    model_inputs = sym_inputs if isinstance(inputs, list) else sym_inputs[0]
    model = keras.Model(model_inputs, layer_factory()(model_inputs))
    before = [keras.ops.convert_to_numpy(t) for t in _flat(model(call_arg))]
    path = os.path.join(str(tmp_path), f"{type(layer).__name__}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = [keras.ops.convert_to_numpy(t) for t in _flat(loaded(call_arg))]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)

    # Gradients w.r.t. float inputs and trainable weights exist and are finite.
    float_inputs = [tf.convert_to_tensor(x) for x in inputs_list]
    with tf.GradientTape() as tape:
        for x in float_inputs:
            if x.dtype.is_floating:
                tape.watch(x)
        outs = _flat(model(float_inputs if isinstance(inputs, list) else float_inputs[0], training=True))
        total = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32) ** 2) for o in outs if o.dtype.is_floating])
    sources = list(model.trainable_weights)
    if grad_wrt_inputs is True:
        grad_wrt_inputs = [i for i, x in enumerate(float_inputs) if x.dtype.is_floating]
    sources += [float_inputs[i] for i in (grad_wrt_inputs or [])]
    grads = tape.gradient(total, sources)
    for src, g in zip(sources, grads):
        name = getattr(src, "path", getattr(src, "name", "input"))
        assert g is not None, f"no gradient for {name}"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(g))), f"non-finite gradient for {name}"

    # Same outputs under XLA.
    if xla:
        compiled = tf.function(lambda *a: _flat(model(list(a) if isinstance(inputs, list) else a[0])), jit_compile=True)
        xla_out = [t.numpy() for t in compiled(*float_inputs)]
        for b, a in zip(before, xla_out):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    return layer


# --------------------------------------------------------------------- models
# Everything task-specific (data, loss, compile recipe, brief training) comes
# from the model's Task, so a family outside the package is checked the same way.
def sample_batch(model, task=None, batch_size=2, size=None, seed=0):
    """Real inputs and labels for ``model`` from its task's embedded data."""
    return task_of(model, task).sample_batch(model, batch_size=batch_size, seed=seed, size=size)


def loss_for_task(task):
    return get_task(task).loss()


def compile_for_task(model, task=None, jit_compile=True, learning_rate=1e-3):
    return task_of(model, task).compile(model, learning_rate=learning_rate, jit_compile=jit_compile)


def check_model(name, *, tmp_path, overrides=None, batch_size=2, size=None, save=True):
    """The shared model checks for the registered model ``name``."""
    spec = get_spec(name)
    model = spec.build(name=name, **(overrides or {}))
    assert model.name == name
    task = get_task(spec.task)
    assert task_of(model) is task, f"{name}: build_model's model does not carry its task"
    x, y = sample_batch(model, task, batch_size=batch_size, size=size)

    # Shapes: symbolic == eager == compute_output_shape.
    eager = _flat(model(x, training=False))
    symbolic = _flat(model.output)
    computed = model.compute_output_shape(x.shape)
    computed = computed if isinstance(computed, (list, tuple)) and computed and isinstance(computed[0], (list, tuple)) else [computed]
    for s, e, c in zip(symbolic, eager, computed):
        _shapes_agree(s.shape, e.shape, f"{name} symbolic/eager")
        _shapes_agree(c, e.shape, f"{name} compute_output_shape/eager")
    for e in eager:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(e))), f"{name}: non-finite outputs"

    # Config round trip: a model rebuilt from its config has the same config.
    config = model.get_config()
    clone = keras.Model.from_config(copy.deepcopy(config))
    _assert_same_config(clone.get_config(), config, name)
    assert clone.count_params() == model.count_params()
    del clone
    gc.collect()

    # .keras save/load reproduces the outputs exactly (safe mode: no Lambda layers).
    reference = [keras.ops.convert_to_numpy(t) for t in eager]
    if save:
        path = os.path.join(str(tmp_path), f"{name}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        for r, o in zip(reference, _flat(loaded(x, training=False))):
            np.testing.assert_array_equal(r, keras.ops.convert_to_numpy(o))
        del loaded
        gc.collect()

    # Gradients for every trainable weight exist and are finite.
    loss_fn = task.loss()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        assert g is not None, f"{name}: no gradient for {w.path}"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(g))), f"{name}: non-finite gradient for {w.path}"

    # One fit step under XLA: finite loss, weights move.
    task.compile(model, learning_rate=1e-3, jit_compile=True)
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]), f"{name}: XLA fit step loss is not finite"
    moved = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    assert moved > 0, f"{name}: the XLA fit step did not change any weight"
    return model


def quick_train(name, seed=0):
    """Build ``name`` and train it briefly on its embedded data (decisive outputs for int8 gates)."""
    spec = get_spec(name)
    keras.utils.set_random_seed(seed)
    return spec.task_object.quick_fit(spec.build(name=name), seed=seed)
