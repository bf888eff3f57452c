"""Export a Show-Attend-Tell ``Captioner``: a SavedModel that captions, and the pieces a device loops over.

The captioner is the translator's pattern with an image in place of a
sentence (:mod:`keras_segattn.export.seq2seq` supplies the reference loop,
the runners and the checks). :func:`export_captioner` writes, into one
directory (only if every check passes; nothing is left behind otherwise):

- ``saved_model/``: a SavedModel with signatures ``caption`` (images in:
  beam search inside; out ``caption`` strings, ``tokens``, ``attention``
  ``(N, T, h, w)``, ``length``, ``score``; also ``serving_default``),
  ``encoder`` and ``decoder_step``. Loadable with ``tf.saved_model.load`` in a
  process that never imports keras_segattn.
- ``encoder.tflite``/``decoder_step.tflite`` (builtin ops only) and
  ``encoder.onnx``/``decoder_step.onnx``, each written by
  :func:`keras_segattn.export.export` behind the float parity gate. The
  decoder step takes its state explicitly: ``token``, ``state`` (``[h; c]``),
  ``annotations``, ``keys``, ``source_mask`` -> ``logits``, ``next_state``,
  ``alignment``.
- ``manifest.json``: decoding configuration, token ids, the vocabulary, the
  annotation grid and the parity of every piece, including the decode-loop
  parity: :func:`~keras_segattn.export.seq2seq.reference_decode` (NumPy,
  independent of the library's TensorFlow beam search) drives each exported
  encoder/decoder-step pair on held-out images and must reproduce the
  library's captions word for word, attention within the tolerance.

Example:
    >>> import tempfile, keras_segattn as ksa
    >>> from keras_segattn.models.show_attend_tell import Captioner
    >>> from keras_segattn.export.captioning import export_captioner
    >>> captioner = Captioner(ksa.build_model("show_attend_tell_tiny"))
    >>> manifest = export_captioner(captioner, tempfile.mkdtemp() + "/cap", formats=("savedmodel",))  # doctest: +SKIP
    >>> manifest["parity"]["savedmodel"]["passed"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.export import publish
from keras_segattn.export.formats import BACKENDS
from keras_segattn.export.parity import FLOAT_TOLERANCE
from keras_segattn.export.seq2seq import (
    bundle_owner,
    compare_decodes,
    export_pieces,
    publish_bundle,
    reference_decode,
    savedmodel_runners,
)

__all__ = ["export_captioner", "default_parity_images"]

FORMATS = tuple(BACKENDS)


def default_parity_images(captioner, count=16, seed=0):
    """Held-out embedded test boards at the captioner's image size, plus a blank and a noise image."""
    from keras_segattn.tasks import get_task

    images = get_task("captioning").arrays(captioner.model, "test", count, seed)["images"].astype(np.float32)
    noise = np.random.default_rng(seed).uniform(0, 255, (1, *captioner.image_shape)).astype(np.float32)
    return np.concatenate([images, np.zeros((1, *captioner.image_shape), np.float32), noise])


def _caption_function(captioner, beam_width, length_penalty):
    from keras_segattn.models.bahdanau_nmt.beam_search import END_ID, beam_search

    words = tf.constant(captioner.tokens)
    grid = captioner.grid

    def caption(images):
        decoded = beam_search(
            captioner.encoder, captioner.decoder_step, images, beam_width=beam_width,
            length_penalty=length_penalty, max_steps=captioner.max_length,
        )
        steps = tf.shape(decoded["tokens"])[1]
        emitted = tf.sequence_mask(decoded["length"], steps)
        tokens = tf.where(emitted, tf.gather(words, decoded["tokens"]), "")
        text = tf.strings.reduce_join(
            tf.where(emitted & (decoded["tokens"] != END_ID), tokens, ""), axis=1, separator=" "
        )
        return {
            "caption": tf.strings.strip(tf.strings.regex_replace(text, " +", " ")),
            "tokens": tokens,
            "attention": tf.reshape(decoded["alignment"], [-1, captioner.max_length, grid[0], grid[1]]),
            "length": decoded["length"],
            "score": decoded["score"],
        }

    return caption


def _write_savedmodel(captioner, path, beam_width, length_penalty):
    from keras_segattn.export import signature

    archive = keras.export.ExportArchive()
    archive.track(captioner.encoder)
    archive.track(captioner.decoder_step)
    image_spec = [tf.TensorSpec([None, *captioner.image_shape], tf.float32, name="images")]
    caption = _caption_function(captioner, beam_width, length_penalty)
    archive.add_endpoint("caption", caption, input_signature=image_spec)
    archive.add_endpoint("serving_default", caption, input_signature=image_spec)
    for name, model in (("encoder", captioner.encoder), ("decoder_step", captioner.decoder_step)):
        specs = signature.input_specs(model)
        archive.add_endpoint(name, signature.serving_function(model, specs), input_signature=specs)
    archive.write_out(path, verbose=False)


