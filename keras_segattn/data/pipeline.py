"""tf.data pipelines for segmentation: label checks, augmentation, batching."""

from __future__ import annotations

import tensorflow as tf

from keras_segattn.validation import (
    check_bool,
    check_int,
    check_optional_int,
    check_positive_int,
    message,
)

VOID_LABEL = 255


def _check_stream_arguments(where, dataset, *, num_classes, void_label, shuffle_buffer, seed):
    """The arguments segmentation_pipeline and segmentation_stream share, checked before any work."""
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(message(where, "dataset", "a tf.data.Dataset of (image, label) pairs", dataset))
    check_optional_int(where, "num_classes", num_classes, minimum=1)
    check_optional_int(where, "void_label", void_label)
    check_positive_int(where, "shuffle_buffer", shuffle_buffer)
    check_int(where, "seed", seed, minimum=0)


def check_labels(num_classes: int, void_label: int | None = VOID_LABEL):
    """A ``Dataset.map`` function that fails on labels outside ``[0, num_classes)`` (void allowed)
    and on images holding NaN/Inf.

    The error (``tf.errors.InvalidArgumentError``, raised when the bad element
    is read) names the offending values and the expected range. A NaN pixel
    is refused here because several CPU kernels (oneDNN's fused convolutions,
    ``MaxPooling2D``) silently drop it, so the loss would never show it.
    """
    num_classes = check_positive_int("check_labels", "num_classes", num_classes)
    void_label = check_optional_int("check_labels", "void_label", void_label)

    def fn(image, label):
        label_i = tf.cast(label, tf.int32)
        bad = tf.logical_or(label_i < 0, label_i >= num_classes)
        if void_label is not None:
            bad = tf.logical_and(bad, tf.not_equal(label_i, void_label))
        bad_values, _ = tf.unique(tf.boolean_mask(label_i, bad))
        expected = f"expected class ids in [0, {num_classes - 1}]" + (
            f" or the void label {void_label}" if void_label is not None else ""
        )
        finite = tf.reduce_all(tf.math.is_finite(tf.cast(image, tf.float32)))
        non_finite = tf.reduce_sum(tf.cast(tf.logical_not(tf.math.is_finite(tf.cast(image, tf.float32))), tf.int32))
        with tf.control_dependencies(
            [
                tf.debugging.Assert(
                    tf.logical_not(tf.reduce_any(bad)),
                    ["labels: received out-of-range values", bad_values, expected],
                    summarize=10,
                ),
                tf.debugging.Assert(
                    finite, ["images: must be finite, received", non_finite, "NaN/Inf value(s) in an image"]
                ),
            ]
        ):
            return tf.identity(image), tf.identity(label)

    return fn


def _augment(image, label, seed):
    # Flips and quarter turns leave shape classes unchanged; one seed per example.
    seeds = tf.random.experimental.stateless_split(seed, 3)
    label = label[..., None]
    flip_lr = tf.random.stateless_uniform([], seeds[0]) < 0.5
    flip_ud = tf.random.stateless_uniform([], seeds[1]) < 0.5
    turns = tf.random.stateless_uniform([], seeds[2], maxval=4, dtype=tf.int32)
    both = tf.concat([image, tf.cast(label, image.dtype)], axis=-1)
    both = tf.cond(flip_lr, lambda: tf.image.flip_left_right(both), lambda: both)
    both = tf.cond(flip_ud, lambda: tf.image.flip_up_down(both), lambda: both)
    both = tf.image.rot90(both, turns)
    return both[..., :-1], tf.cast(both[..., -1], label.dtype)


