"""MS COCO instance segmentation through tensorflow_datasets, in the library's padded instance layout.

The instance-segmentation papers of the lecture train and score on PASCAL VOC
(SDS, Hypercolumns) and MS COCO (MNC won the COCO 2015 segmentation challenge).
tensorflow_datasets has no per-instance masks for VOC, and among its COCO
datasets (checked with tensorflow_datasets 4.9.10):

* ``coco/2017`` stores boxes, labels and crowd flags only, no masks;
* ``lvis`` stores a mask per object, but LVIS is a different benchmark: 1,203
  long-tail classes annotated "federatedly" (an image is labelled exhaustively
  only for some classes), so its AP needs LVIS' own evaluation, not COCOeval;
* ``coco/2017_panoptic`` stores the COCO 2017 images (118k train, 5k
  validation) with the panoptic annotation: a PNG whose colour ``(R, G, B)``
  holds the segment id ``R + 256 G + 256^2 B`` of every pixel, and the
  segments' ``id``, ``label`` (133 classes: the 80 COCO "thing" classes first,
  in COCO's category order, then 53 "stuff" classes), ``area`` and
  ``is_crowd``.

We use ``coco/2017_panoptic``: the "thing" segments are exactly COCO's 80
object classes with one mask per object (the panoptic release made COCO's
instance masks non-overlapping, which is also what these models predict).
Stuff segments (``label >= 80``) and crowd segments are dropped; class ``c`` in
0..79 becomes ``c + 1`` (1..80, names in :data:`COCO_THING_CLASSES`).

Each example is ``(image float32 (H, W, 3) in [0, 255], targets)`` in the layout
of :mod:`keras_segattn.data.instance_shapes` for one image: ``"boxes"``
``(M, 4)`` normalised ``(y1, x1, y2, x2)`` tight around the resized masks,
``"classes"`` int32 ``(M,)`` (0 = padding), ``"masks"`` uint8 ``(M, H, W)``. At
most ``M = max_instances`` objects are kept, the largest (by annotated area)
first; an object that vanishes at the target size (no pixel left after the
nearest-neighbour resize) is dropped. Images are resized bilinearly and masks
by nearest neighbour to ``image_size`` (aspect ratio not kept, so examples
batch). Needs the prepared dataset in ``data_dir`` (``download=True`` fetches
it where a network exists; about 20 GB); tested offline with
``tfds.testing.mock_data``.
"""

from __future__ import annotations

import tensorflow as tf

from keras_segattn.data.scene_parsing import _image_size
from keras_segattn.validation import check_bool, check_int, message

__all__ = ["COCO_THING_CLASSES", "coco_instances"]

#: The 80 COCO object ("thing") classes; class id ``k`` (1..80) is ``COCO_THING_CLASSES[k - 1]``.
COCO_THING_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
NUM_THING_CLASSES = len(COCO_THING_CLASSES)
SPLITS = ("train", "validation")
DATASET = "coco/2017_panoptic"


def masks_to_boxes(masks):
    """Tight normalised ``(y1, x1, y2, x2)`` pixel-edge boxes ``(M, 4)`` of masks ``(M, H, W)``; zeros for empty ones.

    The TensorFlow twin of :func:`keras_segattn.data.instance_shapes.boxes_from_masks`.
    """
    present = tf.cast(masks, tf.bool)
    height, width = tf.shape(masks)[1], tf.shape(masks)[2]
    rows = tf.cast(tf.reduce_any(present, axis=2), tf.int32)  # (M, H)
    cols = tf.cast(tf.reduce_any(present, axis=1), tf.int32)  # (M, W)
    y1 = tf.argmax(rows, axis=1, output_type=tf.int32)
    y2 = height - tf.argmax(tf.reverse(rows, [1]), axis=1, output_type=tf.int32)
    x1 = tf.argmax(cols, axis=1, output_type=tf.int32)
    x2 = width - tf.argmax(tf.reverse(cols, [1]), axis=1, output_type=tf.int32)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    boxes = tf.stack([tf.cast(y1, tf.float32) / h, tf.cast(x1, tf.float32) / w,
                      tf.cast(y2, tf.float32) / h, tf.cast(x2, tf.float32) / w], axis=1)
    return tf.where(tf.reduce_any(rows > 0, axis=1)[:, None], boxes, 0.0)


