"""Training recipes: optimiser, schedule, loss and metrics chosen for each task."""

from __future__ import annotations

import keras

from keras_segattn.training.losses import segmentation_loss
from keras_segattn.training.metrics import VOID_LABEL, MeanIoU, PixelAccuracy
from keras_segattn.training.schedules import learning_rate_schedule


def warmup_cosine(learning_rate: float, total_steps: int, warmup_steps: int | None = None):
    """Linear warm-up then cosine decay to 0 over ``total_steps`` (Keras' own schedule)."""
    return learning_rate_schedule("cosine", learning_rate, total_steps, warmup_steps)


def compile_segmentation(
    model,
    num_classes: int,
    *,
    learning_rate: float = 2e-3,
    total_steps: int | None = None,
    lr_schedule: str = "cosine",
    weight_decay: float = 1e-4,
    void_label: int | None = VOID_LABEL,
    jit_compile="auto",
):
    """Compile ``model`` for semantic segmentation: AdamW, void-aware cross-entropy,
    mean IoU and pixel accuracy. With ``total_steps`` the learning rate follows
    ``lr_schedule`` (see :func:`learning_rate_schedule`); otherwise it is constant.
    Call it inside the model's ``strategy.scope()`` when distributing.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.training import compile_segmentation
        >>> model = compile_segmentation(ksa.build_model("fcn8s_tiny"), num_classes=4)
        >>> [m.name for m in model.metrics]
        ['loss', 'compile_metrics']
    """
    from keras_segattn.training.schedules import check_learning_rate
    from keras_segattn.validation import (
        check_number,
        check_optional_int,
        check_positive_int,
        message,
    )

    if not isinstance(model, keras.Model):
        raise ValueError(message("compile_segmentation", "model", "a keras.Model", model))
    num_classes = check_positive_int("compile_segmentation", "num_classes", num_classes)
    total_steps = check_optional_int("compile_segmentation", "total_steps", total_steps, minimum=1)
    check_number("compile_segmentation", "weight_decay", weight_decay, minimum=0)
    void_label = check_optional_int("compile_segmentation", "void_label", void_label)
    if not (jit_compile == "auto" and isinstance(jit_compile, str)) and not isinstance(jit_compile, bool):
        raise ValueError(message("compile_segmentation", "jit_compile", "'auto', True or False", jit_compile))
    learning_rate = check_learning_rate("compile", learning_rate)
    if total_steps:
        from keras_segattn.training.schedules import SCHEDULES
        from keras_segattn.validation import check_choice

        check_choice("compile_segmentation", "lr_schedule", lr_schedule, tuple(SCHEDULES))
    schedule = learning_rate_schedule(lr_schedule, learning_rate, total_steps) if total_steps else learning_rate
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
        loss=segmentation_loss(void_label),
        metrics=[MeanIoU(num_classes, void_label), PixelAccuracy(void_label, num_classes=num_classes)],
        jit_compile=jit_compile,
    )
    return model


def segmentation_data(
    data: str = "synthetic",
    *,
    split: str = "train",
    num_examples: int = 1000,
    image_size: int = 64,
    num_classes: int = 4,
    seed: int = 0,
    data_dir: str | None = None,
):
    """Unbatched ``(image, label)`` pairs of a segmentation dataset by name.

    ``"synthetic"``: the embedded shapes (no download). ``"oxford_iiit_pet"``:
    tensorflow_datasets (prepared in ``data_dir``; 2 classes + void).
    ``"scene_parse150"``: ADE20K's 150 classes (the ``num_classes`` most
    frequent kept, the rest void), prepared in ``data_dir``.
    """
    from keras_segattn.data import oxford_iiit_pet, scene_parse150, synthetic_shapes
    from keras_segattn.validation import check_choice

    if data in ("oxford_iiit_pet", "scene_parse150"):
        check_choice("segmentation_data", "split", split, ("train", "validation", "test"))
    if data == "synthetic":
        return synthetic_shapes(split, num_examples, image_size=image_size, num_classes=num_classes, seed=seed)
    if data == "oxford_iiit_pet":
        tfds_split = {"train": "train", "validation": "test[:50%]", "test": "test[50%:]"}[split]
        return oxford_iiit_pet(tfds_split, image_size=(image_size, image_size), data_dir=data_dir).take(num_examples)
    if data == "scene_parse150":
        # tfds' "test" split is the benchmark's 2,000 validation images: halves for validation and test.
        tfds_split = {"train": "train", "validation": "test[:50%]", "test": "test[50%:]"}[split]
        return scene_parse150(
            tfds_split, image_size=(image_size, image_size), num_classes=num_classes, data_dir=data_dir
        ).take(num_examples)
    raise ValueError(f"data must be 'synthetic', 'oxford_iiit_pet' or 'scene_parse150', received {data!r}.")


