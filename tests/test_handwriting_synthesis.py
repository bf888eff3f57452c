"""Handwriting synthesis (Graves 2013): window and mixture density against NumPy, the data, the model,
the writer, learning and export."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import keras_segattn as ksa
from keras_segattn.data.handwriting import (
    END_ID,
    START_POINT,
    decode_text,
    encode_text,
    handwriting_arrays,
    write_text,
)
from keras_segattn.layers import GravesAttentionWindow
from keras_segattn.layers.mixture_density_output import mixture_density_nll, sample_mixture_density
from keras_segattn.models.handwriting_synthesis import Writer
from keras_segattn.models.handwriting_synthesis.writer import (
    draw_noise,
    sample_points,
    window_finished,
    writer_step_model,
)
from keras_segattn.tasks import get_task
from keras_segattn.training.mixture_density import MixtureDensityLoss

# One worker: the module's two trained models are built once.
pytestmark = pytest.mark.xdist_group("handwriting")


# ------------------------------------------------------------------ window
def numpy_window(params, kappa_prev, chars, mask):
    """Graves eqs. 46-51, one example at a time, characters indexed u = 1..U."""
    k = kappa_prev.shape[1]
    windows, kappas, phis = [], [], []
    for p, kp, c, m in zip(params, kappa_prev, chars, mask):
        alpha, beta, kappa = np.exp(p[:k]), np.exp(p[k : 2 * k]), kp + np.exp(p[2 * k :])
        phi = np.array([
            sum(alpha[j] * np.exp(-beta[j] * (kappa[j] - u) ** 2) for j in range(k)) if m[u - 1] else 0.0
            for u in range(1, len(c) + 1)
        ])
        windows.append(phi @ c)
        kappas.append(kappa)
        phis.append(phi)
    return np.array(windows), np.array(kappas), np.array(phis)


def _window_case(seed, k=3, u=6, v=5):
    rng = np.random.default_rng(seed)
    params = rng.normal(0, 1, (4, 3 * k)).astype("float32")
    kappa = rng.uniform(0, u, (4, k)).astype("float32")
    chars = np.eye(v, dtype="float32")[rng.integers(1, v, (4, u))]
    mask = (np.arange(u)[None] < rng.integers(1, u + 1, 4)[:, None]).astype("float32")
    return params, kappa, chars, mask


@pytest.mark.parametrize("seed", [0, 1])
def test_window_matches_graves_equations(seed):
    params, kappa, chars, mask = _window_case(seed)
    window, new_kappa, phi = GravesAttentionWindow(3)([params, kappa, chars, mask])
    ref_window, ref_kappa, ref_phi = numpy_window(params, kappa, chars, mask)
    np.testing.assert_allclose(new_kappa, ref_kappa, rtol=1e-5)
    np.testing.assert_allclose(phi, ref_phi, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(window, ref_window, rtol=1e-4, atol=1e-6)
    assert np.all(phi.numpy()[mask == 0] == 0)  # padding is never attended
    assert np.all(new_kappa.numpy() > kappa)  # the window only moves forward


def test_window_sharp_gaussian_reads_one_character():
    # kappa = 3 with a very narrow Gaussian: phi is alpha at u = 3 only, the window is that character.
    chars = np.eye(6, dtype="float32")[None, [2, 3, 4, 5]]
    params = np.array([[0.0, np.log(1e3), np.log(3.0)]], "float32")
    window, kappa, phi = GravesAttentionWindow(1)([params, np.zeros((1, 1), "float32"), chars, np.ones((1, 4), "float32")])
    np.testing.assert_allclose(phi.numpy()[0], [0, 0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(window.numpy()[0], chars[0, 2], atol=1e-6)


def test_window_extreme_parameters_stay_finite():
    params, kappa, chars, mask = _window_case(3)
    params = np.array([[1e4] * 9, [-1e4] * 9, [80.0, -80.0, 500.0] * 3, [0.0] * 9], "float32")
    params = tf.constant(params)
    with tf.GradientTape() as tape:
        tape.watch(params)
        window, new_kappa, phi = GravesAttentionWindow(3)([params, kappa, chars, mask])
        total = tf.reduce_sum(window) + tf.reduce_sum(new_kappa) + tf.reduce_sum(phi)
    grad = tape.gradient(total, params)
    for value in (window, new_kappa, phi, grad):
        assert np.all(np.isfinite(value.numpy()))


def test_window_errors():
    params, kappa, chars, mask = _window_case(0)
    with pytest.raises(ValueError, match=r"params must be of shape \(batch, 9\)"):
        GravesAttentionWindow(3)([params[:, :5], kappa, chars, mask])
    with pytest.raises(ValueError, match="mask must be of shape"):
        GravesAttentionWindow(3)([params, kappa, chars, mask[:, :2]])
    with pytest.raises(ValueError, match="num_components"):
        GravesAttentionWindow(0)


# ------------------------------------------------------------------ mixture density
def numpy_nll(targets, params, m):
    """-log of Graves eq. 23 with SciPy's bivariate normal density, per point."""
    out = np.zeros(targets.shape[:-1])
    for index in np.ndindex(*targets.shape[:-1]):
        p, x = params[index].astype(np.float64), targets[index].astype(np.float64)
        pi = np.exp(p[1 : 1 + m] - logsumexp(p[1 : 1 + m]))
        mu = np.stack([p[1 + m : 1 + 2 * m], p[1 + 2 * m : 1 + 3 * m]], 1)
        sigma = np.exp(np.stack([p[1 + 3 * m : 1 + 4 * m], p[1 + 4 * m : 1 + 5 * m]], 1))
        rho = 0.9999 * np.tanh(p[1 + 5 * m : 1 + 6 * m])
        logs = [
            np.log(pi[j]) + multivariate_normal.logpdf(
                x[:2], mu[j], [[sigma[j, 0] ** 2, rho[j] * sigma[j, 0] * sigma[j, 1]],
                               [rho[j] * sigma[j, 0] * sigma[j, 1], sigma[j, 1] ** 2]])
            for j in range(m)
        ]
        e = 1.0 / (1.0 + np.exp(-p[0]))
        out[index] = -logsumexp(logs) - np.log(e if x[2] == 1 else 1.0 - e)
    return out