def panoptic_to_instances(example, image_size, max_instances: int):
    """One decoded ``coco/2017_panoptic`` example -> ``(image, targets)`` in the padded layout (see the module)."""
    height, width = image_size
    objects = example["panoptic_objects"]
    # Real records' fields have one entry per segment; keep them aligned whatever the source.
    n = tf.reduce_min([tf.shape(objects[k], out_type=tf.int32)[0] for k in ("id", "label", "is_crowd", "area")])
    ids, labels, crowd, area = (objects[k][:n] for k in ("id", "label", "is_crowd", "area"))
    keep = (labels < NUM_THING_CLASSES) & tf.logical_not(crowd)
    ids, labels, area = (tf.boolean_mask(v, keep) for v in (ids, labels, area))
    largest = tf.argsort(area, direction="DESCENDING", stable=True)[:max_instances]
    ids = tf.cast(tf.gather(ids, largest), tf.int32)
    classes = tf.cast(tf.gather(labels, largest), tf.int32) + 1
    count = tf.shape(ids)[0]

    rgb = tf.cast(example["panoptic_image"], tf.int32)
    segment = rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]  # (h, w) segment ids
    masks = tf.cast(tf.equal(segment[..., None], ids[None, None, :]), tf.uint8)  # (h, w, count)
    masks = tf.pad(masks, [[0, 0], [0, 0], [0, max_instances - count]])
    masks = tf.image.resize(masks, (height, width), "nearest")
    masks = tf.transpose(masks, [2, 0, 1])  # (M, H, W)
    classes = tf.pad(classes, [[0, max_instances - count]])
    # Objects with no pixel left at this size are dropped; the rest move up, padding after them.
    present = tf.reduce_any(masks > 0, axis=[1, 2])
    classes = tf.where(present, classes, 0)
    order = tf.argsort(tf.cast(tf.logical_not(present), tf.int32), stable=True)
    masks, classes = tf.gather(masks, order), tf.gather(classes, order)
    targets = {
        "boxes": tf.ensure_shape(masks_to_boxes(masks), (max_instances, 4)),
        "classes": tf.ensure_shape(classes, (max_instances,)),
        "masks": tf.ensure_shape(masks, (max_instances, height, width)),
    }
    image = tf.image.resize(tf.cast(example["image"], tf.float32), (height, width), "bilinear")
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0), (height, width, 3)), targets


def coco_instances(
    split: str = "train",
    *,
    image_size=(512, 512),
    max_instances: int = 32,
    data_dir: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """``(image float32 (H, W, 3) in [0, 255], targets)`` examples of COCO 2017 instance segmentation.

    ``targets``: ``"boxes"`` float32 ``(M, 4)``, ``"classes"`` int32 ``(M,)`` in
    1..80 (0 = padding), ``"masks"`` uint8 ``(M, H, W)``; see the module for
    the source (``coco/2017_panoptic``'s "thing" segments) and the conventions.
    Unbatched and not shuffled; every example has the same shapes, so
    ``.batch(b)`` gives the batched layout the instance models take.

    Args:
        split: ``"train"`` or ``"validation"``, tfds slicing allowed (``"validation[:500]"``).
        image_size: an int or ``(height, width)``.
        max_instances: ``M``, the largest objects kept per image.
        data_dir, download: as ``tfds.load``.

    Example (needs the prepared dataset or ``tfds.testing.mock_data``):
        >>> import tensorflow_datasets as tfds
        >>> from keras_segattn.data import coco_instances
        >>> with tfds.testing.mock_data(num_examples=2):
        ...     image, targets = next(iter(coco_instances("validation", image_size=(48, 64), max_instances=5)))
        >>> tuple(image.shape), tuple(targets["masks"].shape), targets["classes"].dtype.name
        ((48, 64, 3), (5, 48, 64), 'int32')
    """
    where = "coco_instances"
    if not (isinstance(split, str) and split.split("[")[0] in SPLITS):
        raise ValueError(message(where, "split", "'train' or 'validation' (tfds slicing such as 'train[:10%]' works)",
                                 split))
    size = _image_size(image_size, where)
    max_instances = check_int(where, "max_instances", max_instances, minimum=1)
    check_bool(where, "download", download)
    import tensorflow_datasets as tfds

    ds = tfds.load(DATASET, split=split, data_dir=data_dir, download=download)
    return ds.map(lambda example: panoptic_to_instances(example, size, max_instances),
                  num_parallel_calls=tf.data.AUTOTUNE)
