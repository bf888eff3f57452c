"""Export a DRAW sampler: a SavedModel that draws ``count`` images, and one generator step for devices.

Sampling from DRAW is ``T`` decoder steps from noise; :func:`export_draw_sampler`
writes, into one directory (only if every check passes; nothing is left
behind otherwise):

- ``saved_model/``: signatures ``generate`` (``count`` and ``seed`` in; the
  noise, the ``T`` steps and the sigmoid inside; also ``serving_default``)
  and ``generate_noise`` (explicit noise ``(B, T, latent_size)``:
  reproducible anywhere); outputs ``images (B, H, W, C)`` in ``[0, 1]`` and
  ``canvases (B, T, H, W, C)``. Loadable with ``tf.saved_model.load`` in a
  process that never imports keras_segattn.
- ``step.tflite`` (builtin ops) and ``step.onnx``: one generator step,
  ``[z, h, c, canvas]`` -> ``[next_h, next_c, next_canvas]``
  (:func:`~keras_segattn.models.draw.sampling.draw_step_model`), each behind
  the float parity gate of :func:`keras_segattn.export.export` on the
  inputs met while sampling, with its own JSON manifest.
- ``manifest.json``: sizes, files, and the parity of every piece, including
  the **sampling-loop parity**: :func:`~keras_segattn.models.draw.sampling.reference_generate`
  drives each exported step with the noise of the parity draws and must
  reproduce the library's :func:`~keras_segattn.models.draw.generate`.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from keras_segattn.export import publish
from keras_segattn.export.handwriting import export_step_files
from keras_segattn.export.parity import FLOAT_TOLERANCE
from keras_segattn.export.seq2seq import bundle_owner, publish_bundle

__all__ = ["export_draw_sampler", "FORMATS"]

FORMATS = ("savedmodel", "tflite", "onnx")


class _SamplerModule(tf.Module):
    def __init__(self, network):
        super().__init__()
        self.network = network
        steps, latent = network.steps, network.latent_size

        @tf.function(input_signature=[tf.TensorSpec([None, steps, latent], tf.float32, name="noise")])
        def generate_noise(noise):
            out = network.generate(noise)
            return {"images": out["canvases"][:, -1], "canvases": out["canvases"]}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="count"),
                                      tf.TensorSpec([], tf.int32, name="seed")])
        def generate(count, seed):
            noise = tf.random.stateless_normal([count, steps, latent], tf.stack([seed, 0]))
            return generate_noise(noise)

        self.generate, self.generate_noise = generate, generate_noise


def _images_report(expected, actual, tolerance):
    error = float(np.abs(np.asarray(expected, np.float64) - np.asarray(actual, np.float64)).max())
    return {"images_max_abs_error": error, "tolerance": tolerance, "passed": bool(error <= tolerance)}


def export_draw_sampler(model, directory, *, formats=FORMATS, parity_samples=16, seed=0, tolerance=FLOAT_TOLERANCE,
                        image_tolerance=1e-4, overwrite=False, verbose=False):
    """Export the sampler of a trained ``draw`` model to ``directory``.

    Args:
        model: a DRAW model (``build_model("draw_tiny")``, trained).
        directory: output directory (written on success, untouched on failure).
            An existing one is replaced only if this library wrote it and
            ``overwrite=True``; anything else is refused.
        formats: any of ``"savedmodel"``, ``"tflite"``, ``"onnx"``.
        parity_samples: images drawn for the checks (noise from ``seed``).
        tolerance: the float parity gate of the step files.
        image_tolerance: the largest pixel difference of the sampling loops.
        overwrite: replace a sampler export this library wrote.

    Returns:
        The manifest (also written to ``directory/manifest.json``).

    Raises:
        ParityError: a piece or a sampling loop does not reproduce the
            library; nothing is written.

    Example:
        >>> import tempfile, keras_segattn as ksa
        >>> from keras_segattn.export.draw import export_draw_sampler
        >>> manifest = export_draw_sampler(ksa.build_model("draw_tiny"), tempfile.mkdtemp() + "/draw",
        ...                                formats=("savedmodel",))
        >>> manifest["parity"]["savedmodel"]["passed"]
        True
    """
    from keras_segattn.models.draw.sampling import (
        draw_network,
        draw_step_model,
        generate,
        reference_generate,
    )
    from keras_segattn.validation import check_positive_int

    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"export_draw_sampler: formats must be a non-empty subset of {FORMATS}, received {formats!r}.")
    parity_samples = check_positive_int("export_draw_sampler", "parity_samples", parity_samples)
    network = draw_network(model)
    directory = publish.normalize(directory)
    os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
    publish.recover(directory, None)
    publish.check_target(directory, manifest_path=None, directory=True, overwrite=overwrite, owned=_is_draw_export)
    noise = np.random.default_rng(seed).standard_normal((parity_samples, network.steps, network.latent_size))
    noise = noise.astype(np.float32)
    expected = generate(model, noise=noise)["images"]
    image_shape = (*network.image_size, network.channels)
    manifest = {
        "model": model.name,
        "parameters": int(model.count_params()),
        "image_shape": list(image_shape),
        "steps": network.steps,
        "latent_size": network.latent_size,
        "state_units": network.decoder_units,
        "attention": bool(network.write_size),
        "files": {},
        "parity": {},
    }
    with publish.Staging(directory, None) as staging:
        tmp = staging.artifact
        os.makedirs(tmp)
        if "savedmodel" in formats:
            path = os.path.join(tmp, "saved_model")
            module = _SamplerModule(network)
            tf.saved_model.save(module, path, signatures={"serving_default": module.generate,
                                                          "generate": module.generate,
                                                          "generate_noise": module.generate_noise})
            loaded = tf.saved_model.load(path)
            got = loaded.signatures["generate_noise"](noise=tf.constant(noise))["images"].numpy()
            report = _images_report(expected, got, image_tolerance)
            drawn = loaded.signatures["generate"](count=tf.constant(2), seed=tf.constant(0))["images"].numpy()
            report["generate_signature_runs"] = bool(drawn.shape == (2, *image_shape) and np.isfinite(drawn).all())
            report["passed"] = bool(report["passed"] and report["generate_signature_runs"])
            manifest["parity"]["savedmodel"] = report
            manifest["files"]["savedmodel"] = "saved_model"
        step_model = draw_step_model(model)
        step_inputs = _recorded_step_inputs(step_model, noise, image_shape, network.decoder_units)
        export_step_files(
            step_model, tmp, formats, step_inputs, manifest, "sampling_loop",
            lambda run: _images_report(expected, reference_generate(run, noise, image_shape, network.decoder_units),
                                       image_tolerance),
            tolerance=tolerance, verbose=verbose,
        )
        publish_bundle(staging, manifest, directory, "export_draw_sampler", "samples")
    return manifest


def _recorded_step_inputs(step_model, noise, image_shape, units, limit=256):
    """Real step inputs: those met while sampling ``noise`` with the Keras step."""
    from keras_segattn.models.draw.sampling import reference_generate

    rows = {"z": [], "h": [], "c": [], "canvas": []}

    def run(feed):
        for name in rows:
            rows[name].append(np.asarray(feed[name]))
        out = step_model([feed[n] for n in ("z", "h", "c", "canvas")], training=False)
        return dict(zip(("next_h", "next_c", "next_canvas"), (np.asarray(t) for t in out)))

    reference_generate(run, noise, image_shape, units)
    return [np.concatenate(rows[name])[:limit] for name in ("z", "h", "c", "canvas")]


_is_draw_export = bundle_owner("latent_size", "state_units")
