"""recurrent_cnn (Pinheiro & Collobert 2014): one network f applied N times, every iteration supervised."""

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.models.recurrent_cnn import compile_deep_supervision, iteration_targets
from keras_segattn.tasks import task_of
from keras_segattn.training import segmentation_loss


def _images(seed, shape=(2, 32, 32)):
    return np.random.default_rng(seed).uniform(0, 255, shape + (3,)).astype("float32")


def test_iterations_share_one_network_and_change_no_parameter_count():
    models = {n: ksa.build_model("recurrent_cnn_tiny", iterations=n, all_iterations=True) for n in (1, 2, 3)}
    counts = {n: m.count_params() for n, m in models.items()}
    assert len(set(counts.values())) == 1, counts
    for n, m in models.items():
        f = m.get_layer("f")
        # Every variable of the model is f's: N applications, one set of variables.
        assert {id(v) for v in m.weights} == {id(v) for v in f.weights}
        assert len(m.outputs) == n
    # Same variables, same order: a trained N=3 model's weights run an N=1 or N=2 model.
    reference = models[3]
    images = _images(0)
    outputs = [np.asarray(o) for o in reference(images)]
    for n in (1, 2):
        models[n].set_weights(reference.get_weights())
        shorter = keras.tree.flatten(models[n](images))
        for k in range(n):  # iteration k is the same computation whatever N is
            np.testing.assert_allclose(np.asarray(shorter[k]), outputs[k], atol=1e-5)
    # Iterations differ: iteration k reads iteration k-1's probabilities.
    assert np.abs(outputs[1] - outputs[0]).max() > 1e-4


def _influence_radius(model, images, where=(24, 24)):
    """How far (Chebyshev pixels) a change of one input pixel reaches in the output logits."""
    changed = images.copy()
    changed[:, where[0], where[1]] += 200.0
    delta = np.abs(np.asarray(model(changed)) - np.asarray(model(images))).max(axis=(0, 3))
    rows, cols = np.nonzero(delta > 1e-6)
    return int(max(np.abs(rows - where[0]).max(), np.abs(cols - where[1]).max()))


def test_more_iterations_widen_the_context():
    keras.utils.set_random_seed(3)
    # tanh: no dead ReLU hides a path; random biases so every pixel carries a signal.
    build = dict(widths=(4, 8), kernel_size=3, activation="tanh", input_shape=(48, 48, 3))
    base = ksa.build_model("recurrent_cnn_tiny", iterations=1, **build)
    rng = np.random.default_rng(0)
    base.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in base.get_weights()])
    images = _images(1, (1, 48, 48))
    radii = []
    for n in (1, 2, 3):
        m = ksa.build_model("recurrent_cnn_tiny", iterations=n, **build)
        m.set_weights(base.get_weights())
        radii.append(_influence_radius(m, images))
    # f alone: conv3, pool2, conv3 at stride 2 and a 2x bilinear upsampling: a few pixels;
    # each pass adds f's reach again.
    assert radii[0] < radii[1] < radii[2], radii
    assert radii[2] >= 2 * radii[0], radii  # measured: 5, 9, 13 pixels


def test_single_output_is_the_last_iteration():
    multi = ksa.build_model("recurrent_cnn_tiny", all_iterations=True)
    single = ksa.build_model("recurrent_cnn_tiny")
    single.set_weights(multi.get_weights())
    images = _images(2)
    np.testing.assert_allclose(np.asarray(single(images)), np.asarray(multi(images)[-1]), atol=1e-6)
    assert single.output.shape == (None, None, None, 4) and single.output.dtype == "float32"


def test_deep_supervision_weights_each_iterations_loss():
    keras.utils.set_random_seed(0)
    model = ksa.build_model("recurrent_cnn_tiny", all_iterations=True)
    x, y = task_of(model).sample_batch(model, batch_size=2, size=(32, 32))
    logits = [np.asarray(o) for o in model(x)]
    per_iteration = [float(segmentation_loss()(y, out)) for out in logits]
    assert len(set(np.round(per_iteration, 6))) == 3  # the iterations' losses differ
    # One model, two weightings: the compiled loss is the weighted sum of the iterations' losses.
    for weights in [(0.2, 0.3, 1.0), (1.0, 0.0, 0.0)]:
        compile_deep_supervision(model, loss_weights=weights, jit_compile=False)
        expected = sum(w * loss for w, loss in zip(weights, per_iteration))
        result = model.evaluate(x, iteration_targets(y, 3), batch_size=2, verbose=0, return_dict=True)
        np.testing.assert_allclose(result["loss"], expected, rtol=1e-5)
        assert any("mean_iou" in k for k in result), result
    # A training step (weights (1, 0, 0)) runs and moves f's weights (once: it costs a graph trace).
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(x, iteration_targets(y, 3), batch_size=2, epochs=1, verbose=0)
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))


def test_iteration_targets_maps_a_dataset():
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((np.zeros((2, 4, 4, 3)), np.ones((2, 4, 4)))).batch(2)
    x, targets = next(iter(iteration_targets(ds, 3)))
    assert len(targets) == 3 and all(t.shape == (2, 4, 4) for t in targets)


def test_errors_name_argument_received_expected():
    with pytest.raises(ValueError, match=r"recurrent_cnn_tiny: iterations must be a positive int, received 0\."):
        ksa.build_model("recurrent_cnn_tiny", iterations=0)
    with pytest.raises(ValueError, match=r"recurrent_cnn: all_iterations must be True or False, received 'yes'\."):
        ksa.build_model("recurrent_cnn", all_iterations="yes")
    model = ksa.build_model("recurrent_cnn_tiny", all_iterations=True)
    expected = r"a sequence of 3 non-negative numbers \(one per iteration\), not all zero"
    with pytest.raises(ValueError, match=rf"compile_deep_supervision: loss_weights must be {expected}, received \(1, 1\)\."):
        compile_deep_supervision(model, loss_weights=(1, 1))
    with pytest.raises(ValueError, match=rf"compile_deep_supervision: loss_weights must be {expected}, received \[0, 0, 0\]\."):
        compile_deep_supervision(model, loss_weights=[0, 0, 0])
    with pytest.raises(ValueError, match=r"compile_deep_supervision: loss_weights\[1\] must be a finite number >= 0, received -1\."):
        compile_deep_supervision(model, loss_weights=(1, -1, 1))