def segmentation_pipeline(
    dataset: tf.data.Dataset,
    batch_size: int,
    *,
    training: bool = False,
    num_classes: int | None = None,
    void_label: int | None = VOID_LABEL,
    augment: bool | None = None,
    shuffle_buffer: int = 2048,
    seed: int = 0,
    cache: bool = True,
) -> tf.data.Dataset:
    """Batch ``(image, label)`` pairs; shuffle and augment (flips, 90 degree turns) for training.

    Args:
        dataset: unbatched ``(image (H, W, 3), label (H, W))`` pairs.
        batch_size: global batch size.
        training: shuffle (seeded), augment, repeat-friendly.
        num_classes: if given, labels are checked (see :func:`check_labels`).
        void_label: label to ignore, allowed by the check.
        augment: defaults to ``training``. Square images only for turns.
        shuffle_buffer, seed: shuffling and augmentation are deterministic by seed.
        cache: cache the decoded examples in memory.

    Example:
        >>> from keras_segattn.data import segmentation_pipeline, synthetic_shapes
        >>> ds = segmentation_pipeline(synthetic_shapes("train", 8), 4, training=True, num_classes=4)
        >>> [tuple(t.shape) for t in next(iter(ds))]
        [(4, 64, 64, 3), (4, 64, 64)]
    """
    batch_size = check_positive_int("segmentation_pipeline", "batch_size", batch_size)
    _check_stream_arguments("segmentation_pipeline", dataset, num_classes=num_classes, void_label=void_label,
                            shuffle_buffer=shuffle_buffer, seed=seed)
    training = check_bool("segmentation_pipeline", "training", training)
    augment = training if augment is None else check_bool("segmentation_pipeline", "augment", augment)
    cache = check_bool("segmentation_pipeline", "cache", cache)
    ds = dataset
    if num_classes is not None:
        ds = ds.map(check_labels(num_classes, void_label), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda pair, s: _augment(pair[0], pair[1], s), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def segmentation_stream(
    dataset: tf.data.Dataset,
    batch_size: int,
    *,
    epochs: int,
    num_classes: int | None = None,
    void_label: int | None = VOID_LABEL,
    seed: int = 0,
    start_step: int = 0,
    augment: bool = True,
    shuffle_buffer: int = 2048,
) -> tf.data.Dataset:
    """Every training batch of a run, in order, as a pure function of ``seed``.

    Epoch ``e`` is the dataset shuffled with seed ``(seed, e)`` and augmented
    (flips, 90-degree turns) with per-example stateless seeds ``(seed, e, i)``,
    in ``batch_size`` batches (the last partial batch dropped). Because batch
    ``k`` of the run never depends on how many were read before,
    ``start_step=k`` resumes an interrupted run exactly
    (:func:`keras_segattn.training.fit_resumable`).

    Example:
        >>> from keras_segattn.data import segmentation_stream, synthetic_shapes
        >>> ds = synthetic_shapes("train", 8)
        >>> full = list(segmentation_stream(ds, 4, epochs=2, seed=1))
        >>> late = list(segmentation_stream(ds, 4, epochs=2, seed=1, start_step=3))
        >>> len(full), bool((full[3][0] == late[0][0]).numpy().all())
        (4, True)
    """
    batch_size = check_positive_int("segmentation_stream", "batch_size", batch_size)
    epochs = check_positive_int("segmentation_stream", "epochs", epochs)
    start_step = check_int("segmentation_stream", "start_step", start_step, minimum=0)
    augment = check_bool("segmentation_stream", "augment", augment)
    _check_stream_arguments("segmentation_stream", dataset, num_classes=num_classes, void_label=void_label,
                            shuffle_buffer=shuffle_buffer, seed=seed)
    base = dataset
    if num_classes is not None:
        base = base.map(check_labels(num_classes, void_label), num_parallel_calls=tf.data.AUTOTUNE)
    base = base.cache()

    def one_epoch(epoch):
        # shuffle() needs a Python int seed, so epochs are built here and concatenated.
        epoch_seed = (seed * 1_000_003 + epoch) % (2**31 - 1)
        ds = base.shuffle(shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=False).enumerate()
        if augment:
            ds = ds.map(
                lambda i, pair: _augment(pair[0], pair[1], tf.stack([tf.constant(epoch_seed, tf.int64), i])),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        else:
            ds = ds.map(lambda i, pair: pair)
        return ds.batch(batch_size, drop_remainder=True)

    stream = one_epoch(0)
    for epoch in range(1, epochs):
        stream = stream.concatenate(one_epoch(epoch))
    return stream.skip(start_step).prefetch(tf.data.AUTOTUNE)
