"""Export a sequence-to-sequence Translator: the pieces a device runs, and a loop that drives them.

A translator is a loop, not one graph: encode the source once, then run one
decoder step per output token, feeding back the chosen token and the state.
:func:`export_translator` writes, into one directory (only if every check
passes; nothing is left behind otherwise):

- ``saved_model/``: a SavedModel with signatures ``translate`` (raw strings in:
  ``keras.layers.TextVectorization``, beam search and detokenisation inside;
  also ``serving_default``), ``encoder`` and ``decoder_step``. Loadable with
  ``tf.saved_model.load`` in a process that never imports keras_segattn.
- ``encoder.tflite``/``decoder_step.tflite`` (builtin ops only) and
  ``encoder.onnx``/``decoder_step.onnx``, each written by
  :func:`keras_segattn.export.export` behind the float parity gate, with its own
  JSON manifest. The decoder step takes its state explicitly: ``token``
  (the previous output id), ``state``, ``annotations``, ``keys``,
  ``source_mask`` -> ``logits``, ``next_state``, ``alignment``.
- ``manifest.json``: decoding configuration, token ids, vocabularies and the
  parity of every piece, including the **decode-loop parity**:
  :func:`reference_decode` (a small NumPy greedy/beam-search loop, written
  independently of the library's TensorFlow beam search) drives each
  exported encoder/decoder-step pair on held-out sentences and must
  reproduce the library's own decode token for token.

Example:
    >>> import tempfile, keras_segattn as ksa
    >>> from keras_segattn.models.bahdanau_nmt import Translator
    >>> from keras_segattn.export.seq2seq import export_translator
    >>> translator = Translator(ksa.build_model("bahdanau_nmt_tiny"))
    >>> manifest = export_translator(translator, tempfile.mkdtemp() + "/nmt", formats=("savedmodel",))  # doctest: +SKIP
    >>> manifest["parity"]["savedmodel"]["passed"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import datetime
import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.export import publish
from keras_segattn.export.formats import BACKENDS
from keras_segattn.export.parity import FLOAT_TOLERANCE, ParityError

__all__ = [
    "export_translator",
    "reference_decode",
    "keras_runners",
    "savedmodel_runners",
    "tflite_runners",
    "onnx_runners",
    "compare_decodes",
    "export_pieces",
    "ENCODER_OUTPUTS",
    "STEP_INPUTS",
    "STEP_OUTPUTS",
]

ENCODER_OUTPUTS = ("annotations", "keys", "initial_state", "source_mask")
STEP_INPUTS = ("token", "state", "annotations", "keys", "source_mask")
STEP_OUTPUTS = ("logits", "next_state", "alignment")
FORMATS = tuple(BACKENDS)


# ------------------------------------------------------------ reference loop
def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    top = logits.max(-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


def reference_decode(
    run_encoder,
    run_step,
    source_ids,
    *,
    beam_width=1,
    length_penalty=0.0,
    max_steps=None,
    start_id=2,
    end_id=3,
    pad_id=0,
    source_name="source_ids",
):
    """Greedy (``beam_width=1``) or beam-search decoding in NumPy, one sentence at a time.

    ``run_encoder({source_name: (1, ...)})`` (``"source_ids"``: ``(1, L)``
    token ids; a captioner's ``"image"``) returns a dict with
    :data:`ENCODER_OUTPUTS`; ``run_step({name: array})`` takes
    :data:`STEP_INPUTS` and returns :data:`STEP_OUTPUTS`. Any runtime works:
    Keras, a SavedModel, the TFLite interpreter, onnxruntime (see the
    ``*_runners`` helpers).

    Hypotheses start from ``start_id``; a live hypothesis never emits
    ``pad_id``; a hypothesis that emits ``end_id`` is finished (its length
    counts the end token) and competes on with its score unchanged; each step
    keeps the ``beam_width`` best by summed log-probability; at the end the
    best ``score / ((5 + length) / 6) ** length_penalty`` wins. A source with no
    token decodes to nothing. Returns NumPy ``tokens (N, T)``, ``alignment (N,
    T, L)`` (``L``: the annotations' positions), ``score (N,)`` and ``length
    (N,)``, ``T = max_steps`` (default: the length of token-id sources).
    """
    source_ids = np.asarray(source_ids)
    if np.issubdtype(source_ids.dtype, np.integer):
        source_ids = source_ids.astype(np.int32)
    elif max_steps is None:
        raise ValueError("reference_decode: max_steps is required when the source is not token ids.")
    count = len(source_ids)
    steps = int(max_steps or source_ids.shape[1])
    tokens = np.zeros((count, steps), np.int32)
    alignment = None
    scores = np.zeros(count, np.float32)
    lengths = np.zeros(count, np.int32)
    for n in range(count):
        enc = run_encoder({source_name: source_ids[n : n + 1]})
        if alignment is None:
            alignment = np.zeros((count, steps, np.shape(enc["annotations"])[1]), np.float32)
        if float(np.sum(enc["source_mask"])) <= 0.0:
            continue
        # A hypothesis: (score, tokens, alignment rows, state, finished)
        beams = [(0.0, [], [], np.asarray(enc["initial_state"])[0], False)]
        for _ in range(steps):
            live = [b for b in beams if not b[4]]
            if not live:
                break
            feed = {
                "token": np.array([b[1][-1] if b[1] else start_id for b in live], np.int32),
                "state": np.stack([b[3] for b in live]).astype(np.float32),
                "annotations": np.repeat(enc["annotations"], len(live), axis=0).astype(np.float32),
                "keys": np.repeat(enc["keys"], len(live), axis=0).astype(np.float32),
                "source_mask": np.repeat(enc["source_mask"], len(live), axis=0).astype(np.float32),
            }
            out = run_step(feed)
            logp = _log_softmax(out["logits"])
            candidates = [b for b in beams if b[4]]
            for i, beam in enumerate(live):
                row = logp[i].copy()
                row[pad_id] = -np.inf
                best = np.argsort(-row, kind="stable")[:beam_width]
                for token in best:
                    candidates.append(
                        (
                            beam[0] + float(row[token]),
                            beam[1] + [int(token)],
                            beam[2] + [np.asarray(out["alignment"][i])],
                            np.asarray(out["next_state"][i]),
                            int(token) == end_id,
                        )
                    )
            candidates.sort(key=lambda b: -b[0])
            beams = candidates[:beam_width]

        def normalized(beam):
            if not length_penalty:
                return beam[0]
            return beam[0] / (((5.0 + len(beam[1])) / 6.0) ** length_penalty)

        best = max(beams, key=normalized)
        k = len(best[1])
        tokens[n, :k] = best[1]
        if k:
            alignment[n, :k] = np.stack(best[2])
        scores[n] = best[0]
        lengths[n] = k
    if alignment is None:  # no source at all
        alignment = np.zeros((count, steps, 0), np.float32)
    return {"tokens": tokens, "alignment": alignment, "score": scores, "length": lengths}


def compare_decodes(reference: dict, actual: dict, tolerance: float = 1e-4) -> dict:
    """Token-for-token agreement and alignment error of two decodes (library vs reference loop)."""
    same = np.all(reference["tokens"] == actual["tokens"], axis=1) & (reference["length"] == actual["length"])
    error = float(np.abs(reference["alignment"] - actual["alignment"]).max()) if same.any() else float("inf")
    report = {
        "sentences": int(len(same)),
        "identical_sentences": int(same.sum()),
        "alignment_max_abs_error": error,
        "score_max_abs_error": float(np.abs(reference["score"] - actual["score"])[same].max()) if same.any() else float("inf"),
        "tolerance": tolerance,
    }
    report["passed"] = bool(same.all() and error <= tolerance)
    return report


# ------------------------------------------------------------------- runners
def keras_runners(translator):
    """``(run_encoder, run_step)`` over the translator's Keras sub-models (traced once with ``tf.function``)."""
    encoder = tf.function(lambda ids: translator.encoder(ids, training=False), reduce_retracing=True)
    step = tf.function(lambda *args: translator.decoder_step(list(args), training=False), reduce_retracing=True)

    def run_encoder(feed):
        (source,) = feed.values()  # the encoder's one input: token ids or images
        return dict(zip(ENCODER_OUTPUTS, (t.numpy() for t in encoder(tf.constant(source)))))

    def run_step(feed):
        out = step(*(tf.constant(feed[name]) for name in STEP_INPUTS))
        return dict(zip(STEP_OUTPUTS, (t.numpy() for t in out)))

    return run_encoder, run_step


def savedmodel_runners(path):
    """``(run_encoder, run_step)`` over the ``encoder``/``decoder_step`` signatures of an exported SavedModel."""
    loaded = tf.saved_model.load(os.fspath(path))
    encoder, step = loaded.signatures["encoder"], loaded.signatures["decoder_step"]

    def run(signature, feed):
        return {k: v.numpy() for k, v in signature(**{k: tf.constant(v) for k, v in feed.items()}).items()}

    return (lambda feed: run(encoder, feed)), (lambda feed: run(step, feed))


def tflite_runners(encoder_path, step_path):
    """``(run_encoder, run_step)`` over the two TFLite files (LiteRT interpreter)."""
    from keras_segattn.export import tflite

    runners = []
    for path in (encoder_path, step_path):
        with open(path, "rb") as fh:
            runners.append(tflite.interpreter(fh.read()).get_signature_runner())

    def run(runner, feed):
        return {k: np.asarray(v) for k, v in runner(**feed).items()}

    return (lambda feed: run(runners[0], feed)), (lambda feed: run(runners[1], feed))


def onnx_runners(encoder_path, step_path):
    """``(run_encoder, run_step)`` over the two ONNX files (onnxruntime)."""
    from keras_segattn.export import onnx as onnx_export

    sessions = [onnx_export._session(p) for p in (encoder_path, step_path)]

    def run(session, feed):
        names = [o.name for o in session.get_outputs()]
        wanted = {i.name for i in session.get_inputs()}
        return dict(zip(names, session.run(names, {k: v for k, v in feed.items() if k in wanted})))

    return (lambda feed: run(sessions[0], feed)), (lambda feed: run(sessions[1], feed))


# ------------------------------------------------------------- SavedModel
def _translate_function(translator, beam_width, length_penalty):
    from keras_segattn.data.translation import END_ID, detokenize_tf, standardize
    from keras_segattn.models.bahdanau_nmt.beam_search import beam_search

    length = translator.max_length
    vectorizer = translator.source_vectorizer
    target_tokens = tf.constant(["", "[UNK]"] + translator.target_vocabulary)

    def translate(texts):
        words = tf.strings.split(standardize(texts))
        counts = tf.cast(words.row_lengths(), tf.int32)
        source_tokens = words[:, :length].to_tensor(default_value="", shape=[None, length])
        source_ids = tf.cast(vectorizer(texts), tf.int32)
        source_ids = tf.pad(source_ids, [[0, 0], [0, tf.maximum(length - tf.shape(source_ids)[1], 0)]])[:, :length]
        source_ids = tf.ensure_shape(source_ids, [None, length])
        decoded = beam_search(
            translator.encoder,
            translator.decoder_step,
            source_ids,
            beam_width=beam_width,
            length_penalty=length_penalty,
        )
        steps = tf.shape(decoded["tokens"])[1]
        emitted = tf.sequence_mask(decoded["length"], steps)
        tokens = tf.where(emitted, tf.gather(target_tokens, decoded["tokens"]), "")
        words_out = tf.where(emitted & (decoded["tokens"] != END_ID), tokens, "")
        return {
            "translation": detokenize_tf(words_out),  # not-a-task-branch: the signature output name
            "tokens": tokens,
            "alignment": decoded["alignment"],
            "source_tokens": source_tokens,
            "length": decoded["length"],
            "score": decoded["score"],
            "truncated": counts > length,
            "unknown_count": tf.reduce_sum(tf.cast(tf.equal(source_ids, 1), tf.int32), axis=1),
        }

    return translate


def _write_savedmodel(translator, path, beam_width, length_penalty):
    from keras_segattn.export import signature

    archive = keras.export.ExportArchive()
    archive.track(translator.encoder)
    archive.track(translator.decoder_step)
    archive.track(translator.source_vectorizer)
    text_spec = [tf.TensorSpec([None], tf.string, name="texts")]
    translate = _translate_function(translator, beam_width, length_penalty)
    archive.add_endpoint("translate", translate, input_signature=text_spec)
    archive.add_endpoint("serving_default", translate, input_signature=text_spec)
    for name, model in (("encoder", translator.encoder), ("decoder_step", translator.decoder_step)):
        specs = signature.input_specs(model)
        archive.add_endpoint(name, signature.serving_function(model, specs), input_signature=specs)
    archive.write_out(path, verbose=False)


def _check_savedmodel(translator, path, texts, beam_width, length_penalty, tolerance):
    loaded = tf.saved_model.load(path)
    out = {k: v.numpy() for k, v in loaded.signatures["translate"](texts=tf.constant(texts)).items()}
    with _quiet():
        expected = translator.translate(texts, beam_width=beam_width, length_penalty=length_penalty)
    same_text = [out["translation"][i].decode("utf-8") == e.text for i, e in enumerate(expected)]
    errors = []
    for i, e in enumerate(expected):
        n = len(e.tokens)
        got = out["alignment"][i][:n, : len(e.source_tokens)]
        errors.append(float(np.abs(got - e.alignment).max()) if n and e.alignment.size else 0.0)
        same_text[i] &= [t.decode("utf-8") for t in out["tokens"][i][:n]] == e.tokens
        same_text[i] &= bool(out["truncated"][i]) == e.truncated and int(out["unknown_count"][i]) == len(e.unknown)
    report = {
        "kind": "translate",
        "sentences": len(texts),
        "identical_translations": int(sum(same_text)),
        "alignment_max_abs_error": max(errors) if errors else 0.0,
        "tolerance": tolerance,
    }
    report["passed"] = bool(all(same_text) and report["alignment_max_abs_error"] <= tolerance)
    return report


class _quiet:
    """Silence the Translator's OOV/truncation warnings while checking parity on edge cases."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


# ---------------------------------------------------------------- exporter
def _step_parity_inputs(translator, source_ids, limit=256, **decode_kwargs):
    """Real decoder-step inputs: the states met while greedily decoding ``source_ids`` in Keras
    (``translator``: anything with ``encoder`` and ``decoder_step`` sub-models)."""
    run_encoder, run_step = keras_runners(translator)
    rows = {name: [] for name in STEP_INPUTS}

    def recording_step(feed):
        for name in STEP_INPUTS:
            rows[name].append(np.asarray(feed[name]))
        return run_step(feed)

    reference_decode(run_encoder, recording_step, source_ids, beam_width=1, **decode_kwargs)
    inputs = [np.concatenate(rows[name])[:limit] for name in STEP_INPUTS]
    return inputs


def export_pieces(owner, directory, formats, manifest, source, greedy, expected, *, beam_width, length_penalty,
                  tolerance, verbose, **decode_kwargs):
    """Write ``owner``'s encoder and decoder step as TFLite and/or ONNX into ``directory``, each behind
    :func:`~keras_segattn.export.export`'s float gate, then drive each pair with :func:`reference_decode`
    on ``source`` and compare with the library's ``greedy`` and ``expected`` (beam) decodes.

    ``owner`` is a Translator or a Captioner (anything with ``encoder`` and
    ``decoder_step``); ``decode_kwargs`` go to :func:`reference_decode`
    (a captioner's ``max_steps`` and ``source_name``). Fills
    ``manifest["parity"][fmt]`` and ``manifest["files"][fmt]``.
    """
    from keras_segattn.export.exporter import export

    pieces = {name: b.suffix for name, b in BACKENDS.items() if b.suffix and name in formats}
    if not pieces:
        return
    step_inputs = _step_parity_inputs(owner, source, **decode_kwargs)
    for fmt, suffix in pieces.items():
        paths = {}
        for piece, model, data in (("encoder", owner.encoder, [source]), ("decoder_step", owner.decoder_step, step_inputs)):
            paths[piece] = os.path.join(directory, piece + suffix)
            export(model, paths[piece], format=fmt, parity_data=data, parity_samples=len(data[0]),
                   tolerance=tolerance, verbose=verbose)
        runners = tflite_runners if fmt == "tflite" else onnx_runners
        run_encoder, run_step = runners(paths["encoder"], paths["decoder_step"])
        loops = {
            "greedy": compare_decodes(greedy, reference_decode(run_encoder, run_step, source, **decode_kwargs), tolerance),
            f"beam{beam_width}": compare_decodes(
                expected,
                reference_decode(run_encoder, run_step, source, beam_width=beam_width, length_penalty=length_penalty,
                                 **decode_kwargs),
                tolerance,
            ),
        }
        pieces_parity = {}
        for piece in paths:
            with open(paths[piece] + ".json") as fh:
                pieces_parity[piece] = json.load(fh)["parity"]
        manifest["parity"][fmt] = {
            **pieces_parity,
            "decode_loop": loops,
            "passed": all(p["passed"] for p in pieces_parity.values()) and all(loop["passed"] for loop in loops.values()),
        }
        manifest["files"][fmt] = {piece: os.path.basename(p) for piece, p in paths.items()}


def default_parity_texts(count=32, seed=0):
    """Held-out embedded test sentences plus the awkward inputs (empty, unknown words, over-long)."""
    from keras_segattn.data.translation import spanish_english_pairs

    texts = [p[0] for p in spanish_english_pairs("test", count, seed=seed)]
    return texts + ["", "mi gato come chocolate", " ".join(["mi gato es el mejor"] * 4)]


def export_translator(
    translator,
    directory,
    *,
    beam_width=4,
    length_penalty=0.6,
    formats=FORMATS,
    parity_texts=None,
    tolerance=FLOAT_TOLERANCE,
    overwrite=False,
    verbose=False,
):
    """Export ``translator`` (a :class:`~keras_segattn.models.bahdanau_nmt.Translator`) to ``directory``.

    Args:
        translator: the trained translator.
        directory: output directory (written on success, untouched on failure).
            An existing one is replaced only if this library wrote it (its
            ``manifest.json``) and ``overwrite=True``; anything else is refused.
        beam_width, length_penalty: the ``translate`` signature's decoding.
        formats: any of ``"savedmodel"``, ``"tflite"``, ``"onnx"``.
        parity_texts: source sentences for the checks (default: 32 held-out
            embedded test sentences plus an empty string, an unknown word and
            an over-long sentence).
        tolerance: float tolerance of the alignment comparisons (and of
            :func:`~keras_segattn.export.export`'s gate on the pieces).
        overwrite: replace a translator export this library wrote.

    Returns:
        The manifest (also written to ``directory/manifest.json``).

    Raises:
        ParityError: a piece or the decode loop does not reproduce the library;
            nothing is written.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"export_translator: formats must be a non-empty subset of {FORMATS}, received {formats!r}.")
    directory = publish.normalize(directory)
    os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
    publish.recover(directory, None)
    publish.check_target(
        directory, manifest_path=None, directory=True, overwrite=overwrite, owned=_is_translator_export
    )
    texts = list(parity_texts) if parity_texts is not None else default_parity_texts()
    with _quiet():
        source_ids, _, _, _ = translator.encode(texts, warn=False)
    expected = translator.decode_ids(source_ids, beam_width=beam_width, length_penalty=length_penalty)
    greedy = translator.decode_ids(source_ids, beam_width=1)
    manifest = {
        "model": translator.model.name,
        "parameters": int(translator.model.count_params()),
        "max_length": translator.max_length,
        "decoding": {"beam_width": beam_width, "length_penalty": length_penalty, "max_steps": translator.max_length},
        "token_ids": {"pad": 0, "unk": 1, "start": 2, "end": 3},
        "source_vocabulary": translator.source_vocabulary,
        "target_vocabulary": translator.target_vocabulary,
        "files": {},
        "parity": {},
    }
    with publish.Staging(directory, None) as staging:
        tmp = staging.artifact
        os.makedirs(tmp)
        if "savedmodel" in formats:
            path = os.path.join(tmp, "saved_model")
            _write_savedmodel(translator, path, beam_width, length_penalty)
            report = _check_savedmodel(translator, path, texts, beam_width, length_penalty, tolerance)
            loop = compare_decodes(
                expected,
                reference_decode(*savedmodel_runners(path), source_ids, beam_width=beam_width, length_penalty=length_penalty),
                tolerance,
            )
            manifest["parity"]["savedmodel"] = {**report, "decode_loop": loop, "passed": report["passed"] and loop["passed"]}
            manifest["files"]["savedmodel"] = "saved_model"
        export_pieces(
            translator, tmp, formats, manifest, source_ids, greedy, expected,
            beam_width=beam_width, length_penalty=length_penalty, tolerance=tolerance, verbose=verbose,
        )
        publish_bundle(staging, manifest, directory, "export_translator", "decode")
    return manifest


def publish_bundle(staging, manifest: dict, directory: str, where: str, what: str):
    """Finish a loop export staged in ``staging``: refuse it if any parity failed, else write the manifest
    (versions, date) inside the folder and move the folder in as one unit."""
    from keras_segattn.export.exporter import _versions

    failed = [fmt for fmt, report in manifest["parity"].items() if not report["passed"]]
    if failed:
        raise ParityError(
            f"{where}: {', '.join(failed)} did not reproduce the library's {what}; nothing was "
            f"written to {directory!r}. Report: {json.dumps(manifest['parity'], default=float)[:2000]}"
        )
    manifest["versions"] = _versions()
    manifest["created"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    # The manifest lives inside the folder: the folder moves in as one unit.
    with open(os.path.join(staging.artifact, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2, default=float, ensure_ascii=False)
    staging.publish()


def bundle_owner(*keys: str):
    """``owned(directory)`` for :func:`publish.check_target`: a folder whose manifest.json has ``files``,
    ``parity`` and ``keys`` (what one loop exporter writes)."""

    def owned(directory: str) -> bool:
        try:
            with open(os.path.join(directory, "manifest.json")) as fh:
                manifest = json.load(fh)
        except (OSError, ValueError):
            return False
        return isinstance(manifest, dict) and {"files", "parity", *keys} <= set(manifest)

    return owned


_is_translator_export = bundle_owner("source_vocabulary")
