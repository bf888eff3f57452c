"""Image-classification recipe (the ST-CNN / CNN digit experiments)."""

from __future__ import annotations

import keras
import numpy as np

from keras_segattn.training.recipes import warmup_cosine

__all__ = ["compile_classification", "classification_error", "train_on_distorted_digits"]


def compile_classification(
    model,
    *,
    learning_rate: float = 1e-3,
    total_steps: int | None = None,
    jit_compile="auto",
):
    """Compile ``model`` (logits output) with Adam, sparse cross-entropy and accuracy.

    With ``total_steps`` the learning rate warms up and decays to 0 (cosine);
    otherwise it is constant.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.training.classification import compile_classification
        >>> model = compile_classification(ksa.build_model("digits_cnn_tiny"))
        >>> model.loss.name
        'sparse_categorical_crossentropy'
    """
    from keras_segattn.training.schedules import check_learning_rate

    learning_rate = check_learning_rate("compile", learning_rate)
    schedule = warmup_cosine(learning_rate, total_steps) if total_steps else learning_rate
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    return model


def classification_error(model, images, labels, batch_size: int = 500) -> float:
    """Test error in percent (0-100) of ``model``'s argmax on ``images``."""
    logits = model.predict(images, batch_size=batch_size, verbose=0)
    return float(100.0 * np.mean(np.argmax(logits, axis=-1) != np.asarray(labels)))


def train_on_distorted_digits(
    name: str,
    *,
    family: str = "RTS",
    seed: int = 0,
    train_examples: int = 50000,
    epochs: int = 5,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    test_examples: int = 2000,
    test_seed: int = 0,
    time_limit: float | None = None,
    jit_compile=False,
    data=None,
    **overrides,
) -> dict:
    """Train the registered classifier ``name`` on embedded distorted digits and test it.

    The training set is ``train_examples`` distortions (stream ``seed``) of the
    training digits, seen ``epochs`` times in shuffled batches, with a cosine
    learning-rate schedule over all steps; ``keras.utils.set_random_seed(seed)``
    fixes the initialisation. The test set (``test_examples`` distortions of
    the held-out digits, stream ``test_seed``) is the same for every model
    and seed. ``time_limit`` (seconds) stops training early if reached; a
    non-finite loss raises :class:`~keras_segattn.training.NonFiniteLossError`.
    ``data``: optional precomputed ``((x_train, y_train), (x_test, y_test))``.

    Returns a dict: ``model``, ``test_error`` (percent), ``train_seconds``
    (wall time of ``fit``), ``steps``, ``stopped_early``, ``parameters``.
    """
    import time

    from keras_segattn.data.distorted_digits import CANVAS_SIZES, distorted_digits_arrays
    from keras_segattn.registry import build_model
    from keras_segattn.training.callbacks import StopOnNonFinite, TimeLimit

    if data is None:
        size = CANVAS_SIZES[family]
        x_train, y_train = distorted_digits_arrays("train", train_examples, family=family, seed=seed)
        x_test, y_test = distorted_digits_arrays("test", test_examples, family=family, seed=test_seed)
        data = ((x_train, y_train), (x_test, y_test))
        overrides.setdefault("input_shape", (size, size, 1))
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = build_model(name, **overrides)
    steps_per_epoch = -(-len(x_train) // batch_size)
    total = steps_per_epoch * epochs
    compile_classification(model, learning_rate=learning_rate, total_steps=total, jit_compile=jit_compile)
    limit = TimeLimit(time_limit) if time_limit else None
    # StopOnNonFinite first: a NaN loss raises NonFiniteLossError naming the step.
    callbacks = [StopOnNonFinite()] + ([limit] if limit else [])
    start = time.perf_counter()
    history = model.fit(
        x_train.astype("float32"),
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    return {
        "model": model,
        "test_error": classification_error(model, x_test.astype("float32"), y_test),
        "train_seconds": seconds,
        "steps": int(model.optimizer.iterations.numpy()),
        "planned_steps": total,
        "stopped_early": bool(limit and limit.stopped_early),
        "parameters": int(model.count_params()),
        "final_train_accuracy": float(history.history["accuracy"][-1]),
    }
