"""MIT Scene Parsing (ADE20K SceneParse150) through tensorflow_datasets: real scene labelling.

Zhou et al., "Scene Parsing through ADE20K Dataset", CVPR 2017 (the MIT Scene
Parsing Benchmark): about 20,000 training and 2,000 validation images of
indoor and outdoor scenes, every pixel labelled with one of 150 classes
(wall, building, sky, floor, tree, ... in order of decreasing pixel
frequency). The tensorflow_datasets name is ``scene_parse150``; its splits are
``train`` and ``test`` (the benchmark's validation set). Needs the prepared
dataset in ``data_dir`` (``download=True`` fetches it where a network exists);
tested offline with ``tfds.testing.mock_data``.

Labels: the annotation PNG holds 0 for "other / unlabelled" and ``c`` in
1..150 for class ``c``. We map class ``c`` to label ``c - 1`` (so labels are
0..149 and a model has ``num_classes`` outputs), and 0 to the void label 255,
which the library's loss and metrics ignore. With ``num_classes < 150`` only
the ``num_classes`` most frequent classes are kept (1..num_classes -> 0..
num_classes - 1); every other class becomes void too, so no pixel is
labelled wrongly, it is only left out.
"""

from __future__ import annotations

import tensorflow as tf

from keras_segattn.data.pipeline import VOID_LABEL, segmentation_pipeline
from keras_segattn.validation import check_bool, check_int, check_positive_int, message

__all__ = ["SCENE_PARSE150_CLASSES", "scene_parse150", "scene_parsing_pipeline"]

SCENE_PARSE150_CLASSES = 150
SPLITS = ("train", "test")


def annotation_to_labels(annotation, num_classes: int = SCENE_PARSE150_CLASSES):
    """SceneParse150 annotation values -> int32 labels: ``c`` in [1, num_classes] -> ``c - 1``, else void (255).

    Example:
        >>> from keras_segattn.data.scene_parsing import annotation_to_labels
        >>> annotation_to_labels([0, 1, 2, 150, 151], num_classes=150).numpy().tolist()
        [255, 0, 1, 149, 255]
        >>> annotation_to_labels([0, 1, 2, 3], num_classes=2).numpy().tolist()
        [255, 0, 1, 255]
    """
    values = tf.cast(annotation, tf.int32)
    keep = (values >= 1) & (values <= num_classes)
    return tf.where(keep, values - 1, VOID_LABEL)


def _image_size(image_size, where):
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    try:
        if isinstance(image_size, (str, bytes)):
            raise TypeError
        height, width = image_size
    except (TypeError, ValueError):
        raise ValueError(message(where, "image_size", "an int or a (height, width) pair of positive ints", image_size)) from None
    return (check_positive_int(where, "image_size[0]", height), check_positive_int(where, "image_size[1]", width))


def _checked(where, split, image_size, num_classes):
    if split not in SPLITS and not (isinstance(split, str) and split.split("[")[0] in SPLITS):
        raise ValueError(message(where, "split", "'train' or 'test' (tfds slicing such as 'train[:10%]' works)", split))
    size = _image_size(image_size, where)
    num_classes = check_int(where, "num_classes", num_classes, minimum=1, maximum=SCENE_PARSE150_CLASSES)
    return size, num_classes


