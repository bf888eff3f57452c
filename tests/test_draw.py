"""DRAW (Gregor et al. 2015) and DCGAN (Radford et al. 2016): against NumPy transcriptions, learning, export."""

import numpy as np
import pytest
import tensorflow as tf

import keras_segattn as ksa
from keras_segattn.models.draw import draw_trace, generate
from keras_segattn.models.draw.sampling import draw_network, draw_step_model, reference_generate
from keras_segattn.tasks import get_task
from keras_segattn.training.variational import BernoulliNLL, bernoulli_nll
from tests.test_layers_draw_attention import numpy_filterbank

pytestmark = pytest.mark.xdist_group("draw")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _lstm(cell, x, h, c):
    """Keras' LSTMCell (gates i, f, c, o) in NumPy."""
    kernel, recurrent, bias = (np.asarray(w, np.float64) for w in cell.weights)
    i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c


def _dense(layer, x):
    kernel, bias = (np.asarray(w, np.float64) for w in layer.weights)
    return x @ kernel + bias


def numpy_draw(network, images):
    """Eqs. 3-8 and 17-18 with the posterior means (the layer's inference path), and the KL of eq. 10-11."""
    x = np.asarray(images, np.float64)
    batch, height, width, channels = x.shape
    canvas = np.zeros_like(x)
    h_enc = c_enc = np.zeros((batch, network.encoder_units))
    h_dec = c_dec = np.zeros((batch, network.decoder_units))
    kl = np.zeros(batch)
    n_r, n_w = network.read_size, network.write_size
    for _ in range(network.steps):
        error = x - _sigmoid(canvas)
        if n_r:
            fx, fy, gamma = numpy_filterbank(_dense(network.read_params, h_dec), n_r, height, width)
            read = [np.einsum("bjy,byxc,bix->bjic", fy, im, fx) * gamma[:, :, None, None] for im in (x, error)]
            glimpse = np.concatenate(read, axis=-1).reshape(batch, -1)
        else:
            glimpse = np.concatenate([x, error], axis=-1).reshape(batch, -1)
        h_enc, c_enc = _lstm(network.encoder, np.concatenate([glimpse, h_dec], -1), h_enc, c_enc)
        mean = _dense(network.latent_mean, h_enc)
        log_sigma = np.clip(_dense(network.latent_log_sigma, h_enc), -8, 8)
        kl += 0.5 * (mean**2 + np.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)
        h_dec, c_dec = _lstm(network.decoder, mean, h_dec, c_dec)
        patch = _dense(network.write_patch, h_dec)
        if n_w:
            fx, fy, gamma = numpy_filterbank(_dense(network.write_params, h_dec), n_w, height, width)
            patch = patch.reshape(batch, n_w, n_w, channels)
            canvas = canvas + np.einsum("bjy,bjic,bix->byxc", fy, patch, fx) / gamma[:, :, None, None]
        else:
            canvas = canvas + patch.reshape(x.shape)
    return canvas, kl


def _digits(count, size=28, seed=0):
    from keras_segattn.data.binarized_digits import binarized_digits_arrays

    return binarized_digits_arrays("test", count, image_size=size, seed=seed)[0]


@pytest.mark.parametrize("attention", [True, False])
def test_draw_matches_a_numpy_transcription_of_the_paper(attention):
    model = ksa.build_model("draw_tiny", input_shape=(16, 16, 1), steps=3, attention=attention)
    network = draw_network(model)
    # Weights of a trained model's scale: the default init leaves the filterbanks near their centre.
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    images = _digits(3, size=16)
    logits, kl = model(images, training=False)
    expected_logits, expected_kl = numpy_draw(network, images)
    np.testing.assert_allclose(np.asarray(logits), expected_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(kl), expected_kl, rtol=1e-4, atol=1e-4)


