"""Mixed precision: float32 by default, ``mixed_float16`` (GPUs) or ``mixed_bfloat16`` (TPUs, recent CPUs/GPUs)."""

from __future__ import annotations

import contextlib

import keras

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@contextlib.contextmanager
def precision_policy(precision: str | None):
    """Build models under a Keras dtype policy, restoring the previous one after.

    Our models keep their logits in float32 under every policy; Keras wraps the
    optimizer in a ``LossScaleOptimizer`` at ``compile`` for ``mixed_float16``.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.training import precision_policy
        >>> with precision_policy("mixed_bfloat16"):
        ...     model = ksa.build_model("fcn8s_tiny")
        >>> model.output.dtype, model.get_layer("fc6").compute_dtype
        ('float32', 'bfloat16')
    """
    precision = precision or "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; received {precision!r}.")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
