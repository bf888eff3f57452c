"""bahdanau_nmt: the training graph, its inference sub-models, greedy/beam decoding and the Translator."""

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_segattn as ksa
from keras_segattn.data.translation import (
    END_ID,
    START_ID,
    detokenize,
    spanish_english_arrays,
    spanish_english_pairs,
)
from keras_segattn.export.seq2seq import keras_runners, reference_decode
from keras_segattn.models.bahdanau_nmt import PAPER_DEFAULTS, TINY, Translator, inference_models
from keras_segattn.training.translation import compile_translation


@pytest.fixture(scope="module")
def translator():
    """Briefly trained (about 15 s): decisive enough that sentences end at different lengths."""
    keras.utils.set_random_seed(0)
    model = ksa.build_model("bahdanau_nmt_tiny")
    x, y, _ = spanish_english_arrays("train", 4800)
    compile_translation(model, learning_rate=3e-3, jit_compile=False)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return Translator(model)


@pytest.fixture(scope="module")
def held_out():
    inputs, labels, pairs = spanish_english_arrays("test", 16)
    return inputs, labels, pairs


# ------------------------------------------------------------------ the graph
def test_registry_entries():
    assert "bahdanau_nmt" in ksa.list_models(family="attention_nmt", task="translation")
    assert "bahdanau_nmt_tiny" in ksa.list_models("*_tiny", task="translation")
    assert PAPER_DEFAULTS == {
        "source_vocab_size": 30000, "target_vocab_size": 30000, "max_length": 50, "embedding_dim": 620,
        "encoder_units": 1000, "decoder_units": 1000, "attention_units": 1000, "maxout_units": 500,
    }  # fmt: skip
    spec_defaults = ksa.registry.get_spec("bahdanau_nmt_tiny").defaults
    assert spec_defaults == TINY


def test_paper_model_sizes():
    """RNNsearch's widths with a small vocabulary and length (the graph is unrolled over max_length)."""
    model = ksa.build_model("bahdanau_nmt", source_vocab_size=100, target_vocab_size=90, max_length=4)
    encoder = model.get_layer("encoder")
    assert encoder.forward_layer.units == 1000 and encoder.backward_layer.units == 1000
    assert model.get_layer("source_embedding").output_dim == 620
    decoder = model.get_layer("decoder")
    assert decoder.units == 1000 and decoder.attention.units == 1000
    assert model.get_layer("deep_output").units == 1000 and model.get_layer("maxout").pieces == 2
    assert model.get_layer("output_projection").units == 90
    assert [tuple(o.shape) for o in model.outputs] == [(None, 4, 90), (None, 4, 4)]


def test_alignment_rows_are_distributions_over_real_source_tokens(translator, held_out):
    inputs, _, _ = held_out
    _, alignment = translator.model(inputs)
    alignment = alignment.numpy()
    real = inputs[:, 0] != 0
    assert np.all(alignment[np.broadcast_to(~real[:, None, :], alignment.shape)] == 0.0)
    np.testing.assert_allclose(alignment.sum(-1), 1.0, atol=1e-5)


def test_step_model_reproduces_teacher_forcing(translator, held_out):
    """Driving encoder + decoder_step with the true previous tokens gives the training graph's outputs."""
    inputs, _, _ = held_out
    logits, alignment = (t.numpy() for t in translator.model(inputs))
    annotations, keys, state, mask = translator.encoder(inputs[:, 0])
    for t in range(inputs.shape[-1]):
        step_logits, state, weights = translator.decoder_step(
            [tf.constant(inputs[:, 1, t]), state, annotations, keys, mask]
        )
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(weights.numpy(), alignment[:, t], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_luong_variants_train_and_decode(score, tmp_path):
    kwargs = dict(TINY, attention="luong", score=score)
    if score == "dot":
        kwargs["decoder_units"] = 2 * kwargs["encoder_units"]
    model = ksa.build_model("bahdanau_nmt_tiny", **kwargs)
    assert model.get_layer("decoder").attention.score_name == score
    x, y, _ = spanish_english_arrays("validation", 6)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True)[0])
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_weights)]
    assert np.isfinite(float(loss))
    for w, g in zip(model.trainable_weights, grads):
        assert g is not None and np.all(np.isfinite(g.numpy())), w.path
    assert any("attention" in w.path and np.abs(g.numpy()).sum() > 0 for w, g in zip(model.trainable_weights, grads)) or score == "dot"
    translator = Translator(model)
    out = translator.decode_ids(x[:, 0], beam_width=2)
    ref = reference_decode(*keras_runners(translator), x[:, 0], beam_width=2)
    np.testing.assert_array_equal(out["tokens"], ref["tokens"])
    if score == "concat":
        path = str(tmp_path / "luong.keras")
        model.save(path)
        np.testing.assert_array_equal(keras.saving.load_model(path)(x)[0].numpy(), model(x)[0].numpy())


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"attention": "local"}, "bahdanau_nmt_tiny: attention must be one of 'bahdanau', 'luong', received 'local'"),
        ({"score": "cosine"}, "bahdanau_nmt_tiny: score must be one of 'dot', 'general', 'concat', received 'cosine'"),
        ({"attention": "luong", "score": "dot", "decoder_units": 100}, r"decoder_units must be 2 \* encoder_units = 128 with attention='luong', score='dot', received 100\. Luong's dot score"),
        ({"target_vocab_size": 4}, "target_vocab_size must be an int >= 5, received 4"),
        ({"max_length": 1}, "max_length must be an int >= 2, received 1"),
        ({"maxout_units": 0}, "maxout_units must be None or a positive int, received 0"),
    ],
)
def test_builder_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        ksa.build_model("bahdanau_nmt_tiny", **overrides)