def test_inference_is_deterministic_and_training_samples_the_posterior():
    model = ksa.build_model("draw_tiny", steps=3, seed=1)
    images = _digits(4)
    first, second = model(images, training=False), model(images, training=False)
    np.testing.assert_array_equal(np.asarray(first[0]), np.asarray(second[0]))
    sampled = model(images, training=True)
    assert np.abs(np.asarray(sampled[0]) - np.asarray(first[0])).max() > 1e-3
    assert np.all(np.asarray(sampled[1]) >= 0)  # a KL divergence


def test_trace_and_generate_are_consistent_with_the_model_and_the_step():
    model = ksa.build_model("draw_tiny", steps=4)
    images = _digits(2)
    trace = draw_trace(model, images)
    logits, kl = model(images, training=False)
    np.testing.assert_allclose(trace["canvases"][:, -1], _sigmoid(np.asarray(logits, np.float64)), atol=1e-5)
    np.testing.assert_allclose(trace["kl"], np.asarray(kl), rtol=1e-5)
    assert trace["read_boxes"].shape == trace["write_boxes"].shape == (2, 4, 3)
    network = draw_network(model)
    noise = np.random.default_rng(3).standard_normal((3, 4, network.latent_size)).astype(np.float32)
    sampled = generate(model, noise=noise)
    step = draw_step_model(model)

    def run(feed):
        out = step([feed[k] for k in ("z", "h", "c", "canvas")])
        return dict(zip(("next_h", "next_c", "next_canvas"), (np.asarray(t) for t in out)))

    np.testing.assert_allclose(reference_generate(run, noise, (28, 28, 1), network.decoder_units),
                               sampled["images"], atol=1e-6)
    assert sampled["canvases"].shape == (3, 4, 28, 28, 1) and sampled["write_boxes"].shape == (3, 4, 3)
    # seeded draws repeat
    np.testing.assert_array_equal(generate(model, 2, seed=5)["images"], generate(model, 2, seed=5)["images"])


def test_bernoulli_nll_is_the_summed_binary_cross_entropy():
    import keras

    rng = np.random.default_rng(0)
    images = (rng.random((3, 5, 4, 1)) < 0.3).astype(np.float32)
    logits = rng.normal(0, 4, images.shape).astype(np.float32)
    expected = bernoulli_nll(images, logits)
    np.testing.assert_allclose(float(BernoulliNLL()(images, logits)), expected.mean(), rtol=1e-5)
    per_pixel_mean = keras.losses.BinaryCrossentropy(from_logits=True)(images, logits)
    np.testing.assert_allclose(float(per_pixel_mean) * 20, expected.mean(), rtol=1e-4)
    # the reference itself: -log of the Bernoulli probabilities
    p = _sigmoid(logits.astype(np.float64))
    direct = -(images * np.log(p) + (1 - images) * np.log(1 - p)).reshape(3, -1).sum(1)
    np.testing.assert_allclose(expected, direct, rtol=1e-9)


# ------------------------------------------------------------------ DCGAN
def test_each_player_is_updated_by_its_own_optimizer_only():
    import keras

    model = ksa.build_model("dcgan_tiny")
    task = get_task("adversarial_generation")
    (noise,), real = task.data(model, "train", 8, 0)
    d_ids = {id(v) for v in model.discriminator.trainable_variables}
    g_vars = [v for v in model.trainable_variables if id(v) not in d_ids]
    assert g_vars and len(g_vars) + len(d_ids) == len(model.trainable_variables)
    for frozen in ("generator", "discriminator"):
        model.compile(optimizer=keras.optimizers.SGD(0.0 if frozen == "generator" else 0.1),
                      discriminator_optimizer=keras.optimizers.SGD(0.0 if frozen == "discriminator" else 0.1))
        g_before = [v.numpy().copy() for v in g_vars]
        d_before = [v.numpy().copy() for v in model.discriminator.trainable_variables]
        model.fit(noise, real, batch_size=8, epochs=1, verbose=0)
        g_moved = any(not np.array_equal(b, v.numpy()) for b, v in zip(g_before, g_vars))
        d_moved = any(not np.array_equal(b, v.numpy())
                      for b, v in zip(d_before, model.discriminator.trainable_variables))
        assert (g_moved, d_moved) == ((False, True) if frozen == "generator" else (True, False)), frozen


