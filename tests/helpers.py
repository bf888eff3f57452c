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
def _is_float(t):
    return "float" in keras.backend.standardize_dtype(t.dtype)


def _build_only(layer, inputs_list, as_list):
    """``layer.build`` on the input shapes, without calling the layer.

    Keras hands ``build`` the shape structure of the single positional call
    argument (a list of shapes for list inputs), which is what is passed here.
    Calling ``build`` directly (not ``layer(x)``) matters: for a layer without a
    ``build`` method Keras would otherwise trace ``call()`` to build it, which
    hides weights that ``call()`` creates.
    """
    if not layer.built:
        shapes = [tuple(x.shape) for x in inputs_list]
        layer.build(shapes if as_list else shapes[0])


def _call_creates_no_weights(layer, call_arg, name):
    """Call a built layer; assert the call created no weight (count and paths)."""
    before = [w.path for w in layer.weights]
    try:
        outputs = layer(call_arg)
    except ValueError as e:  # Keras locks a built layer's state: add_weight in call() raises.
        if "already built" in str(e):
            raise AssertionError(f"{name}: call() creates weights; create them in build(): {e}") from e
        raise
    after = [w.path for w in layer.weights]
    assert after == before, (
        f"{name}: call() created weights; all weights must exist after build(): "
        f"{len(before)} after build {before} vs {len(after)} after call {after}"
    )
    return outputs


class _TrainableScale(keras.layers.Layer):
    """``x * s`` with a scalar trainable ``s = 1``: gives a weight-free layer's fit step something to train."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones")

    def call(self, x):
        return x * keras.ops.cast(self.scale, x.dtype)


class _SumOfSquaresModel(keras.Model):
    """Functional model trained to drive its float outputs to zero (integer outputs carry no loss)."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = keras.ops.zeros((), "float32")
        for extra in self.losses:  # regularisers
            loss = loss + keras.ops.cast(extra, "float32")
        for out in _flat(y_pred):
            if _is_float(out):
                loss = loss + keras.ops.mean(keras.ops.square(keras.ops.cast(out, "float32")))
        return loss


def _check_fit_step(layer_factory, inputs_list, as_list, scale_inputs, jit_compile, name):
    """One compiled ``fit`` step: finite loss, and the trained weights move."""
    sym = [keras.Input(x.shape[1:], dtype=x.dtype) for x in inputs_list]
    layer = layer_factory()
    _build_only(layer, inputs_list, as_list)
    feed = list(sym)
    if not layer.trainable_weights:
        # Nothing of the layer's own to train: a scalar trainable scale in front
        # of the float inputs the gradient flows to; it moves only if gradients
        # pass through the layer inside the compiled step.
        for i in scale_inputs:
            feed[i] = _TrainableScale(name=f"scale_{i}")(feed[i])
    model = _SumOfSquaresModel(sym, layer(feed if as_list else feed[0]), name="fit_probe")
    assert model.trainable_weights, f"{name}: nothing to train in the fit step (no float input takes a gradient)"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
    before = [w.numpy().copy() for w in model.trainable_weights]
    batch = inputs_list[0].shape[0]
    history = model.fit(inputs_list if as_list else inputs_list[0], batch_size=batch, epochs=1, shuffle=False, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss), f"{name}: fit step (jit_compile={jit_compile}) loss is not finite: {loss}"
    moved = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    assert moved > 0, f"{name}: the fit step (jit_compile={jit_compile}) did not change any weight"


def _check_mixed_float16(layer_factory, layer, inputs_list, as_list, reference, name):
    """A fresh layer built under ``mixed_float16`` with ``layer``'s weights agrees with the float32 outputs."""
    from keras_segattn.training import precision_policy

    with precision_policy("mixed_float16"):
        mixed = layer_factory()
        _build_only(mixed, inputs_list, as_list)
        mixed.set_weights(layer.get_weights())  # variables stay float32 under mixed precision
        outputs = _flat(mixed(inputs_list if as_list else inputs_list[0]))
    assert len(outputs) == len(reference), f"{name}: {len(outputs)} outputs under mixed_float16 vs {len(reference)}"
    for i, (out, ref) in enumerate(zip(outputs, reference)):
        where = f"{name} mixed_float16 output {i}"
        assert tuple(out.shape) == ref.shape, f"{where}: shape {tuple(out.shape)} vs float32 {ref.shape}"
        if not np.issubdtype(ref.dtype, np.floating):
            continue  # integer outputs (argmax switches) may legitimately pick another tie under float16
        dtype = keras.backend.standardize_dtype(out.dtype)
        assert dtype in ("float16", "float32"), f"{where}: dtype {dtype}, expected float16 or float32"
        out = keras.ops.convert_to_numpy(out).astype(np.float32)
        assert np.all(np.isfinite(out)), f"{where}: non-finite values"
        # float16 keeps ~3 significant digits (eps 9.8e-4) and a few chained ops
        # (projections, softmax, a short GRU recurrence, bilinear weights)
        # compound it: the library's layers land within 2e-3 of the largest
        # |value|. 1e-2 of that scale leaves 5x margin for other inputs and
        # kernels, and still catches overflow, a weight or input left out, or
        # float16 sampling coordinates that miss pixels.
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        np.testing.assert_allclose(out, ref, rtol=1e-2, atol=1e-2 * max(scale, 1e-6), err_msg=where)