def test_inference_models_reject_other_models():
    with pytest.raises(ValueError, match="is not a bahdanau_nmt model"):
        inference_models(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="mlp"))


# ------------------------------------------------------------------ decoding
@pytest.mark.parametrize("beam_width,length_penalty", [(1, 0.0), (3, 0.0), (4, 0.6)])
def test_beam_search_matches_independent_numpy_loop(translator, held_out, beam_width, length_penalty):
    source = held_out[0][:, 0]
    ours = translator.decode_ids(source, beam_width=beam_width, length_penalty=length_penalty)
    ref = reference_decode(
        *keras_runners(translator), source, beam_width=beam_width, length_penalty=length_penalty
    )
    np.testing.assert_array_equal(ours["length"], ref["length"])
    np.testing.assert_array_equal(ours["tokens"], ref["tokens"])
    np.testing.assert_allclose(ours["alignment"], ref["alignment"], atol=1e-5)
    np.testing.assert_allclose(ours["score"], ref["score"], rtol=1e-4, atol=1e-4)
    # Sentences end with [end] at different lengths (the fixture is trained enough to stop).
    assert len(set(ours["length"].tolist())) > 2
    for tokens, length in zip(ours["tokens"], ours["length"]):
        assert np.all(tokens[length:] == 0) and np.all(tokens[:length] != 0)
        assert (tokens[length - 1] == END_ID) or length == tokens.shape[0]


def test_greedy_is_beam_width_one_and_follows_the_argmax(translator, held_out):
    source = held_out[0][:4, 0]
    greedy = translator.decode_ids(source)
    np.testing.assert_array_equal(greedy["tokens"], translator.decode_ids(source, beam_width=1, length_penalty=1.0)["tokens"])
    # Re-run the argmax chain by hand through the step model.
    annotations, keys, state, mask = translator.encoder(source)
    token = tf.fill([4], START_ID)
    for t in range(int(greedy["length"].max())):
        logits, state, _ = translator.decoder_step([token, state, annotations, keys, mask])
        logits = logits.numpy()
        logits[:, 0] = -np.inf
        token = tf.constant(logits.argmax(-1).astype("int32"))
        live = greedy["length"] > t
        np.testing.assert_array_equal(token.numpy()[live], greedy["tokens"][live, t])


def test_length_penalty_prefers_longer_hypotheses(translator, held_out):
    source = held_out[0][:, 0]
    plain = translator.decode_ids(source, beam_width=4)
    long = translator.decode_ids(source, beam_width=4, length_penalty=3.0)
    assert long["length"].mean() >= plain["length"].mean()


def test_beam_search_argument_errors(translator, held_out):
    source = held_out[0][:2, 0]
    with pytest.raises(ValueError, match="beam_search: beam_width must be a positive int, received 0"):
        translator.decode_ids(source, beam_width=0)
    with pytest.raises(ValueError, match="beam_search: length_penalty must be a finite number >= 0, received -1.0"):
        translator.decode_ids(source, length_penalty=-1.0)
    with pytest.raises(ValueError, match=r"source_ids must have shape \(batch, 14\)"):
        translator.decode_ids(source[:, :5])


