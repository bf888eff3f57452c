"""Oxford-IIIT Pet segmentation through tensorflow_datasets (a real, paper-style dataset).

Parkhi et al., "Cats and Dogs", CVPR 2012. The trimap labels pixels pet (1),
background (2) and border (3); we map them to 1 = pet, 0 = background and the
ambiguous border to the void label 255, which the loss and metrics ignore.
Needs the dataset in ``data_dir`` (``download=True`` fetches it where a network
exists); tested offline with ``tfds.testing.mock_data``.
"""

from __future__ import annotations

import tensorflow as tf

from keras_segattn.data.pipeline import VOID_LABEL

NUM_CLASSES = 2
CLASS_NAMES = ("background", "pet")


def _trimap_to_labels(mask):
    mask = tf.cast(mask, tf.int32)
    # 1 pet -> 1, 2 background -> 0, anything else (3 border, unknown) -> void.
    return tf.where(mask == 1, 1, tf.where(mask == 2, 0, VOID_LABEL))


def oxford_iiit_pet(
    split: str = "train",
    *,
    image_size=(224, 224),
    data_dir: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """``(image float32 (H, W, 3) in [0, 255], label int32 (H, W))`` pairs, resized.

    Images are resized bilinearly, labels by nearest neighbour (no invented
    classes at boundaries).

    Example (needs the prepared dataset or ``tfds.testing.mock_data``):
        >>> import tensorflow_datasets as tfds
        >>> from keras_segattn.data import oxford_iiit_pet
        >>> with tfds.testing.mock_data(num_examples=2):
        ...     image, label = next(iter(oxford_iiit_pet("test", image_size=(64, 64))))
        >>> tuple(image.shape), tuple(label.shape)
        ((64, 64, 3), (64, 64))
    """
    import tensorflow_datasets as tfds

    from keras_segattn.validation import check_bool, check_int_pair, message

    if not (isinstance(split, str) and split.split("[")[0] in ("train", "test")):
        raise ValueError(message("oxford_iiit_pet", "split", "'train' or 'test' (tfds slicing such as "
                                 "'test[:50%]' works)", split))
    height, width = check_int_pair("oxford_iiit_pet", "image_size", image_size)
    check_bool("oxford_iiit_pet", "download", download)
    ds = tfds.load("oxford_iiit_pet", split=split, data_dir=data_dir, download=download)

    def convert(example):
        image = tf.image.resize(tf.cast(example["image"], tf.float32), (height, width), "bilinear")
        mask = tf.image.resize(example["segmentation_mask"], (height, width), "nearest")
        return tf.clip_by_value(image, 0.0, 255.0), _trimap_to_labels(mask[..., 0])

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
