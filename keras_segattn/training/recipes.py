"""Training recipes: optimiser, schedule, loss and metrics chosen for each task."""

from __future__ import annotations

import keras

from keras_segattn.training.losses import segmentation_loss
from keras_segattn.training.metrics import VOID_LABEL, MeanIoU, PixelAccuracy


def warmup_cosine(learning_rate: float, total_steps: int, warmup_steps: int | None = None):
    """Linear warm-up then cosine decay to 0 over ``total_steps`` (Keras' own schedule)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, received {total_steps!r}.")
    warmup = min(total_steps // 2, max(1, total_steps // 20)) if warmup_steps is None else warmup_steps
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )


def compile_segmentation(
    model,
    num_classes: int,
    *,
    learning_rate: float = 2e-3,
    total_steps: int | None = None,
    weight_decay: float = 1e-4,
    void_label: int | None = VOID_LABEL,
    jit_compile="auto",
):
    """Compile ``model`` for semantic segmentation: AdamW, void-aware cross-entropy,
    mean IoU and pixel accuracy. With ``total_steps`` the learning rate warms up
    and decays (cosine); otherwise it is constant.

    Example:
        >>> import keras_segattn as ksa
        >>> from keras_segattn.training import compile_segmentation
        >>> model = compile_segmentation(ksa.build_model("fcn8s_tiny"), num_classes=4)
        >>> [m.name for m in model.metrics]
        ['loss', 'compile_metrics']
    """
    schedule = warmup_cosine(learning_rate, total_steps) if total_steps else learning_rate
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
        loss=segmentation_loss(void_label),
        metrics=[MeanIoU(num_classes, void_label), PixelAccuracy(void_label)],
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
    """
    from keras_segattn.data import oxford_iiit_pet, synthetic_shapes

    if data == "synthetic":
        return synthetic_shapes(split, num_examples, image_size=image_size, num_classes=num_classes, seed=seed)
    if data == "oxford_iiit_pet":
        tfds_split = {"train": "train", "validation": "test[:50%]", "test": "test[50%:]"}[split]
        return oxford_iiit_pet(tfds_split, image_size=(image_size, image_size), data_dir=data_dir).take(num_examples)
    raise ValueError(f"data must be 'synthetic' or 'oxford_iiit_pet', received {data!r}.")


def train_segmentation(
    model,
    *,
    num_classes: int,
    data: str = "synthetic",
    train_examples: int = 8000,
    val_examples: int = 500,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    image_size: int | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    jit_compile="auto",
    callbacks=(),
    data_dir: str | None = None,
    verbose: int = 2,
):
    """Train ``model`` on a segmentation dataset with the library's recipe.

    AdamW with linear warm-up and cosine decay, void-aware cross-entropy,
    flips and 90-degree turns. Returns the Keras ``History``; ``history.time_limit``
    is the :class:`TimeLimit` callback (``stopped_early`` tells whether it hit).
    """
    from keras_segattn.data import segmentation_pipeline
    from keras_segattn.training.callbacks import TimeLimit

    size = image_size or model.inputs[0].shape[1] or 64
    common = dict(image_size=size, num_classes=num_classes, seed=seed, data_dir=data_dir)
    train = segmentation_pipeline(
        segmentation_data(data, split="train", num_examples=train_examples, **common),
        batch_size,
        training=True,
        num_classes=num_classes,
        seed=seed,
    )
    val = segmentation_pipeline(
        segmentation_data(data, split="validation", num_examples=val_examples, **common),
        batch_size,
        num_classes=num_classes,
    )
    steps = max(1, train_examples // batch_size) * epochs
    compile_segmentation(
        model, num_classes, learning_rate=learning_rate, total_steps=steps, jit_compile=jit_compile
    )
    limit = TimeLimit(time_limit) if time_limit else None
    history = model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        callbacks=list(callbacks) + ([limit] if limit else []),
        shuffle=False,  # the pipeline shuffles (seeded)
        verbose=verbose,
    )
    history.time_limit = limit
    return history


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