# ---------------------------------------------------------------- Translator
def test_translate_returns_text_tokens_and_alignment(translator):
    (result,) = translator.translate(["Mi gato es el mejor."], beam_width=3)
    assert result.source_tokens == ["mi", "gato", "es", "el", "mejor"]
    assert result.alignment.shape == (len(result.tokens), 5)
    np.testing.assert_allclose(result.alignment.sum(-1), 1.0, atol=1e-5)
    assert result.text == detokenize([t for t in result.tokens if t != "[end]"])
    assert not result.truncated and result.unknown == []


def test_empty_string_gives_empty_translation(translator):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = translator.translate(["", "  ", "¡!"], beam_width=2)
    for r in results:
        assert r.text == "" and r.tokens == [] and r.source_tokens == [] and r.alignment.shape == (0, 0)
        assert r.score == 0.0


def test_out_of_vocabulary_words_are_unk_with_a_warning(translator):
    with pytest.warns(UserWarning, match=r"2 word\(s\) are not in the source vocabulary and are read as \[UNK\]: \['chocolate', 'xyz'\]"):
        (result,) = translator.translate(["mi gato come chocolate xyz"])
    assert result.unknown == ["chocolate", "xyz"]
    ids, tokens, _, unknown = translator.encode(["mi gato come chocolate xyz"], warn=False)
    assert ids[0, 3] == 1 and ids[0, 4] == 1 and tokens[0][3] == "chocolate"
    assert result.alignment.shape[1] == 5 and np.isfinite(result.alignment).all()


def test_over_length_input_is_truncated_with_a_warning(translator):
    long = " ".join(["uno"] * 20)
    with pytest.warns(UserWarning, match="have more than max_length=14 tokens; only their first 14 tokens are translated"):
        (result,) = translator.translate([long])
    assert result.truncated and len(result.source_tokens) == 14 and result.alignment.shape[1] == 14


def test_encode_matches_the_text_vectorizer(translator):
    texts = [p[0] for p in spanish_english_pairs("test", 40)] + ["mi gato come chocolate"]
    ids, _, _, _ = translator.encode(texts, warn=False)
    vectorized = translator.source_vectorizer(tf.constant(texts)).numpy()
    width = min(vectorized.shape[1], 14)
    np.testing.assert_array_equal(ids[:, :width], vectorized[:, :width])


def test_batch_translation_equals_one_by_one(translator):
    texts = [p[0] for p in spanish_english_pairs("test", 6)] + [""]
    batch = [r.text for r in translator.translate(texts, beam_width=3)]
    single = [translator.translate([t], beam_width=3)[0].text for t in texts]
    assert batch == single


def test_bad_texts_raise_type_errors(translator):
    with pytest.raises(TypeError, match="texts must be strings, received an element of type int"):
        translator.translate(["hola", 3])
    with pytest.raises(TypeError, match="texts must be a string or a list of strings"):
        translator.translate(42)


def test_translator_vocabulary_must_fit_the_model(translator):
    with pytest.raises(ValueError, match=f"the model's source vocabulary has {TINY['source_vocab_size']} ids"):
        Translator(translator.model, source_vocabulary=["a", "b"])
    with pytest.raises(ValueError, match=r"must start with '\[start\]', '\[end\]'"):
        Translator(translator.model, target_vocabulary=["x"] * 116)


def test_save_and_load_round_trip(translator, tmp_path):
    texts = [p[0] for p in spanish_english_pairs("test", 5)]
    directory = translator.save(str(tmp_path / "nmt"))
    assert sorted(os.listdir(directory)) == ["model.keras", "translator.json"]
    loaded = Translator.load(directory)
    assert [r.text for r in loaded.translate(texts, beam_width=2)] == [
        r.text for r in translator.translate(texts, beam_width=2)
    ]