def test_mixture_nll_matches_scipy():
    rng = np.random.default_rng(0)
    m = 4
    params = rng.normal(0, 0.7, (3, 5, 6 * m + 1)).astype("float32")
    targets = np.concatenate([rng.normal(0, 1, (3, 5, 2)), rng.integers(0, 2, (3, 5, 1))], -1).astype("float32")
    np.testing.assert_allclose(mixture_density_nll(targets, params, m), numpy_nll(targets, params, m), rtol=1e-4)


def test_mixture_loss_is_the_mean_over_real_points():
    rng = np.random.default_rng(1)
    params = rng.normal(0, 0.5, (2, 4, 13)).astype("float32")
    targets = np.concatenate([rng.normal(0, 1, (2, 4, 2)), rng.integers(0, 2, (2, 4, 1))], -1).astype("float32")
    targets[0, 2:, 2] = -1  # padding rows
    nll = numpy_nll(np.where(targets[..., 2:] < 0, 0, targets), params, 2)
    real = targets[..., 2] >= 0
    assert float(MixtureDensityLoss()(targets, params)) == pytest.approx(nll[real].mean(), rel=1e-4)


def test_mixture_extreme_parameters_give_finite_loss_and_gradients():
    m = 2
    params = np.zeros((4, 6 * m + 1), "float32")
    params[0] = 1e4  # huge sigmas, certain end of stroke, rho -> 1
    params[1] = -1e4  # tiny sigmas, rho -> -1
    params[2, 1 + 5 * m :] = 50.0  # |rho| at its bound
    params[3, 1 + 3 * m : 1 + 5 * m] = -50.0  # sigma at its lower bound, point far away
    targets = np.array([[3.0, -2.0, 0.0], [5.0, 5.0, 1.0], [1.0, -1.0, 0.0], [40.0, -40.0, 1.0]], "float32")
    params = tf.constant(params)
    with tf.GradientTape() as tape:
        tape.watch(params)
        nll = mixture_density_nll(targets, params, m)
        total = tf.reduce_sum(nll)
    grad = tape.gradient(total, params)
    assert np.all(np.isfinite(nll.numpy())) and np.all(np.isfinite(grad.numpy()))