def _check_savedmodel(captioner, path, images, beam_width, length_penalty, tolerance):
    loaded = tf.saved_model.load(path)
    out = {k: v.numpy() for k, v in loaded.signatures["caption"](images=tf.constant(images)).items()}
    expected = captioner.caption(images, beam_width=beam_width, length_penalty=length_penalty)
    same, errors = [], []
    for i, e in enumerate(expected):
        n = len(e.tokens)
        same.append(
            out["caption"][i].decode("utf-8") == e.text
            and [t.decode("utf-8") for t in out["tokens"][i][:n]] == e.tokens
        )
        errors.append(float(np.abs(out["attention"][i][:n] - e.attention).max()) if n else 0.0)
    report = {
        "kind": "caption",
        "images": len(images),
        "identical_captions": int(sum(same)),
        "attention_max_abs_error": max(errors) if errors else 0.0,
        "tolerance": tolerance,
    }
    report["passed"] = bool(all(same) and report["attention_max_abs_error"] <= tolerance)
    return report


def export_captioner(
    captioner,
    directory,
    *,
    beam_width=3,
    length_penalty=0.0,
    formats=FORMATS,
    parity_images=None,
    tolerance=FLOAT_TOLERANCE,
    overwrite=False,
    verbose=False,
):
    """Export ``captioner`` (a :class:`~keras_segattn.models.show_attend_tell.Captioner`) to ``directory``.

    Args:
        captioner: the trained captioner.
        directory: output directory (written on success, untouched on failure).
            An existing one is replaced only if this library wrote it and
            ``overwrite=True``; anything else is refused.
        beam_width, length_penalty: the ``caption`` signature's decoding.
        formats: any of ``"savedmodel"``, ``"tflite"``, ``"onnx"``.
        parity_images: images for the checks (default: 16 held-out embedded
            boards, a blank image and a noise image).
        tolerance: float tolerance of the attention comparisons (and of the
            pieces' parity gates).
        overwrite: replace a captioner export this library wrote.

    Returns:
        The manifest (also written to ``directory/manifest.json``).

    Raises:
        ParityError: a piece or the decode loop does not reproduce the
            library; nothing is written.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"export_captioner: formats must be a non-empty subset of {FORMATS}, received {formats!r}.")
    directory = publish.normalize(directory)
    os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
    publish.recover(directory, None)
    publish.check_target(directory, manifest_path=None, directory=True, overwrite=overwrite, owned=_is_captioner_export)
    images = captioner.check_images(default_parity_images(captioner) if parity_images is None else parity_images)
    decode = {"max_steps": captioner.max_length, "source_name": "image"}
    expected = captioner.decode(images, beam_width=beam_width, length_penalty=length_penalty)
    greedy = captioner.decode(images, beam_width=1)
    manifest = {
        "model": captioner.model.name,
        "parameters": int(captioner.model.count_params()),
        "image_shape": list(captioner.image_shape),
        "attention_grid": list(captioner.grid),
        "decoding": {"beam_width": beam_width, "length_penalty": length_penalty, "max_steps": captioner.max_length},
        "token_ids": {"pad": 0, "unk": 1, "start": 2, "end": 3},
        "vocabulary": captioner.vocabulary,
        "files": {},
        "parity": {},
    }
    with publish.Staging(directory, None) as staging:
        tmp = staging.artifact
        os.makedirs(tmp)
        if "savedmodel" in formats:
            path = os.path.join(tmp, "saved_model")
            _write_savedmodel(captioner, path, beam_width, length_penalty)
            report = _check_savedmodel(captioner, path, images, beam_width, length_penalty, tolerance)
            loop = compare_decodes(
                expected,
                reference_decode(*savedmodel_runners(path), images, beam_width=beam_width,
                                 length_penalty=length_penalty, **decode),
                tolerance,
            )
            manifest["parity"]["savedmodel"] = {**report, "decode_loop": loop, "passed": report["passed"] and loop["passed"]}
            manifest["files"]["savedmodel"] = "saved_model"
        export_pieces(
            captioner, tmp, formats, manifest, images, greedy, expected,
            beam_width=beam_width, length_penalty=length_penalty, tolerance=tolerance, verbose=verbose, **decode,
        )
        publish_bundle(staging, manifest, directory, "export_captioner", "captions")
    return manifest


_is_captioner_export = bundle_owner("attention_grid")