# -------------------------------------------------------------------- export
@pytest.mark.export
def test_export_translator_savedmodel_tflite_onnx_and_decode_loops(translator, tmp_path):
    import json
    import subprocess
    import sys

    from keras_segattn.export.seq2seq import export_translator

    directory = str(tmp_path / "nmt")
    manifest = export_translator(translator, directory, beam_width=3, length_penalty=0.6)
    assert sorted(os.listdir(directory)) == sorted(
        ["saved_model", "manifest.json"]
        + [f"{p}.{e}{j}" for p in ("encoder", "decoder_step") for e in ("tflite", "onnx") for j in ("", ".json")]
    )
    on_disk = json.load(open(os.path.join(directory, "manifest.json")))
    assert on_disk["decoding"] == {"beam_width": 3, "length_penalty": 0.6, "max_steps": 14}
    for fmt in ("savedmodel", "tflite", "onnx"):
        assert on_disk["parity"][fmt]["passed"], fmt
    sm = manifest["parity"]["savedmodel"]
    assert sm["identical_translations"] == sm["sentences"] == 35 and sm["decode_loop"]["identical_sentences"] == 35
    for fmt in ("tflite", "onnx"):
        for loop in manifest["parity"][fmt]["decode_loop"].values():
            assert loop["identical_sentences"] == loop["sentences"] == 35
            assert loop["alignment_max_abs_error"] <= 1e-5
        for piece in ("encoder", "decoder_step"):
            assert manifest["parity"][fmt][piece]["kind"] == "float"
    for piece in ("encoder", "decoder_step"):
        ops = json.load(open(os.path.join(directory, f"{piece}.tflite.json")))["ops"]
        assert ops["flex"] == [] and ops["custom"] == []

    # The SavedModel translates raw strings in a process that never imports keras_segattn.
    texts = ["mi gato es el mejor", "", "mi gato come chocolate", " ".join(["uno"] * 20)]
    code = (
        "import json, sys, tensorflow as tf\n"
        f"f = tf.saved_model.load({os.path.join(directory, 'saved_model')!r}).signatures['translate']\n"
        f"out = f(texts=tf.constant({texts!r}))\n"
        "print(json.dumps({'translation': [t.decode() for t in out['translation'].numpy()],"
        " 'truncated': out['truncated'].numpy().tolist(), 'unknown': out['unknown_count'].numpy().tolist()}))\n"
        "assert 'keras_segattn' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    served = json.loads(done.stdout.strip().splitlines()[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = translator.translate(texts, beam_width=3, length_penalty=0.6)
    assert served["translation"] == [e.text for e in expected]
    assert served["translation"][1] == ""
    assert served["truncated"] == [False, False, False, True]
    assert served["unknown"] == [0, 0, 1, 0]


@pytest.mark.export
def test_export_translator_fails_closed_when_the_decode_loop_disagrees(translator, tmp_path, monkeypatch):
    from keras_segattn.export import ParityError, seq2seq

    real = seq2seq.tflite_runners

    def broken(encoder_path, step_path):
        run_encoder, run_step = real(encoder_path, step_path)

        def bad_step(feed):
            out = run_step(feed)
            out["logits"] = out["logits"] + np.linspace(0.0, 5.0, out["logits"].shape[-1], dtype="float32")
            return out

        return run_encoder, bad_step

    monkeypatch.setattr(seq2seq, "tflite_runners", broken)
    with pytest.raises(ParityError, match="tflite did not reproduce the library's decode; nothing was written"):
        seq2seq.export_translator(translator, str(tmp_path / "nmt"), formats=("tflite",))
    assert os.listdir(tmp_path) == []


def test_export_translator_argument_errors(translator, tmp_path):
    from keras_segattn.export.seq2seq import export_translator

    with pytest.raises(ValueError, match="formats must be a non-empty subset of"):
        export_translator(translator, str(tmp_path / "x"), formats=("coreml",))
    assert os.listdir(tmp_path) == []


def test_reference_decode_of_an_empty_source_is_empty(translator):
    out = reference_decode(*keras_runners(translator), np.zeros((2, 14), "int32"), beam_width=3)
    assert out["length"].tolist() == [0, 0] and not out["tokens"].any() and not out["alignment"].any()
    ours = translator.decode_ids(np.zeros((2, 14), "int32"), beam_width=3)
    assert ours["length"].tolist() == [0, 0] and not ours["tokens"].any()


# ------------------------------------------------------------------- picture
def test_plot_alignment_writes_a_png(translator, tmp_path):
    import matplotlib.image

    from keras_segattn.visualize import plot_alignment

    results = translator.translate(["mi gato es el mejor", "el doce de mayo de dos mil veintiuno"], beam_width=2)
    path = plot_alignment(
        [r.alignment for r in results],
        [r.source_tokens for r in results],
        [r.tokens for r in results],
        str(tmp_path / "alignment.png"),
        title=[r.source for r in results],
    )
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # not blank
    single = plot_alignment(np.eye(2), ["a", "b"], ["x", "y"], str(tmp_path / "one.png"), title="t")
    assert os.path.getsize(single) > 1000
    with pytest.raises(ValueError, match=r"alignment shape \(2, 2\) must be \(len\(target_tokens\), len\(source_tokens\)\) = \(3, 2\)"):
        plot_alignment(np.eye(2), ["a", "b"], ["x", "y", "z"], str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="got 2 alignment"):
        plot_alignment([np.eye(2), np.eye(2)], [["a", "b"]], [["x", "y"]], str(tmp_path / "bad.png"))