def test_sampler_tf_matches_numpy_and_the_distribution():
    rng = np.random.default_rng(2)
    m = 3
    params = rng.normal(0, 1, (64, 6 * m + 1)).astype("float32")
    noise = draw_noise(rng, 64, 1)[:, 0]
    for bias in (0.0, 1.5):
        np.testing.assert_allclose(
            sample_mixture_density(params, noise, m, bias), sample_points(params, noise, m, bias), rtol=1e-5, atol=1e-5
        )
    # One component: the samples' moments are the Gaussian's (mu, sigma, rho) and the Bernoulli's e.
    one = np.array([[0.4, 0.0, 1.0, -2.0, np.log(0.5), np.log(2.0), np.arctanh(0.6 / 0.9999)]], "float32")
    draws = sample_points(np.repeat(one, 40000, 0), draw_noise(np.random.default_rng(3), 40000, 1)[:, 0], 1)
    np.testing.assert_allclose(draws[:, :2].mean(0), [1.0, -2.0], atol=0.03)
    np.testing.assert_allclose(draws[:, :2].std(0), [0.5, 2.0], rtol=0.02)
    assert np.corrcoef(draws[:, 0], draws[:, 1])[0, 1] == pytest.approx(0.6, abs=0.01)
    assert draws[:, 2].mean() == pytest.approx(1 / (1 + np.exp(-0.4)), abs=0.01)


def test_sampling_bias_narrows_the_gaussians():
    params = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], "float32")
    noise = np.array([[0.5, 1.0, 1.0, 0.5]], "float32")
    plain, biased = sample_points(params, noise, 1, 0.0), sample_points(params, noise, 1, 2.0)
    np.testing.assert_allclose(biased[0, :2], plain[0, :2] * np.exp(-2.0), rtol=1e-5)


# ------------------------------------------------------------------ data
def test_data_is_deterministic_and_well_formed():
    a = handwriting_arrays("train", 6, max_letters=3, max_points=96, seed=4)
    b = handwriting_arrays("train", 6, max_letters=3, max_points=96, seed=4)
    np.testing.assert_array_equal(a["strokes"], b["strokes"])
    assert a["texts"] == b["texts"]
    other = handwriting_arrays("test", 6, max_letters=3, max_points=96, seed=4)
    assert not np.array_equal(a["strokes"], other["strokes"])
    strokes, text = a["strokes"], a["text"]
    assert strokes.shape == (6, 97, 3) and text.shape == (6, 4)
    np.testing.assert_array_equal(strokes[:, 0], np.tile(START_POINT, (6, 1)))
    for row, length, words in zip(strokes, a["length"], a["texts"]):
        assert np.all(row[1 : length + 1, 2] >= 0) and np.all(row[length + 1 :, 2] == -1)
        assert row[length, 2] == 1  # the last point ends a stroke
        assert decode_text(encode_text(words, 4)) == words
    # The same text written twice differs (slant, size, spacing, jitter); the font rendering is fixed.
    rng = np.random.default_rng(0)
    assert not np.allclose(write_text("ab", rng)[:5], write_text("ab", rng)[:5])
    np.testing.assert_array_equal(write_text("ab", vary=False), write_text("ab", vary=False))


def test_data_errors():
    with pytest.raises(ValueError, match="text must be made of the characters"):
        encode_text("Ab", 5)
    with pytest.raises(ValueError, match="at most 3 characters"):
        encode_text("abcd", 4)
    with pytest.raises(ValueError, match="max_points"):
        handwriting_arrays("train", 4, max_letters=6, max_points=8)
    with pytest.raises(ValueError, match="split"):
        handwriting_arrays("dev", 4)


