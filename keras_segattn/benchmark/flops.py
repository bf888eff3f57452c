"""Analytic FLOP count of a Keras model's forward pass (multiply-adds x 2).

Counts the layers that do the arithmetic of these models: convolutions,
transposed convolutions (any layer whose kernel is a 4-D ``(kh, kw, out, in)``
transposed kernel, e.g. ``BilinearUpsampling2DTranspose``) and dense layers.
Element-wise work (bias, BatchNorm, ReLU, pooling) is left out, as in the
papers' and torchvision's counts. ``tests/test_benchmark.py`` checks the
count against TensorFlow's profiler on the traced graph.
"""

from __future__ import annotations

import math

import keras

from keras_segattn.layers import BilinearUpsampling2DTranspose


def _hw(shape):
    return math.prod(int(d) for d in shape[1:-1])


def layer_flops(layer) -> int:
    """Forward FLOPs of one layer of a built functional model, batch 1 (0 if it does none)."""
    if isinstance(layer, keras.Model):
        return model_flops(layer)
    kernel = getattr(layer, "kernel", None)
    if kernel is None or not hasattr(layer, "input"):
        return 0
    shape = tuple(int(d) for d in kernel.shape)
    if isinstance(layer, (keras.layers.Conv2DTranspose, BilinearUpsampling2DTranspose)):
        # (kh, kw, out, in): every input pixel meets the whole kernel.
        return 2 * _hw(layer.input.shape) * math.prod(shape)
    if isinstance(layer, keras.layers.Conv2D):
        # (kh, kw, in, out): every output pixel meets the whole kernel.
        return 2 * _hw(layer.output.shape) * math.prod(shape)
    if isinstance(layer, keras.layers.Dense):
        rows = math.prod(int(d) for d in layer.input.shape[1:-1]) if len(layer.input.shape) > 2 else 1
        return 2 * rows * math.prod(shape)
    return 0


def model_flops(model) -> int:
    """Forward FLOPs of ``model`` for one example at its fixed input size.

    Raises:
        ValueError: the model's input size is not fixed (FLOPs depend on it).
    """
    for tensor in model.inputs:
        if any(d is None for d in tensor.shape[1:]):
            raise ValueError(
                f"model_flops: the model's input shape must be fixed, received {tuple(tensor.shape)}; "
                "build it with input_shape=(H, W, C)."
            )
    return sum(layer_flops(layer) for layer in model.layers)
