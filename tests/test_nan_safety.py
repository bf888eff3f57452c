"""NaN is never laundered and data is never lost: pooling, unpooling, metrics and training.

* MaxPoolingWithArgmax2D propagates NaN like torch.nn.functional.max_pool2d
  (reference written here in NumPy from torch's kernels: every NaN met
  replaces the running maximum, so the last NaN of a window wins; otherwise
  the first maximum), with in-range switches, in eager, graph and XLA.
* MaxUnpooling2D puts a NaN/inf back at its switch only, and rejects
  out-of-range switches eagerly.
* MeanIoU / PixelAccuracy reject labels outside [0, num_classes) (other than
  void) instead of scoring them as perfect, and report NaN under XLA.
* The library's fit recipes stop at the first non-finite loss, name the step,
  and leave no checkpoint or backup with non-finite weights.
"""

import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from keras_segattn.training import (
    MeanIoU,
    NonFiniteLossError,
    NonFiniteWeightsError,
    PixelAccuracy,
    StopOnNonFinite,
    fit_resumable,
    restore_backup,
    segmentation_loss,
)
from keras_segattn.training.backup import Backup

# ---------------------------------------------------------------- pooling


def reference_pool(x, k, padding):
    """torch.nn.functional.max_pool2d(kernel=stride=k, return_indices=True) semantics, window-local
    indices: ``if val > maxval or isnan(val): maxval, index = val, i`` over the window's real
    elements in row-major order, starting from -inf at the window's first element."""
    b, h, w, c = x.shape
    ho, wo = (-(-h // k), -(-w // k)) if padding == "same" else (h // k, w // k)
    pooled = np.zeros((b, ho, wo, c), x.dtype)
    switches = np.zeros((b, ho, wo, c), np.int32)
    for n, i, j, ch in np.ndindex(b, ho, wo, c):
        best, index = -np.inf, 0
        for dy in range(k):
            for dx in range(k):
                y, xx = i * k + dy, j * k + dx
                if y >= h or xx >= w:
                    continue  # "same": padding never wins
                val = x[n, y, xx, ch]
                if val > best or np.isnan(val):
                    best, index = val, dy * k + dx
        pooled[n, i, j, ch], switches[n, i, j, ch] = best, index
    return pooled, switches


def _with_non_finite(seed, shape, ties=False, nan_rate=0.15):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype("float32") if ties else rng.normal(size=shape).astype("float32")
    u = rng.random(shape)
    x[u < nan_rate] = np.nan  # 0.15: ~48% of 2x2 windows hold a NaN, some several
    x[(u >= nan_rate) & (u < nan_rate + 0.05)] = np.inf
    x[(u >= nan_rate + 0.05) & (u < nan_rate + 0.1)] = -np.inf
    return x


def _pool(mode, layer, x):
    if mode == "eager":
        return layer(x)
    return tf.function(layer, jit_compile=(mode == "xla"))(tf.constant(x))


def test_the_reported_window_pools_to_nan_with_an_in_range_switch():
    x = np.array([[1, np.nan], [1, 1]], "float32").reshape(1, 2, 2, 1)
    pooled, switches = MaxPoolingWithArgmax2D(2)(x)
    assert np.isnan(pooled.numpy()).all()  # was 0.0
    assert switches.numpy().ravel().tolist() == [1]  # was 4, outside [0, 4)
    # Two NaNs: the last one, as torch.
    x = np.array([[np.nan, 2], [np.nan, 1]], "float32").reshape(1, 2, 2, 1)
    assert MaxPoolingWithArgmax2D(2)(x)[1].numpy().ravel().tolist() == [2]


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
@pytest.mark.parametrize(
    "k,shape,padding,ties",
    [(2, (2, 8, 10, 3), "valid", False), (2, (2, 7, 9, 2), "same", True), (3, (1, 10, 8, 2), "valid", False)],
)
def test_pooling_matches_the_torch_reference_with_nan_and_inf(mode, k, shape, padding, ties):
    x = _with_non_finite(sum(shape) + k, shape, ties, nan_rate=0.15 if k == 2 else 0.05)
    expected_pooled, expected_switches = reference_pool(x, k, padding)
    assert 0.2 < np.isnan(expected_pooled).mean() < 0.8 and np.isinf(expected_pooled).any()
    pooled, switches = _pool(mode, MaxPoolingWithArgmax2D(k, padding=padding), x)
    np.testing.assert_array_equal(pooled.numpy(), expected_pooled)  # NaN == NaN here
    np.testing.assert_array_equal(switches.numpy(), expected_switches)
    # Unpooling puts each value back at its switch and nothing (exact zeros) elsewhere.
    unpooled = MaxUnpooling2D(k)([pooled, switches, x]).numpy()
    expected = np.zeros_like(x)
    for n, i, j, ch in np.ndindex(expected_switches.shape):
        s = expected_switches[n, i, j, ch]
        expected[n, i * k + s // k, j * k + s % k, ch] = expected_pooled[n, i, j, ch]
    np.testing.assert_array_equal(unpooled, expected)


def test_same_padding_keeps_minus_inf():
    x = np.full((1, 3, 3, 1), -np.inf, "float32")
    pooled, switches = MaxPoolingWithArgmax2D(2, padding="same")(x)
    assert (pooled.numpy() == -np.inf).all()  # not dtype.min from the padding
    ref_argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "SAME")[1]
    assert switches.numpy().ravel().tolist() == [0, 0, 0, 0]
    assert ref_argmax.numpy().ravel().tolist() == [0, 2, 6, 8]  # the same positions, flat


def test_gradient_goes_to_the_switch_also_in_a_nan_window():
    x = tf.constant(np.array([[1, np.nan, 5, 2], [np.nan, 0, 3, 5]], "float32").reshape(1, 2, 4, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled, switches = MaxPoolingWithArgmax2D(2)(x)
    grad = tape.gradient(pooled, x).numpy()[0, :, :, 0]
    assert switches.numpy().ravel().tolist() == [2, 0]  # the last NaN; the first of two 5s
    np.testing.assert_array_equal(grad, [[0, 0, 1, 0], [1, 0, 0, 0]])


def test_unpooling_does_not_spread_nan_or_turn_inf_into_nan():
    pooled = np.array([np.nan, np.inf, -np.inf, 2.0], "float32").reshape(1, 1, 4, 1)
    switches = np.array([3, 0, 1, 2], "int32").reshape(1, 1, 4, 1)
    out = MaxUnpooling2D(2)([pooled, switches]).numpy()[0, :, :, 0]
    expected = [[0, 0, np.inf, 0, 0, -np.inf, 0, 0], [0, np.nan, 0, 0, 0, 0, 2, 0]]
    np.testing.assert_array_equal(out, np.array(expected, "float32"))


def test_unpooling_rejects_out_of_range_switches_eagerly():
    pooled = np.ones((1, 2, 2, 1), "float32")
    for bad, low, high in (([0, 4, 1, 7], 0, 7), ([-1, 0, 3, 2], -1, 3)):
        switches = np.array(bad, "int32").reshape(1, 2, 2, 1)
        message = rf"MaxUnpooling2D: switches must be in \[0, 4\) for pool_size=2, received values in \[{low}, {high}\]\."
        with pytest.raises(ValueError, match=message):
            MaxUnpooling2D(2)([pooled, switches])
    switches = np.array([0, 9, 8, 2], "int32").reshape(1, 2, 2, 1)
    with pytest.raises(ValueError, match=r"must be in \[0, 9\) for pool_size=3, received values in \[0, 9\]"):
        MaxUnpooling2D(3)([pooled, switches])
    # Traced (documented): no check, an out-of-range switch gives a window of zeros.
    switches = np.array([0, 4, 1, 7], "int32").reshape(1, 2, 2, 1)
    out = tf.function(MaxUnpooling2D(2))([tf.constant(pooled), tf.constant(switches)]).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(out, [[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])


@pytest.mark.export
def test_tflite_propagates_nan_with_builtins_only():
    from keras_segattn.export import tflite
    from keras_segattn.export.signature import input_specs, serving_function

    inp = keras.Input((None, None, 2))
    pooled, switches = MaxPoolingWithArgmax2D(2)(inp)
    model = keras.Model(inp, [MaxUnpooling2D(2)([pooled, switches, inp]), switches])
    specs = input_specs(model, spatial=(6, 8))
    content = tflite.convert(model, serving_function(model, specs), specs)
    ops = tflite.op_set(content)
    assert ops["flex"] == [] and ops["custom"] == [] and "NOT_EQUAL" in ops["builtin"]
    x = _with_non_finite(7, (2, 6, 8, 2))
    got = sorted(tflite.run(content, {specs[0].name: x}).values(), key=lambda v: v.dtype.kind)
    expected_pooled, expected_switches = reference_pool(x, 2, "valid")
    np.testing.assert_array_equal(got[1], expected_switches)  # int32 ("i") sorts after float ("f")
    np.testing.assert_array_equal(got[0], model(x)[0].numpy())
    assert np.isnan(got[0]).sum() == np.isnan(expected_pooled).sum() > 0


# ---------------------------------------------------------------- metrics

BAD_LABELS = [
    (lambda: MeanIoU(2), r"MeanIoU: y_true must hold class ids in \[0, 2\) or the void label 255"),
    (lambda: PixelAccuracy(num_classes=2), r"PixelAccuracy: y_true must hold class ids in \[0, 2\) or the void label 255"),
]


@pytest.mark.parametrize("make,message", BAD_LABELS)
def test_metrics_reject_labels_outside_the_classes(make, message):
    logits = np.zeros((1, 4, 2), "float32")
    for labels, low, high in (([0, 5, 255, 1], 5, 5), ([0, -1, 1, 255], -1, -1), ([7, -3, 0, 2], -3, 7)):
        metric = make()
        with pytest.raises(ValueError, match=rf"{message}, received values in \[{low}, {high}\]\."):
            metric.update_state(np.array([labels]), logits)
        # Traced: the assertion fails when the step runs.
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            tf.function(make().update_state)(tf.constant([labels]), tf.constant(logits))
    # The void label and every class id are fine; the score is a NumPy reference's.
    metric = make()
    metric.update_state(np.array([[0, 1, 255, 1]]), np.array([[[2.0, 0], [0, 2.0], [0, 2.0], [2.0, 0]]]))
    assert float(metric.result()) == pytest.approx(2 / 3 if "PixelAccuracy" in message else (1 / 2 + 1 / 2) / 2)


def test_pixel_accuracy_without_num_classes_rejects_negative_labels_only():
    metric = PixelAccuracy()
    with pytest.raises(ValueError, match=r"PixelAccuracy: y_true must hold class ids >= 0 or the void label 255, received values in \[-2, -2\]"):
        metric.update_state(np.array([[-2, 0]]), np.zeros((1, 2, 2), "float32"))
    metric.update_state(np.array([[9, 0]]), np.zeros((1, 2, 2), "float32"))  # a miss, not an error
    assert float(metric.result()) == 0.5
    clone = PixelAccuracy.from_config(PixelAccuracy(num_classes=3).get_config())
    assert clone.num_classes == 3 and clone.void_label == 255
    with pytest.raises(ValueError, match="PixelAccuracy: num_classes must be None or a positive int, received 0"):
        PixelAccuracy(num_classes=0)


def _labelled_model(jit_compile):
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    # A loss that ignores the labels: sparse cross-entropy itself raises on CPU for
    # such labels (and is NaN on GPU and under XLA); the metrics must stand alone.
    model.compile(
        loss=lambda y_true, y_pred: keras.ops.mean(keras.ops.square(y_pred)),
        metrics=[MeanIoU(2), PixelAccuracy(num_classes=2)],
        jit_compile=jit_compile,
    )
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype("float32")
    y = np.random.default_rng(1).integers(0, 2, (2, 4, 4)).astype("int32")
    y[1, 2, 3] = 5
    return model, x, y


def test_metrics_raise_in_evaluate():
    model, x, y = _labelled_model(jit_compile=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"MeanIoU: y_true must hold class ids in \[0, 2\)"):
        model.evaluate(x, y, verbose=0)


def test_metrics_report_nan_under_xla():
    # XLA compiles assertions to nothing: the scores must then be NaN, not 1.0.
    model, x, y = _labelled_model(jit_compile=True)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isnan(result["mean_iou"]) and np.isnan(result["pixel_accuracy"]), result
    y[1, 2, 3] = 255
    result = model.evaluate(x, y, verbose=0, return_dict=True)  # evaluate resets the metrics
    assert np.isfinite(result["mean_iou"]) and np.isfinite(result["pixel_accuracy"]), result


# ---------------------------------------------------------------- training

STEPS_PER_EPOCH, EPOCHS = 3, 3


def _tiny_segmenter():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same")(inputs))
    model.compile(keras.optimizers.Adam(1e-2), loss=segmentation_loss(), jit_compile=False)
    return model


def _stream(nan_at_step=None):
    """``make_stream(start)``: batch ``i`` (0-based) is the one that optimizer step ``i + 1`` trains on."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(STEPS_PER_EPOCH * EPOCHS, 2, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 2, (STEPS_PER_EPOCH * EPOCHS, 2, 8, 8)).astype("int32")
    if nan_at_step is not None:
        images[nan_at_step - 1, 1, 4, 5, 2] = np.nan  # one pixel of one image

    def make_stream(start):
        return tf.data.Dataset.from_tensor_slices((images[start:], labels[start:]))

    return make_stream


def _finite(path):
    """Every float array stored in a ``.weights.h5`` file (weights and optimizer state) is finite."""
    import h5py

    arrays = []
    with h5py.File(path, "r") as fh:
        fh.visititems(lambda name, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
    floats = [a for a in arrays if np.asarray(a).dtype.kind == "f"]
    return len(floats) >= 2 and all(np.isfinite(a).all() for a in floats)


def test_fit_resumable_stops_at_the_nan_step_and_keeps_the_last_finite_backup(tmp_path):
    model = _tiny_segmenter()
    backup_dir = str(tmp_path / "backup")
    checkpoint = str(tmp_path / "last.weights.h5")
    saved_steps = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: saved_steps.append(int(model.optimizer.iterations.numpy()))
    )
    user_checkpoint = keras.callbacks.ModelCheckpoint(checkpoint, save_weights_only=True, save_freq=1)
    with pytest.raises(NonFiniteLossError) as info:
        fit_resumable(
            model,
            _stream(nan_at_step=5),
            steps_per_epoch=STEPS_PER_EPOCH,
            epochs=EPOCHS,
            callbacks=[user_checkpoint, record],
            backup_dir=backup_dir,
            save_freq=1,
            verbose=0,
        )
    error = info.value
    assert (error.step, error.epoch, error.batch) == (5, 1, 1) and np.isnan(error.loss)
    assert re.search(r"non-finite \(nan\) at step 5 \(epoch index 1, batch index 1\).*after step 4\.", str(error))
    # The step's update was applied (that is what is lost) ...
    assert int(model.optimizer.iterations.numpy()) == 5
    assert not all(np.isfinite(w).all() for w in model.get_weights())
    # ... but no later callback ran for it: the user's checkpoint and the backup hold step 4.
    assert saved_steps == [1, 2, 3, 4]
    assert _finite(checkpoint)
    with open(os.path.join(backup_dir, "backup.json")) as fh:
        assert json.load(fh) == {"global_step": 4}
    assert _finite(os.path.join(backup_dir, "backup.weights.h5"))

    # Fixing the data and rerunning resumes from the finite backup and finishes.
    fresh = _tiny_segmenter()
    history = fit_resumable(
        fresh, _stream(), steps_per_epoch=STEPS_PER_EPOCH, epochs=EPOCHS, backup_dir=backup_dir, save_freq=1, verbose=0
    )
    assert history.resumed_from == 4 and int(fresh.optimizer.iterations.numpy()) == 9
    assert all(np.isfinite(w).all() for w in fresh.get_weights()) and not os.path.exists(backup_dir)


def test_a_resumed_run_names_the_batch_within_the_epoch(tmp_path):
    # A backup at step 4: the resumed fit() starts mid-epoch 1, whose batch 2 holds the NaN.
    backup_dir = str(tmp_path / "backup")
    model = _tiny_segmenter()
    fit_resumable(model, _stream(), steps_per_epoch=4, epochs=1, verbose=0)
    backup = Backup(backup_dir)
    backup.set_model(model)
    backup.save()
    with pytest.raises(NonFiniteLossError, match=r"at step 6 \(epoch index 1, batch index 2\)"):
        fit_resumable(
            _tiny_segmenter(),
            _stream(nan_at_step=6),
            steps_per_epoch=STEPS_PER_EPOCH,
            epochs=EPOCHS,
            backup_dir=backup_dir,
            save_freq=1,
            verbose=0,
        )
    assert restore_backup(_tiny_segmenter(), backup_dir) == 5


def test_backup_refuses_non_finite_weights(tmp_path):
    # A finite loss does not guarantee finite weights (a NaN gradient from a finite loss).
    model = _tiny_segmenter()
    fit_resumable(model, _stream(), steps_per_epoch=2, epochs=1, verbose=0)
    backup = Backup(str(tmp_path / "b"))
    backup.set_model(model)
    backup.save()
    kernel = model.layers[-1].kernel
    kernel.assign(tf.tensor_scatter_nd_update(kernel, [[0, 0, 0, 0]], [np.inf]))
    model.optimizer.iterations.assign_add(1)
    with pytest.raises(NonFiniteWeightsError, match=r"Backup: the weights to save at step 3 must be finite, received NaN or infinity in '.*kernel'"):
        backup.save()
    assert restore_backup(_tiny_segmenter(), str(tmp_path / "b")) == 2


def test_train_on_distorted_digits_stops_at_the_first_nan_loss():
    from keras_segattn.training.classification import train_on_distorted_digits

    rng = np.random.default_rng(0)
    x = rng.random((64, 42, 42, 1)).astype("float32")
    y = rng.integers(0, 10, 64)
    # Not a NaN pixel: on CPU this CNN launders one before the loss (in graph mode
    # oneDNN's fused Conv2D+ReLU maps NaN to 0, and TF's MaxPool skips NaN; an inf
    # pixel becomes inf - inf = NaN there, then 0). A NaN learning rate is refused
    # before training now, so a finite but absurd one (Adam steps of ~1e38) blows
    # the weights up: step 1's loss is finite, and the logits overflow at step 3
    # here (step 2 would be as right where a CPU rounds an overflowing sum differently).
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0, received nan"):
        train_on_distorted_digits(
            "digits_cnn_tiny", data=((x, y), (x[:8], y[:8])), epochs=1, batch_size=16, learning_rate=float("nan")
        )
    with pytest.raises(NonFiniteLossError, match=r"non-finite \((inf|nan)\) at step [23] \(epoch index 0, batch index [12]\)"):
        train_on_distorted_digits(
            "digits_cnn_tiny", data=((x, y), (x[:8], y[:8])), epochs=1, batch_size=16, learning_rate=1e38
        )


def test_stop_on_non_finite_ignores_finite_losses_and_missing_logs():
    callback = StopOnNonFinite()
    callback.on_train_batch_end(0, None)
    callback.on_train_batch_end(0, {"loss": 1.5})
    callback.set_model(_tiny_segmenter())
    with pytest.raises(NonFiniteLossError, match=r"\(inf\) at step 0 \(epoch index 0, batch index 0\)"):
        callback.on_train_batch_end(0, {"loss": float("inf")})