def test_the_discriminator_survives_save_and_load(tmp_path):
    import keras

    model = ksa.build_model("dcgan_tiny")
    images = _digits(2)
    expected = model.discriminator(images, training=False)
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert loaded.task.name == "adversarial_generation"
    np.testing.assert_array_equal(np.asarray(loaded.discriminator(images, training=False)), np.asarray(expected))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda: ksa.build_model("draw_tiny", input_shape=(1, 28, 1)), "input_shape"),
        (lambda: ksa.build_model("draw_tiny", read_size=0), "read_size"),
        (lambda: ksa.build_model("draw_tiny", steps=0), "steps"),
        (lambda: ksa.build_model("draw_tiny", attention="yes"), "attention"),
        (lambda: ksa.build_model("draw_classifier_tiny", num_classes=1), "num_classes"),
        (lambda: ksa.build_model("dcgan_tiny", image_shape=(27, 27, 1)), "image_shape"),
        (lambda: ksa.build_model("dcgan_tiny", latent_size=0), "latent_size"),
        (lambda: ksa.build_model("draw_tiny")(np.zeros((1, 27, 28, 1), np.float32)), "images"),
        (lambda: generate(ksa.build_model("draw_tiny"), 0), "count"),
        (lambda: generate(ksa.build_model("draw_tiny"), noise=np.zeros((1, 3, 10))), "noise"),
        (lambda: generate(ksa.build_model("digits_cnn_tiny")), "DRAW model"),
    ],
)
def test_bad_input_names_the_argument(call, expected):
    with pytest.raises(ValueError, match=expected):
        call()


# ------------------------------------------------------------------ export
def test_sampler_export_reproduces_the_library_in_every_format(tmp_path):
    import json

    from keras_segattn.export.draw import export_draw_sampler

    model = ksa.build_model("draw_tiny", steps=3)
    manifest = export_draw_sampler(model, tmp_path / "sampler", parity_samples=4)
    assert set(manifest["files"]) == {"savedmodel", "tflite", "onnx"}
    for fmt in ("tflite", "onnx"):
        assert manifest["parity"][fmt]["sampling_loop"]["images_max_abs_error"] <= 1e-4
    with open(tmp_path / "sampler" / "manifest.json") as fh:
        assert json.load(fh)["latent_size"] == draw_network(model).latent_size
    # The SavedModel draws by itself, with keras_segattn's layers nowhere in the signature.
    loaded = tf.saved_model.load(str(tmp_path / "sampler" / "saved_model"))
    images = loaded.signatures["generate"](count=tf.constant(3), seed=tf.constant(1))["images"].numpy()
    assert images.shape == (3, 28, 28, 1) and 0 <= images.min() and images.max() <= 1