def fit_resumable(
    model,
    make_stream,
    *,
    steps_per_epoch: int,
    epochs: int,
    validation_data=None,
    callbacks=(),
    backup_dir: str | None = None,
    save_freq="epoch",
    verbose: int = 2,
):
    """``model.fit`` over a deterministic batch stream, resumable to the exact step.

    Args:
        model: a compiled model.
        make_stream: ``make_stream(start_step)`` returns the training batches
            from global step ``start_step`` on (see
            :func:`keras_segattn.data.segmentation_stream`).
        steps_per_epoch, epochs: the run's length.
        backup_dir: if given, a :class:`~keras_segattn.training.Backup` is
            taken every ``save_freq`` steps (and each epoch end); a restarted
            run restores it and continues at its global step, finishing a
            partial epoch first. The backup is removed when the run completes.

    Training stops at the first non-finite loss with
    :class:`~keras_segattn.training.NonFiniteLossError` naming the step: a
    :class:`~keras_segattn.training.StopOnNonFinite` runs before ``callbacks``
    and the backup, so no checkpoint or backup holds the non-finite weights
    (the backup of an earlier step is kept, to resume from once the cause is
    fixed).

    Returns:
        A ``keras.callbacks.History`` holding every epoch run by this call;
        ``history.resumed_from`` is the restored global step (0 if none).
    """
    from keras_segattn.training.backup import Backup, clear_backup, restore_backup
    from keras_segattn.training.callbacks import StopOnNonFinite
    from keras_segattn.validation import check_positive_int, is_int, message

    if save_freq != "epoch" and not (is_int(save_freq) and save_freq >= 1):
        raise ValueError(message("fit_resumable", "save_freq", "'epoch' or a positive int (steps)", save_freq))
    steps_per_epoch = check_positive_int("fit_resumable", "steps_per_epoch", steps_per_epoch)
    epochs = check_positive_int("fit_resumable", "epochs", epochs)
    if not callable(make_stream):
        raise ValueError(message("fit_resumable", "make_stream", "a function make_stream(start_step)", make_stream))
    start = 0
    if backup_dir:
        with model.distribute_strategy.scope():  # optimizer slots are created in scope
            start = restore_backup(model, backup_dir)
    # First, so that it raises before any later callback saves the step's weights.
    guard = StopOnNonFinite()
    callbacks = [guard] + list(callbacks) + ([Backup(backup_dir, save_freq)] if backup_dir else [])
    total = steps_per_epoch * epochs
    merged = keras.callbacks.History()
    merged.history = {}
    merged.resumed_from = start
    epoch, offset = divmod(start, steps_per_epoch)
    runs = []
    if start < total and offset:
        runs.append((start, epoch, epoch + 1, steps_per_epoch - offset))
        epoch += 1
    if start < total and epoch < epochs:
        runs.append((epoch * steps_per_epoch, epoch, epochs, steps_per_epoch))
    for first_step, initial_epoch, last_epoch, steps in runs:
        guard.batch_offset = first_step - initial_epoch * steps_per_epoch
        history = model.fit(
            make_stream(first_step),
            validation_data=validation_data,
            initial_epoch=initial_epoch,
            epochs=last_epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            shuffle=False,  # the stream is shuffled, deterministically
            verbose=verbose,
        )
        for key, values in history.history.items():
            merged.history.setdefault(key, []).extend(values)
        if model.stop_training:
            break
    else:
        if backup_dir:
            clear_backup(backup_dir)
    return merged


