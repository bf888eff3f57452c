"""Export a handwriting Writer: a SavedModel that writes text, and one pen step for devices.

Writing is a loop, not one graph: one step of the synthesis network per pen
point, feeding back the sampled point and the state. :func:`export_writer`
writes, into one directory (only if every check passes; nothing is left
behind otherwise):

- ``saved_model/``: a SavedModel with signatures ``write`` (raw strings in,
  a ``bias`` and a ``seed``; the character encoding, the sampling loop and
  Graves' stopping rule inside; also ``serving_default``), ``write_noise``
  (character ids and explicit sampling noise: reproducible anywhere) and
  ``encode`` (strings -> ids). Loadable with ``tf.saved_model.load`` in a
  process that never imports keras_segattn.
- ``step.tflite`` (builtin ops only) and ``step.onnx``: one pen point with
  explicit state, ``stroke (B, 3)``, ``text (B, U)`` ids, ``state (B, S)`` ->
  ``mixture (B, 6M + 1)``, ``next_state``, ``phi (B, U)``; each written by
  :func:`keras_segattn.export.export` behind the float parity gate (on the
  inputs met while writing), with its own JSON manifest.
- ``manifest.json``: the alphabet and ids, sizes, and the parity of every
  piece, including the **write-loop parity**: :func:`reference_write` (a
  small NumPy loop) drives each exported step with the same sampling noise
  as the library's :class:`~keras_segattn.models.handwriting_synthesis.Writer`
  and must reproduce its strokes point for point; the SavedModel's
  ``write_noise`` must too.
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from keras_segattn.export import publish
from keras_segattn.export.formats import BACKENDS
from keras_segattn.export.parity import FLOAT_TOLERANCE
from keras_segattn.export.seq2seq import bundle_owner, publish_bundle

__all__ = ["export_writer", "reference_write", "compare_writes", "FORMATS"]

FORMATS = ("savedmodel", "tflite", "onnx")
#: a device's step takes texts of at most this many characters (+ [end]) when the model's text length is dynamic
DEFAULT_TEXT_LENGTH = 32


def reference_write(run_step, ids, noise, bias, num_mixtures, state_size):
    """Write with any step runner: ``(strokes (B, P, 3), lengths (B,))``.

    ``run_step(feed)`` maps ``{"stroke", "text", "state"}`` to
    ``{"mixture", "next_state", "phi"}``; ``ids (B, U)`` end with ``[end]``
    (id 1) then padding; ``noise (B, P, 4)``. It samples with the Writer's
    NumPy sampler and stopping rule (:func:`~keras_segattn.models.
    handwriting_synthesis.writer.sample_points`, itself tested against the
    TensorFlow sampler the SavedModel's loop uses), so a difference from the
    Writer's strokes can only come from the step being run.
    """
    from keras_segattn.data.handwriting import START_POINT
    from keras_segattn.models.handwriting_synthesis.writer import sample_points, window_finished

    ids = np.asarray(ids, np.int32)
    noise = np.asarray(noise, np.float32)
    batch, points = noise.shape[:2]
    end = (ids != 0).sum(1) - 1  # the position of [end]: the text's length
    state = np.zeros((batch, state_size), np.float32)
    stroke = np.tile(np.float32(START_POINT), (batch, 1))
    strokes = np.zeros((batch, points, 3), np.float32)
    lengths = np.full(batch, points)
    done = np.zeros(batch, bool)
    for t in range(points):
        out = run_step({"stroke": stroke, "text": ids, "state": state})
        state = np.asarray(out["next_state"], np.float32)
        stroke = sample_points(out["mixture"], noise[:, t], num_mixtures, bias)
        strokes[:, t] = stroke
        finished = window_finished(np.asarray(out["phi"]), end) & ~done
        lengths[finished] = t + 1
        done |= finished
        if done.all():
            break
    return strokes, lengths


def compare_writes(expected, actual, tolerance=1e-3) -> dict:
    """``expected``/``actual``: ``(strokes (B, P, 3), lengths)``; the same lengths and points within ``tolerance``."""
    (e_strokes, e_lengths), (a_strokes, a_lengths) = expected, actual
    same_length = [int(a) == int(b) for a, b in zip(e_lengths, a_lengths)]
    errors = [float(np.abs(e_strokes[i, :n] - a_strokes[i, :n]).max()) if n else 0.0
              for i, n in enumerate(np.minimum(e_lengths, a_lengths))]
    report = {
        "samples": len(same_length),
        "same_length": int(sum(same_length)),
        "stroke_max_abs_error": max(errors) if errors else 0.0,
        "tolerance": tolerance,
    }
    report["passed"] = bool(all(same_length) and report["stroke_max_abs_error"] <= tolerance)
    return report


# ------------------------------------------------------------- SavedModel
class _WriterModule(tf.Module):
    def __init__(self, writer, max_points):
        from keras_segattn.data.handwriting import ALPHABET, END_ID
        from keras_segattn.layers.mixture_density_output import sample_mixture_density

        super().__init__()
        self.step_model = writer.step_model
        self.max_points = max_points
        num_mixtures, state_size = writer.num_mixtures, writer.rnn.state_size
        keys = tf.constant([ord(c) for c in ALPHABET], tf.int32)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.range(2, len(ALPHABET) + 2, dtype=tf.int32)), -1
        )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def encode(texts):
            codes = tf.strings.unicode_decode(texts, "UTF-8")
            ids = tf.ragged.map_flat_values(self.table.lookup, codes)
            tf.debugging.assert_non_negative(
                ids.flat_values, message=f"write: texts must be made of the characters {ALPHABET!r}"
            )
            ends = tf.fill([tf.shape(texts)[0], 1], END_ID)
            return {"text": tf.concat([ids, tf.RaggedTensor.from_tensor(ends)], axis=1).to_tensor(0)}

        @tf.function(input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="text"),
            tf.TensorSpec([None, None, 4], tf.float32, name="noise"),
            tf.TensorSpec([], tf.float32, name="bias"),
        ])
        def write_noise(text, noise, bias):
            batch, points = tf.shape(noise)[0], tf.shape(noise)[1]
            end = tf.reduce_sum(tf.cast(text != 0, tf.int32), axis=1) - 1
            positions = tf.range(tf.shape(text)[1])[None, :]

            def body(t, stroke, state, done, lengths, strokes):
                mixture, state, phi = self.step_model([stroke, text, state], training=False)
                stroke = sample_mixture_density(mixture, noise[:, t], num_mixtures, bias)
                at_end = tf.gather(phi, end, batch_dims=1)
                before = tf.reduce_max(tf.where(positions < end[:, None], phi, -np.inf), axis=1)
                finished = (at_end > before) & ~done
                lengths = tf.where(finished, t + 1, lengths)
                return t + 1, stroke, state, done | finished, lengths, strokes.write(t, stroke)

            start = (
                tf.constant(0),
                tf.tile(tf.constant([[0.0, 0.0, 1.0]]), [batch, 1]),
                tf.zeros([batch, state_size]),
                tf.zeros([batch], tf.bool),
                tf.fill([batch], points),
                tf.TensorArray(tf.float32, size=points, element_shape=[None, 3]),
            )
            _, _, _, _, lengths, strokes = tf.while_loop(
                lambda t, s, st, done, *_: (t < points) & ~tf.reduce_all(done), body, start
            )
            written = tf.transpose(strokes.stack(), [1, 0, 2])
            # Points after a stop are not part of the sample (they are not computed if all stopped).
            written = tf.pad(written, [[0, 0], [0, points - tf.shape(written)[1]], [0, 0]])
            return {"strokes": written, "lengths": lengths}

        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name="texts"),
            tf.TensorSpec([], tf.float32, name="bias"),
            tf.TensorSpec([], tf.int32, name="seed"),
        ])
        def write(texts, bias, seed):
            text = encode(texts)["text"]
            shape = [tf.shape(texts)[0], self.max_points]
            seeds = [tf.stack([seed, k]) for k in range(4)]
            noise = tf.stack([
                tf.random.stateless_uniform(shape, seeds[0]), tf.random.stateless_normal(shape, seeds[1]),
                tf.random.stateless_normal(shape, seeds[2]), tf.random.stateless_uniform(shape, seeds[3]),
            ], axis=-1)
            return {"text": text, **write_noise(text, noise, bias)}

        self.encode, self.write_noise, self.write = encode, write_noise, write


def _write_savedmodel(writer, path, max_points):
    module = _WriterModule(writer, max_points)
    signatures = {"serving_default": module.write, "write": module.write, "write_noise": module.write_noise,
                  "encode": module.encode}
    tf.saved_model.save(module, path, signatures=signatures)


def _check_savedmodel(writer, path, texts, ids, noise, bias, expected, tolerance):
    loaded = tf.saved_model.load(path)
    encoded = loaded.signatures["encode"](texts=tf.constant(texts))["text"].numpy()
    out = loaded.signatures["write_noise"](text=tf.constant(ids), noise=tf.constant(noise), bias=tf.constant(bias))
    report = compare_writes(expected, (out["strokes"].numpy(), out["lengths"].numpy()), tolerance)
    report["encode_matches"] = bool(encoded.shape == ids.shape and np.array_equal(encoded, ids))
    # The string signature runs end to end (its noise comes from the seed inside).
    sample = loaded.signatures["write"](texts=tf.constant(texts[:2]), bias=tf.constant(bias), seed=tf.constant(0))
    report["write_signature_runs"] = bool(np.isfinite(sample["strokes"].numpy()).all())
    report["passed"] = bool(report["passed"] and report["encode_matches"] and report["write_signature_runs"])
    return report


# ---------------------------------------------------------------- exporter
def default_parity_texts(count=8, seed=0, max_letters=3):
    """Held-out words of the embedded data (and one of a single letter)."""
    from keras_segattn.data.handwriting import handwriting_arrays

    texts = handwriting_arrays("test", count - 1, max_letters=max_letters, seed=seed)["texts"]
    return ["a", *texts]


def export_writer(
    writer,
    directory,
    *,
    formats=FORMATS,
    parity_texts=None,
    bias=1.0,
    text_length=None,
    tolerance=FLOAT_TOLERANCE,
    stroke_tolerance=1e-3,
    overwrite=False,
    verbose=False,
):
    """Export ``writer`` (a :class:`~keras_segattn.models.handwriting_synthesis.Writer`) to ``directory``.

    Args:
        writer: the trained writer (a conditional model: it writes text).
        directory: output directory (written on success, untouched on failure).
            An existing one is replaced only if this library wrote it and
            ``overwrite=True``; anything else is refused.
        formats: any of ``"savedmodel"``, ``"tflite"``, ``"onnx"``.
        parity_texts: texts for the checks (default: 8 held-out embedded words).
        bias: the sampling bias of the write-loop checks.
        text_length: ``U`` of the exported step's text input (default: the
            model's, else 32).
        tolerance: the float parity gate of the step files.
        stroke_tolerance: the largest pen-offset difference of the write loops.
        overwrite: replace a writer export this library wrote.

    Returns:
        The manifest (also written to ``directory/manifest.json``).

    Raises:
        ParityError: a piece or the write loop does not reproduce the
            library; nothing is written.

    Example:
        >>> import tempfile, keras_segattn as ksa
        >>> from keras_segattn.models.handwriting_synthesis import Writer
        >>> from keras_segattn.export.handwriting import export_writer
        >>> writer = Writer(ksa.build_model("handwriting_synthesis_tiny"))
        >>> manifest = export_writer(writer, tempfile.mkdtemp() + "/hw", formats=("onnx",))  # doctest: +SKIP
        >>> manifest["parity"]["onnx"]["passed"]  # doctest: +SKIP
        True
    """
    from keras_segattn.data.handwriting import ALPHABET
    from keras_segattn.models.handwriting_synthesis.writer import draw_noise, writer_step_model

    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"export_writer: formats must be a non-empty subset of {FORMATS}, received {formats!r}.")
    if not writer.conditional:
        raise ValueError("export_writer: writer must wrap a conditional model (window_components > 0); "
                         f"{writer.model.name!r} has no text input.")
    directory = publish.normalize(directory)
    os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
    publish.recover(directory, None)
    publish.check_target(directory, manifest_path=None, directory=True, overwrite=overwrite, owned=_is_writer_export)
    model_text = writer.model.get_layer("text").output.shape[1]
    text_length = text_length or model_text or DEFAULT_TEXT_LENGTH
    texts = list(default_parity_texts(max_letters=min(3, text_length - 1)) if parity_texts is None else parity_texts)
    ids, _ = writer.encode(texts)
    if ids.shape[1] > text_length:
        raise ValueError(f"export_writer: parity_texts must have at most {text_length - 1} characters (text_length "
                         f"{text_length}), received {max(len(t) for t in texts)}.")
    ids = np.pad(ids, [(0, 0), (0, text_length - ids.shape[1])])
    points = writer.max_points or 40 * text_length
    noise = draw_noise(np.random.default_rng(0), len(texts), points)
    samples = writer.write(texts, bias=bias, noise=noise)
    expected = (np.stack([np.pad(s.strokes, [(0, points - len(s.strokes)), (0, 0)]) for s in samples]),
                np.array([len(s.strokes) if s.finished else points for s in samples]))
    state_size, mixtures = writer.rnn.state_size, writer.num_mixtures
    manifest = {
        "model": writer.model.name,
        "parameters": int(writer.model.count_params()),
        "alphabet": ALPHABET,
        "token_ids": {"pad": 0, "end": 1, "first_character": 2},
        "text_length": text_length,
        "max_points": points,
        "state_size": state_size,
        "num_mixtures": mixtures,
        "start_point": [0.0, 0.0, 1.0],
        "files": {},
        "parity": {},
    }
    with publish.Staging(directory, None) as staging:
        tmp = staging.artifact
        os.makedirs(tmp)
        if "savedmodel" in formats:
            path = os.path.join(tmp, "saved_model")
            _write_savedmodel(writer, path, points)
            manifest["parity"]["savedmodel"] = _check_savedmodel(
                writer, path, texts, ids, noise, np.float32(bias), expected, stroke_tolerance)
            manifest["files"]["savedmodel"] = "saved_model"
        step_model = writer_step_model(writer.model, text_length=text_length)
        step_inputs = _recorded_step_inputs(step_model, ids, noise, bias, mixtures, state_size)
        export_step_files(
            step_model, tmp, formats, step_inputs, manifest, "write_loop",
            lambda run: compare_writes(expected, reference_write(run, ids, noise, bias, mixtures, state_size),
                                       stroke_tolerance),
            tolerance=tolerance, verbose=verbose,
        )
        publish_bundle(staging, manifest, directory, "export_writer", "handwriting")
    return manifest


def _recorded_step_inputs(step_model, ids, noise, bias, mixtures, state_size, limit=256):
    """Real step inputs: those met while writing ``ids`` with the Keras step."""
    step = tf.function(lambda *a: step_model(list(a), training=False), reduce_retracing=True)
    rows = {"stroke": [], "text": [], "state": []}

    def run(feed):
        for name in rows:
            rows[name].append(np.asarray(feed[name]))
        out = step(*(tf.constant(feed[n]) for n in ("stroke", "text", "state")))
        return dict(zip(("mixture", "next_state", "phi"), (t.numpy() for t in out)))

    reference_write(run, ids, noise, bias, mixtures, state_size)
    return [np.concatenate(rows[name])[:limit] for name in ("stroke", "text", "state")]


def step_runner(fmt, path):
    """``run(feed dict) -> outputs dict`` over an exported step file (``"tflite"`` or ``"onnx"``)."""
    if fmt == "tflite":
        from keras_segattn.export import tflite

        with open(path, "rb") as fh:
            runner = tflite.interpreter(fh.read()).get_signature_runner()
        return lambda feed: {k: np.asarray(v) for k, v in runner(**feed).items()}
    from keras_segattn.export import onnx as onnx_export

    session = onnx_export._session(path)
    names = [o.name for o in session.get_outputs()]
    return lambda feed: dict(zip(names, session.run(names, feed)))


def export_step_files(step_model, folder, formats, step_inputs, manifest, loop_name, check_loop, *, tolerance,
                      verbose=False):
    """Write ``step.tflite`` / ``step.onnx`` (those of ``formats``) into ``folder``, each behind the float
    parity gate on ``step_inputs``, then drive it with ``check_loop(run)`` (a reference sampling loop
    compared with the library: a report with ``passed``); records both in ``manifest``."""
    from keras_segattn.export.exporter import export

    for fmt in (f for f in ("tflite", "onnx") if f in formats):
        path = os.path.join(folder, "step" + BACKENDS[fmt].suffix)
        export(step_model, path, format=fmt, parity_data=step_inputs, parity_samples=len(step_inputs[0]),
               tolerance=tolerance, verbose=verbose)
        with open(path + ".json") as fh:
            step_parity = json.load(fh)["parity"]
        loop = check_loop(step_runner(fmt, path))
        manifest["parity"][fmt] = {"step": step_parity, loop_name: loop,
                                   "passed": bool(step_parity["passed"] and loop["passed"])}
        manifest["files"][fmt] = os.path.basename(path)


_is_writer_export = bundle_owner("alphabet", "state_size")