def test_sampler_export_refuses_other_models_and_foreign_folders(tmp_path):
    from keras_segattn.export.draw import export_draw_sampler

    with pytest.raises(ValueError, match="DRAW model"):
        export_draw_sampler(ksa.build_model("dcgan_tiny"), tmp_path / "x")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError):
        export_draw_sampler(ksa.build_model("draw_tiny", steps=2), foreign, formats=("savedmodel",), overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_a_reloaded_gan_is_compiled_with_both_optimizers_and_trains_on(tmp_path):
    import keras

    model = ksa.build_model("dcgan_tiny")
    task = get_task("adversarial_generation")
    (noise,), real = task.data(model, "train", 8, 0)
    task.compile(model, learning_rate=1e-3)
    model.fit(noise, real, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert loaded.compiled and loaded.discriminator_optimizer is not None
    assert float(loaded.discriminator_optimizer.learning_rate) == pytest.approx(1e-3)
    for mine, theirs in ((model.optimizer, loaded.optimizer), (model.discriminator_optimizer,
                                                              loaded.discriminator_optimizer)):
        assert len(mine.variables) == len(theirs.variables)  # each player's Adam state comes back
        for a, b in zip(mine.variables, theirs.variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    history = loaded.fit(noise, real, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0]) and np.isfinite(history.history["g_loss"][0])


# ---------------------------------------------------------------- learning
def _marginal_nll(train, test):
    """The best model that ignores all structure: independent pixels at their training frequencies."""
    p = np.clip(train.mean(0), 1e-3, 1 - 1e-3)
    return float(-(test * np.log(p) + (1 - test) * np.log(1 - p)).reshape(len(test), -1).sum(1).mean())


def test_draw_learns_more_than_the_pixel_frequencies():
    """300 steps on 16x16 digits: the bound beats independent pixels (70.1 nats) by > 8 nats and the
    latents carry information (KL > 1.5). Seeds 0-2 measured 58.6 / 58.3 / 56.5 nats, KL 3.6-3.8."""
    import keras

    from keras_segattn.data.binarized_digits import binarized_digits_arrays

    keras.utils.set_random_seed(0)
    model = ksa.build_model("draw_tiny", input_shape=(16, 16, 1), read_size=5, seed=0)
    task = get_task("image_generation")
    train, _ = binarized_digits_arrays("train", 2048, image_size=16, seed=0)
    task.compile(model, learning_rate=3e-3, total_steps=300, jit_compile=True)
    stream = tf.data.Dataset.from_tensor_slices((train, train)).shuffle(2048, seed=0).repeat().batch(64)
    model.fit(stream, steps_per_epoch=300, epochs=1, verbose=0)
    report = task.evaluate(model, examples=300, seed=0)
    test, _ = binarized_digits_arrays("test", 300, image_size=16, seed=0)
    baseline = _marginal_nll(train, test)
    assert report["nll_bound"] < baseline - 8.0, (report, baseline)
    assert report["kl"] > 1.5, report


def test_dcgan_learns_the_digits_mean_image_without_collapsing():
    """200 steps: the samples' mean image correlates with the real digits' (> 0.9; untrained 0.03-0.06)
    and samples differ from each other (per-pixel std > 0.08; untrained 0.001). Seeds 0-2 measured
    0.963 / 0.972 / 0.954 and 0.130-0.132."""
    import keras

    from keras_segattn.data.binarized_digits import binarized_digits_arrays

    keras.utils.set_random_seed(0)
    model = ksa.build_model("dcgan_tiny")
    task = get_task("adversarial_generation")
    (noise,), real = task.data(model, "train", 2048, 0)
    task.compile(model, jit_compile=True)
    model.fit(tf.data.Dataset.from_tensor_slices((noise, real)).shuffle(2048, seed=0).repeat().batch(32),
              steps_per_epoch=200, epochs=1, verbose=0)
    samples = model.predict(np.random.default_rng(9).standard_normal((500, 32)).astype(np.float32), verbose=0)
    mean_real = binarized_digits_arrays("test", 500, seed=3)[0].mean(0).ravel()
    assert np.corrcoef(samples.mean(0).ravel(), mean_real)[0, 1] > 0.9
    assert samples.std(0).mean() > 0.08


def test_the_classifier_first_glimpse_is_an_overview_of_the_image():
    from keras_segattn.models.draw import GlimpseReader

    model = ksa.build_model("draw_classifier_tiny")
    reader = model.get_layer("glimpses")
    boxes = np.asarray(reader.glimpse_boxes(np.zeros((1, 60, 60, 1), np.float32)))
    # "image": the 12 filters 5 pixels apart cover the 60 pixels, centred (0-based centre 29.5)
    np.testing.assert_allclose(boxes[0, 0], [29.5, 29.5, 60.0], atol=1e-4)
    zeros = GlimpseReader((60, 60), glimpse_size=12, units=8, glimpse_units=8, initial_glimpse="zeros")
    zero_box = np.asarray(zeros.glimpse_boxes(np.zeros((1, 60, 60, 1), np.float32)))[0, 0]
    np.testing.assert_allclose(zero_box, [29.5, 29.5, 12 * 59 / 11], atol=1e-4)  # delta~ = 1
    with pytest.raises(ValueError, match="initial_glimpse"):
        ksa.build_model("draw_classifier_tiny", initial_glimpse="corner")