def scene_parse150(
    split: str = "train",
    *,
    image_size=(256, 256),
    num_classes: int = SCENE_PARSE150_CLASSES,
    data_dir: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """``(image float32 (H, W, 3) in [0, 255], label int32 (H, W))`` pairs from ``scene_parse150``, resized.

    Images are resized bilinearly and annotations by nearest neighbour (no
    invented classes at boundaries) to ``image_size`` (the aspect ratio is not
    kept: ADE20K images vary in shape and the models batch one size). Labels
    follow the module's mapping: ``c`` -> ``c - 1`` for the ``num_classes``
    most frequent classes, everything else (unlabelled, dropped classes) ->
    void 255.

    Args:
        split: ``"train"`` or ``"test"`` (the benchmark's validation images), with
            tfds slicing allowed (``"train[:1000]"``).
        image_size: an int or ``(height, width)``.
        num_classes: 1..150; the classes kept.
        data_dir, download: as ``tfds.load``.

    Example (needs the prepared dataset or ``tfds.testing.mock_data``):
        >>> import tensorflow_datasets as tfds
        >>> from keras_segattn.data import scene_parse150
        >>> with tfds.testing.mock_data(num_examples=2):
        ...     image, label = next(iter(scene_parse150("train", image_size=(64, 64))))
        >>> tuple(image.shape), image.dtype.name, tuple(label.shape), label.dtype.name
        ((64, 64, 3), 'float32', (64, 64), 'int32')
    """
    (height, width), num_classes = _checked("scene_parse150", split, image_size, num_classes)
    check_bool("scene_parse150", "download", download)
    import tensorflow_datasets as tfds

    ds = tfds.load("scene_parse150", split=split, data_dir=data_dir, download=download)

    def convert(example):
        image = tf.image.resize(tf.cast(example["image"], tf.float32), (height, width), "bilinear")
        # The annotation is stored as an image; every channel holds the class index.
        annotation = tf.image.resize(example["annotation"][..., :1], (height, width), "nearest")
        return tf.clip_by_value(image, 0.0, 255.0), annotation_to_labels(annotation[..., 0], num_classes)

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)


def scene_parsing_pipeline(
    split: str,
    batch_size: int,
    *,
    image_size=(256, 256),
    num_classes: int = SCENE_PARSE150_CLASSES,
    training: bool | None = None,
    seed: int = 0,
    cache: bool = False,
    data_dir: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """Batches of ``(images float32 (B, H, W, 3) in [0, 255], labels int32 (B, H, W))`` for the segmentation models.

    :func:`scene_parse150` followed by
    :func:`~keras_segattn.data.segmentation_pipeline`: label checks against
    ``num_classes`` (void allowed), and for training seeded shuffling and, for
    a square ``image_size``, flips and 90-degree turns (none otherwise). ``cache`` defaults to ``False``: the
    decoded training set at 256x256 is about 15 GB.

    Args:
        split, image_size, num_classes, data_dir, download: as :func:`scene_parse150`.
        batch_size: global batch size.
        training: shuffle and augment; defaults to ``split`` starting with ``"train"``.
        seed: shuffling and augmentation seed.
        cache: cache decoded examples in memory.

    Example (a model with ``num_classes`` outputs trains on it with the library's recipe)::

        import keras_segattn as ksa
        from keras_segattn.data import scene_parsing_pipeline
        from keras_segattn.training import compile_segmentation

        train = scene_parsing_pipeline("train", 16, image_size=256, data_dir="~/tensorflow_datasets")
        val = scene_parsing_pipeline("test", 16, image_size=256, data_dir="~/tensorflow_datasets")
        model = ksa.build_model("multiscale_cnn", num_classes=150)
        compile_segmentation(model, num_classes=150)
        model.fit(train, validation_data=val, epochs=30)
    """
    size, num_classes = _checked("scene_parsing_pipeline", split, image_size, num_classes)
    batch_size = check_positive_int("scene_parsing_pipeline", "batch_size", batch_size)
    training = split.startswith("train") if training is None else check_bool("scene_parsing_pipeline", "training", training)
    check_int("scene_parsing_pipeline", "seed", seed, minimum=0)
    check_bool("scene_parsing_pipeline", "cache", cache)
    check_bool("scene_parsing_pipeline", "download", download)
    ds = scene_parse150(split, image_size=size, num_classes=num_classes, data_dir=data_dir, download=download)
    return segmentation_pipeline(
        ds, batch_size, training=training, num_classes=num_classes, augment=training and size[0] == size[1],
        seed=seed, cache=cache,
    )