def check_layer(
    layer_factory,
    inputs,
    *,
    tmp_path,
    xla=True,
    grad_wrt_inputs=True,  # True: every float input; or a list of input indices
    expected_output_shapes=None,
    fit=True,
    mixed_precision=True,
):
    """Run the shared layer checks. ``inputs``: one array or a list of arrays.

    Beyond shapes, config, save/load and gradients: every weight exists after
    ``build()`` (none created in ``call()``); one ``fit`` step of a functional
    model around the layer runs compiled (``jit_compile=xla``, the loss being
    the mean square of its float outputs); a fresh layer under ``mixed_float16``
    reproduces the float32 outputs within float16 precision. ``fit`` and
    ``mixed_precision`` opt out of those two checks: say why at the call site.
    """
    as_list = isinstance(inputs, list)
    inputs_list = inputs if as_list else [inputs]
    call_arg = inputs_list if as_list else inputs_list[0]
    layer = layer_factory()
    name = type(layer).__name__

    # Every weight exists after build(): calling the layer adds none.
    _build_only(layer, inputs_list, as_list)
    eager = _flat(_call_creates_no_weights(layer, call_arg, name))

    # Eager, symbolic and compute_output_shape agree.
    sym_inputs = [keras.Input(x.shape[1:], batch_size=None, dtype=x.dtype) for x in inputs_list]
    sym_out = _flat(layer_factory()(sym_inputs if as_list else sym_inputs[0]))
    shapes = [tuple(x.shape) for x in inputs_list]
    computed = layer.compute_output_shape(shapes if as_list else shapes[0])
    computed = computed if isinstance(computed, (list, tuple)) and computed and isinstance(computed[0], (list, tuple)) else [computed]
    assert len(eager) == len(sym_out) == len(computed)
    for e, s, c in zip(eager, sym_out, computed):
        _shapes_agree(s.shape, e.shape, f"{name} symbolic/eager")
        _shapes_agree(c, e.shape, f"{name} compute_output_shape/eager")
    if expected_output_shapes is not None:
        assert [tuple(e.shape) for e in eager] == [tuple(s) for s in expected_output_shapes]

    # Config round trip: get_config holds the constructor arguments.
    config = layer.get_config()
    clone = type(layer).from_config(copy.deepcopy(config))
    _assert_same_config(clone.get_config(), config, name)

    # .keras save/load inside a functional model.
    model_inputs = sym_inputs if as_list else sym_inputs[0]
    model = keras.Model(model_inputs, layer_factory()(model_inputs))
    before = [keras.ops.convert_to_numpy(t) for t in _flat(model(call_arg))]
    path = os.path.join(str(tmp_path), f"{name}.keras")
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
        outs = _flat(model(float_inputs if as_list else float_inputs[0], training=True))
        total = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32) ** 2) for o in outs if o.dtype.is_floating])
    sources = list(model.trainable_weights)
    if grad_wrt_inputs is True:
        grad_wrt_inputs = [i for i, x in enumerate(float_inputs) if x.dtype.is_floating]
    grad_wrt_inputs = list(grad_wrt_inputs or [])
    sources += [float_inputs[i] for i in grad_wrt_inputs]
    grads = tape.gradient(total, sources)
    for src, g in zip(sources, grads):
        src_name = getattr(src, "path", getattr(src, "name", "input"))
        assert g is not None, f"no gradient for {src_name}"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(g))), f"non-finite gradient for {src_name}"

    # Same outputs under XLA.
    if xla:
        compiled = tf.function(lambda *a: _flat(model(list(a) if as_list else a[0])), jit_compile=True)
        xla_out = [t.numpy() for t in compiled(*float_inputs)]
        for b, a in zip(before, xla_out):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    # One compiled fit step (XLA unless the layer opted out of it).
    if fit:
        _check_fit_step(layer_factory, inputs_list, as_list, grad_wrt_inputs, jit_compile=xla, name=name)

    # mixed_float16: finite, same shapes, close to float32.
    if mixed_precision:
        reference = [keras.ops.convert_to_numpy(t) for t in eager]
        _check_mixed_float16(layer_factory, layer, inputs_list, as_list, reference, name)
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
    computed = model.compute_output_shape([a.shape for a in x] if isinstance(x, (list, tuple)) else x.shape)
    computed = _flat(computed) if isinstance(computed, dict) else computed  # dict outputs: sorted keys, as _flat
    computed = computed if isinstance(computed, (list, tuple)) and computed and isinstance(computed[0], (list, tuple)) else [computed]
    for s, e, c in zip(symbolic, eager, computed):
        _shapes_agree(s.shape, e.shape, f"{name} symbolic/eager")
        _shapes_agree(c, e.shape, f"{name} compute_output_shape/eager")
    for e in eager:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(e))), f"{name}: non-finite outputs"

    # Config round trip: a model rebuilt from its config has the same config.
    config = model.get_config()
    clone = type(model).from_config(copy.deepcopy(config))
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

    # Gradients for every trainable weight exist and are finite. The loss is what
    # fit() minimises (Task.training_loss: the task loss plus what layers add with add_loss).
    with tf.GradientTape() as tape:
        loss = task.training_loss(model, x, y)
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


def trim_heap():
    """Collect reference cycles and hand glibc's freed pages back to the OS."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def release_memory():
    """Drop Keras' global state, then :func:`trim_heap`.

    The export matrix and the paper-size sweep build, convert and drop many
    models in one worker; glibc keeps the freed pages, and two such workers
    side by side reached 24 GB of RSS on a 23 GB machine (measured), which
    stalled the suite. ``malloc_trim`` returns them.
    """
    keras.backend.clear_session()
    trim_heap()