def _check_train_arguments(model, *, num_classes, data, train_examples, val_examples, epochs, batch_size,
                           learning_rate, lr_schedule, image_size, seed, time_limit, precision):
    """train_segmentation's arguments, checked before any data is made or model built."""
    from keras_segattn.training.precision import PRECISIONS
    from keras_segattn.training.schedules import SCHEDULES, check_learning_rate
    from keras_segattn.validation import (
        check_choice,
        check_int,
        check_number,
        check_optional_int,
        check_positive_int,
        message,
    )

    where = "train_segmentation"
    if not isinstance(model, (str, keras.Model)):
        raise ValueError(message(where, "model", "a registered model name or a keras.Model", model))
    if isinstance(model, str):
        from keras_segattn.registry import list_models

        if model not in list_models():
            raise ValueError(message(where, "model", "a registered model name (see keras_segattn.list_models())", model))
    check_optional_int(where, "num_classes", num_classes, minimum=1)
    check_choice(where, "data", data, ("synthetic", "oxford_iiit_pet", "scene_parse150"))
    for argument, value in (("train_examples", train_examples), ("val_examples", val_examples),
                            ("epochs", epochs), ("batch_size", batch_size)):
        check_positive_int(where, argument, value)
    check_learning_rate(where, learning_rate)
    check_choice(where, "lr_schedule", lr_schedule, tuple(SCHEDULES))
    check_optional_int(where, "image_size", image_size, minimum=1)
    check_int(where, "seed", seed, minimum=0)
    if time_limit is not None:
        check_number(where, "time_limit", time_limit, minimum=0, exclusive_minimum=True)
    if precision is not None:
        check_choice(where, "precision", precision, tuple(PRECISIONS))