# ------------------------------------------------------------------ model and writer
@pytest.fixture(scope="module")
def tiny_pair():
    """The window model and the unconditional model after the same short training (module-shared)."""
    task = get_task("handwriting")
    models = {}
    for name in ("handwriting_synthesis_tiny", "handwriting_prediction_tiny"):
        tf.keras.utils.set_random_seed(0)
        model = ksa.build_model(name)
        inputs, targets = task.data(model, "train", 2048, 0)
        task.compile(model, learning_rate=3e-3, jit_compile=True)
        ds = tf.data.Dataset.from_tensor_slices((tuple(inputs) if len(inputs) > 1 else inputs[0], targets))
        model.fit(ds.shuffle(2048, seed=0).repeat().batch(32), steps_per_epoch=STEPS, epochs=1, verbose=0)
        models[name] = model
    return models


STEPS = 200


def test_step_model_reproduces_the_training_graph(tiny_pair):
    model = tiny_pair["handwriting_synthesis_tiny"]
    inputs, _ = get_task("handwriting").data(model, "test", 3, 1)
    text, strokes = inputs
    mixture, phi = (o.numpy() for o in model([text, strokes], training=False))
    step = writer_step_model(model)
    state = np.zeros((3, model.get_layer("synthesis").state_size), "float32")
    for t in range(0, 20):
        m, state, p = (o.numpy() for o in step([strokes[:, t], text, state]))
        np.testing.assert_allclose(m, mixture[:, t], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(p, phi[:, t], rtol=1e-4, atol=1e-5)


def test_window_stopping_rule():
    # Finished when [end] (at position length) outweighs every character before it; later padding is ignored.
    phi = np.array([[0.9, 0.2, 0.0, 0.0], [0.1, 0.9, 0.2, 0.0], [0.1, 0.2, 0.8, 0.9]])
    np.testing.assert_array_equal(window_finished(phi, np.array([1, 1, 2])), [False, True, True])
    np.testing.assert_array_equal(window_finished(phi, np.array([2, 2, 1])), [False, False, True])


@pytest.mark.learning
def test_the_window_model_learns_what_the_unconditional_cannot(tiny_pair):
    # Measured over seeds 0-2 at 200 steps (tools/handwriting_experiment.py has the long runs): window
    # model 0.28-0.36 nats per point, unconditional model 0.56-0.61 (it cannot know which letters to
    # write), gap 0.24-0.29; untrained: ~3.3. The thresholds leave about half of the gap as margin.
    task = get_task("handwriting")
    scores = {}
    for name, model in tiny_pair.items():
        inputs, targets = task.data(model, "test", 256, 5)
        outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        mixture = outputs[0] if isinstance(outputs, list) else outputs
        scores[name] = float(MixtureDensityLoss()(targets, mixture))
    assert scores["handwriting_synthesis_tiny"] < WINDOW_NLL_MAX, scores
    assert scores["handwriting_prediction_tiny"] - scores["handwriting_synthesis_tiny"] > NLL_GAP_MIN, scores


WINDOW_NLL_MAX = 0.6
NLL_GAP_MIN = 0.12


def test_writer_samples_reproducibly_and_follows_the_text(tiny_pair):
    model = tiny_pair["handwriting_synthesis_tiny"]
    writer = Writer(model)
    a = writer.write(["ab", "zoo"], bias=1.0, seed=3)
    b = writer.write(["ab", "zoo"], bias=1.0, seed=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.strokes, y.strokes)
    assert [s.text for s in a] == ["ab", "zoo"]
    assert a[0].phi.shape == (len(a[0].strokes), 3) and a[1].phi.shape == (len(a[1].strokes), 4)
    assert all(np.isfinite(s.strokes).all() and set(np.unique(s.strokes[:, 2])) <= {0.0, 1.0} for s in a)
    # The window is a soft position along the text: its centre of mass never jumps back by a whole character.
    for sample in a:
        centre = (sample.phi * np.arange(sample.phi.shape[1])).sum(1) / np.maximum(sample.phi.sum(1), 1e-9)
        assert np.all(np.diff(centre) > -1.0)
    primed = writer.write(["ab"], bias=1.0, seed=3, prime=("zoo", write_text("zoo", np.random.default_rng(0))))
    assert primed[0].text == "ab" and primed[0].phi.shape[1] == 3


def test_writer_errors(tiny_pair):
    writer = Writer(tiny_pair["handwriting_synthesis_tiny"])
    with pytest.raises(ValueError, match="made of the characters"):
        writer.write(["A!"])
    with pytest.raises(ValueError, match="bias"):
        writer.write(["ab"], bias=-1)
    with pytest.raises(ValueError, match="prime"):
        writer.write(["ab"], prime="zoo")
    with pytest.raises(ValueError, match="noise must be of shape"):
        writer.write(["ab"], noise=np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="texts must be a non-empty list"):
        writer.write([])


def test_model_errors():
    with pytest.raises(ValueError, match="window_components"):
        ksa.build_model("handwriting_synthesis_tiny", window_components=-1)
    with pytest.raises(ValueError, match="vocab_size"):
        ksa.build_model("handwriting_synthesis_tiny", vocab_size=2)
    model = ksa.build_model("handwriting_synthesis_tiny", vocab_size=10)
    with pytest.raises(ValueError, match="vocab_size must be >= 29"):
        get_task("handwriting").data(model)
    with pytest.raises(ValueError, match="strokes"):
        model([np.zeros((1, 4), "int32"), np.zeros((1, 97, 2), "float32")])


def test_end_id_is_written_after_the_text():
    ids = encode_text("ab", 5)
    assert ids.tolist() == [3, 4, END_ID, 0, 0]


# ------------------------------------------------------------------ export
@pytest.mark.export
def test_export_writer_reproduces_the_writer_everywhere(tiny_pair, tmp_path):
    from keras_segattn.export.handwriting import export_writer

    writer = Writer(tiny_pair["handwriting_synthesis_tiny"])
    manifest = export_writer(writer, tmp_path / "hw")
    for fmt in ("savedmodel", "tflite", "onnx"):
        assert manifest["parity"][fmt]["passed"], manifest["parity"][fmt]
    assert manifest["parity"]["tflite"]["write_loop"]["same_length"] == 8
    assert sorted(p.name for p in (tmp_path / "hw").iterdir()) == [
        "manifest.json", "saved_model", "step.onnx", "step.onnx.json", "step.tflite", "step.tflite.json"]
    loaded = tf.saved_model.load(str(tmp_path / "hw" / "saved_model"))
    out = loaded.signatures["write"](texts=tf.constant(["ab", "zoo"]), bias=tf.constant(1.0), seed=tf.constant(3))
    assert out["strokes"].shape[0] == 2 and np.all(out["lengths"].numpy() >= 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be made of the characters"):
        loaded.signatures["write"](texts=tf.constant(["AB"]), bias=tf.constant(1.0), seed=tf.constant(3))


@pytest.mark.export
def test_export_writer_writes_nothing_when_a_loop_differs(tiny_pair, tmp_path):
    from keras_segattn.export.handwriting import export_writer
    from keras_segattn.export.parity import ParityError

    writer = Writer(tiny_pair["handwriting_synthesis_tiny"])
    with pytest.raises(ParityError, match="did not reproduce"):
        export_writer(writer, tmp_path / "hw", formats=("onnx",), stroke_tolerance=-1.0)
    assert not (tmp_path / "hw").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="conditional model"):
        export_writer(Writer(tiny_pair["handwriting_prediction_tiny"]), tmp_path / "hw2")
    with pytest.raises(ValueError, match="formats must be"):
        export_writer(writer, tmp_path / "hw3", formats=("pdf",))
