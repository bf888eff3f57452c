"""Sampling from a trained DRAW model and tracing how it draws."""

from __future__ import annotations

import numpy as np

__all__ = ["generate", "draw_trace", "draw_network", "draw_step_model", "reference_generate"]


def draw_network(model):
    """The :class:`~keras_segattn.models.draw.DRAWNetwork` layer of a ``draw`` model (clear error otherwise)."""
    from keras_segattn.models.draw.draw_network import DRAWNetwork

    layers = [layer for layer in getattr(model, "layers", []) if isinstance(layer, DRAWNetwork)]
    if len(layers) != 1:
        raise ValueError(
            f"model must be a DRAW model (build_model('draw_tiny') or a reload of one) with one DRAWNetwork "
            f"layer, received {getattr(model, 'name', type(model).__name__)!r} with {len(layers)}."
        )
    return layers[0]


def generate(model, count=16, *, seed=0, noise=None) -> dict:
    """``count`` images drawn from DRAW's prior (``z_t ~ N(0, I)``, decoder only).

    Returns a dict of NumPy arrays: ``images (count, H, W, C)`` (Bernoulli
    means in ``[0, 1]``), ``canvases (count, T, H, W, C)`` after every step
    and, with attention, ``write_boxes (count, T, 3)`` (centre x, y and side
    in pixels). ``noise (count, T, latent_size)`` replaces the seeded draw.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.models.draw import generate
        >>> generate(ksa.build_model("draw_tiny"), 2)["images"].shape
        (2, 28, 28, 1)
    """
    from keras_segattn.validation import check_positive_int

    network = draw_network(model)
    if noise is None:
        count = check_positive_int("generate", "count", count)
        noise = np.random.default_rng(seed).standard_normal((count, network.steps, network.latent_size))
    out = {k: np.asarray(v) for k, v in network.generate(np.asarray(noise, np.float32)).items()}
    out["images"] = out["canvases"][:, -1]
    return out


def draw_trace(model, images, *, training=False) -> dict:
    """How DRAW reconstructs ``images``: the canvases after every step and its read / write boxes.

    Returns NumPy ``canvases (B, T, H, W, C)``, ``read_boxes`` / ``write_boxes
    (B, T, 3)`` (with attention) and ``kl (B,)``; ``training=True`` samples
    the posterior instead of taking its mean.
    """
    network = draw_network(model)
    return {k: np.asarray(v) for k, v in network.trace(np.asarray(images, np.float32), training=training).items()}


def draw_step_model(model):
    """One step of DRAW's generator (shared weights), for devices and for the step export.

    ``[z (B, latent_size), h (B, units), c (B, units), canvas (B, H, W, C)]``
    -> ``[next_h, next_c, next_canvas]`` (canvas logits: apply a sigmoid for
    the image). From zero states and canvas, ``T`` steps fed with the noise
    of :func:`generate` give its images (tested).
    """
    import keras

    network = draw_network(model)
    height, width = network.image_size
    units, channels = network.decoder_units, network.channels
    z = keras.Input((network.latent_size,), name="z")
    h = keras.Input((units,), name="h")
    c = keras.Input((units,), name="c")
    canvas = keras.Input((height, width, channels), name="canvas")
    next_h, (_, next_c) = network.decoder(z, [h, c])
    side = network.write_size
    patch = keras.layers.Reshape((side or height, side or width, channels), name="patch")(network.write_patch(next_h))
    written = network.writer([patch, *network.write_filters(network.write_params(next_h))]) if side else patch
    outputs = [
        keras.layers.Identity(name="next_h", dtype="float32")(next_h),
        keras.layers.Identity(name="next_c", dtype="float32")(next_c),
        keras.layers.Add(name="next_canvas", dtype="float32")([canvas, written]),
    ]
    return keras.Model([z, h, c, canvas], outputs, name=f"{model.name}_step")


def reference_generate(run_step, noise, image_shape, units) -> np.ndarray:
    """DRAW's sampling loop in NumPy around any implementation of one step (Keras, TFLite, ONNX).

    ``run_step(feed)`` takes ``{"z", "h", "c", "canvas"}`` arrays and returns
    ``{"next_h", "next_c", "next_canvas"}``; returns the images
    ``sigmoid(canvas_T)`` ``(B, H, W, C)``.
    """
    noise = np.asarray(noise, np.float32)
    batch = len(noise)
    h = np.zeros((batch, units), np.float32)
    c = np.zeros((batch, units), np.float32)
    canvas = np.zeros((batch, *image_shape), np.float32)
    for t in range(noise.shape[1]):
        out = run_step({"z": noise[:, t], "h": h, "c": c, "canvas": canvas})
        h, c, canvas = (np.asarray(out[k], np.float32) for k in ("next_h", "next_c", "next_canvas"))
    return 1.0 / (1.0 + np.exp(-canvas))