def train_segmentation(
    model,
    *,
    num_classes: int | None = None,
    data: str = "synthetic",
    train_examples: int = 8000,
    val_examples: int = 500,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    lr_schedule: str = "cosine",
    image_size: int | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    jit_compile="auto",
    strategy=None,
    precision: str | None = None,
    backup_dir: str | None = None,
    save_freq="epoch",
    callbacks=(),
    data_dir: str | None = None,
    verbose: int = 2,
):
    """Train a segmentation model with the library's recipe.

    AdamW with the ``lr_schedule`` (default: warm-up + cosine), void-aware
    cross-entropy, flips and 90-degree turns, a deterministic batch stream
    (seeded by ``seed``), optional step-exact backups.

    Args:
        model: a registered name (built here, inside ``strategy.scope()`` and
            under ``precision``) or a ``keras.Model`` built by the caller in the
            right scope.
        num_classes: defaults to the model's output channels.
        batch_size: the **global** batch size (split across replicas).
        strategy: a ``tf.distribute.Strategy`` or a name for
            :func:`~keras_segattn.training.get_strategy`; ``None``: the default.
        precision: ``None``/``"float32"``, ``"mixed_float16"`` (loss scaling is
            automatic) or ``"mixed_bfloat16"``; applies when ``model`` is a name.
        backup_dir, save_freq: fault tolerance, see :func:`fit_resumable`.
        time_limit: stop after this many seconds (:class:`TimeLimit`).

    Returns:
        ``(model, history)``; ``history.time_limit`` is the TimeLimit callback.
    """
    import tensorflow as tf

    from keras_segattn.data import segmentation_pipeline, segmentation_stream
    from keras_segattn.training.callbacks import TimeLimit
    from keras_segattn.training.distribute import get_strategy, shard_for_strategy
    from keras_segattn.training.precision import precision_policy

    _check_train_arguments(
        model, num_classes=num_classes, data=data, train_examples=train_examples, val_examples=val_examples,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, lr_schedule=lr_schedule,
        image_size=image_size, seed=seed, time_limit=time_limit, precision=precision,
    )
    if isinstance(strategy, str):
        strategy = get_strategy(strategy)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        if isinstance(model, str):
            from keras_segattn.registry import build_model

            with precision_policy(precision):
                model = build_model(model, **({"num_classes": num_classes} if num_classes else {}))
        num_classes = num_classes or int(model.outputs[0].shape[-1])
        size = image_size or model.inputs[0].shape[1] or 64
        common = dict(image_size=size, num_classes=num_classes, seed=seed, data_dir=data_dir)
        train = segmentation_data(data, split="train", num_examples=train_examples, **common)
        val = segmentation_pipeline(
            segmentation_data(data, split="validation", num_examples=val_examples, **common),
            batch_size,
            num_classes=num_classes,
        )
        steps_per_epoch = max(1, train_examples // batch_size)
        compile_segmentation(
            model,
            num_classes,
            learning_rate=learning_rate,
            total_steps=steps_per_epoch * epochs,
            lr_schedule=lr_schedule,
            jit_compile=jit_compile,
        )

    def make_stream(start_step):
        stream = segmentation_stream(
            train, batch_size, epochs=epochs, num_classes=num_classes, seed=seed, start_step=start_step
        )
        return shard_for_strategy(stream, strategy)

    limit = TimeLimit(time_limit) if time_limit else None
    history = fit_resumable(
        model,
        make_stream,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        validation_data=shard_for_strategy(val, strategy),
        callbacks=list(callbacks) + ([limit] if limit else []),
        backup_dir=backup_dir,
        save_freq=save_freq,
        verbose=verbose,
    )
    history.time_limit = limit
    return model, history


def evaluate_segmentation(model, data="synthetic", examples=1000, seed=0, batch_size=50, data_dir=None):
    """Held-out mean IoU and pixel accuracy (NumPy confusion matrix, void ignored).

    Returns ``(metrics dict, (images, labels, predictions))``.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.training import evaluate_segmentation
        >>> metrics, _ = evaluate_segmentation(ksa.build_model("fcn8s_tiny"), examples=4)
        >>> sorted(metrics)
        ['examples', 'mean_iou', 'pixel_accuracy']
    """
    import numpy as np

    from keras_segattn.data import segmentation_pipeline
    from keras_segattn.export.parity import mean_iou
    from keras_segattn.validation import check_positive_int, message

    if not isinstance(model, keras.Model):
        raise ValueError(message("evaluate_segmentation", "model", "a keras.Model", model))
    check_positive_int("evaluate_segmentation", "examples", examples)
    check_positive_int("evaluate_segmentation", "batch_size", batch_size)
    num_classes = int(model.outputs[0].shape[-1])
    size = model.inputs[0].shape[1] or 64
    ds = segmentation_data(
        data, split="test", num_examples=examples, image_size=size, num_classes=num_classes, seed=seed, data_dir=data_dir
    )
    labels, preds, images = [], [], []
    for x, y in segmentation_pipeline(ds, batch_size, num_classes=num_classes):
        preds.append(np.asarray(model(x, training=False)).argmax(-1))
        labels.append(y.numpy())
        images.append(x.numpy())
    labels, preds = np.concatenate(labels), np.concatenate(preds)
    keep = labels != 255
    return {
        "mean_iou": mean_iou(labels, preds, num_classes),
        "pixel_accuracy": float((labels[keep] == preds[keep]).mean()),
        "examples": int(len(labels)),
    }, (np.concatenate(images), labels, preds)
