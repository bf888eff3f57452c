"""Semantic segmentation: per-pixel class logits ``(B, H, W, C)`` from raw RGB ``(B, H, W, 3)``."""

from __future__ import annotations

import numpy as np

from keras_segattn.tasks.base import Task, check_finite

__all__ = ["SemanticSegmentation", "read_image"]


def read_image(path: str, size=None) -> np.ndarray:
    """An image file (PNG, JPEG...) or ``.npy`` as float32 ``(H, W, 3)``, resized to ``size`` ``(H, W)``.

    NaN/Inf pixels (possible in ``.npy`` files) are refused with an error.
    """
    import os

    if not os.path.exists(path):
        raise ValueError(f"predict: input image {path!r} does not exist.")
    if path.endswith(".npy"):
        image = np.load(path).astype("float32")
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, -1)
        if image.ndim != 3:
            raise ValueError(f"predict: {path!r} must hold an (H, W) or (H, W, C) array, received shape {image.shape}.")
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            image = np.asarray(Image.open(path).convert("RGB"), dtype="float32")
        except UnidentifiedImageError:
            raise ValueError(f"predict: {path!r} is not an image file PIL can read (or a .npy array).") from None
        except OSError as error:  # a truncated PNG/JPEG fails only when its pixels are decoded
            raise ValueError(f"predict: image {path!r} cannot be decoded ({error}).") from None
    check_finite([image], f"predict: image {path!r}")
    if size is not None and size[0] is not None and tuple(image.shape[:2]) != tuple(size):
        import tensorflow as tf

        image = tf.image.resize(image, size, antialias=True).numpy()
    return image


class SemanticSegmentation(Task):
    """Per-pixel classification (FCN, DeconvNet, ...).

    Embedded data: the synthetic shapes (``keras_segattn.data.synthetic_shapes``)
    at the model's input size, as many classes as the model has (at most 5).
    Recipe: AdamW, warm-up + cosine, void-aware cross-entropy, mean IoU and
    pixel accuracy. Export gate: argmax agreement and mean-IoU drop.
    """

    name = "semantic_segmentation"
    monitor = ("val_mean_iou", "max")
    gate_metric = "mean_iou"
    description = "per-pixel class logits (B, H, W, C) from raw RGB (B, H, W, 3)"

    def data(self, model, split="test", count=32, seed=0):
        from keras_segattn.data.synthetic_shapes import SHAPES, synthetic_shapes_arrays

        shape = model.inputs[0].shape
        size = shape[1] or 64
        if shape[2] is not None and shape[2] != size:
            raise ValueError(f"default data: non-square model input {tuple(shape)} needs user data.")
        num_classes = min(int(model.outputs[0].shape[-1]), len(SHAPES) + 1)
        images, labels = synthetic_shapes_arrays(
            split, count, image_size=size, num_classes=max(num_classes, 2), seed=seed
        )
        return [images.astype(np.float32)], labels.astype(np.int32)

    def class_names(self, model):
        from keras_segattn.data.synthetic_shapes import SHAPES

        num_classes = int(model.outputs[0].shape[-1])
        if num_classes > len(SHAPES) + 1:
            return None  # more classes than the embedded shapes: the user's own label set
        return ["background", *SHAPES[: num_classes - 1]]

    def web_page(self, model):
        return "index.html"

    def sample_batch(self, model, batch_size=2, seed=0, size=None):
        # Dynamic-size models get a non-square batch (48x80 by default): it
        # exercises the crop/pad paths a square one would not.
        from keras_segattn.data.synthetic_shapes import SHAPES, synthetic_shapes_arrays

        shape = model.inputs[0].shape
        height = shape[1] or (size[0] if size else 48)
        width = shape[2] or (size[1] if size else 80)
        num_classes = max(2, min(int(model.outputs[0].shape[-1]), len(SHAPES) + 1))
        images, labels = synthetic_shapes_arrays(
            "validation", batch_size, image_size=max(height, width, 16), num_classes=num_classes, seed=seed
        )
        return images[:, :height, :width].astype("float32"), labels[:, :height, :width].astype("int32")

    def loss(self):
        from keras_segattn.training import segmentation_loss

        return segmentation_loss()

    def compile(self, model, *, learning_rate=2e-3, total_steps=None, jit_compile="auto", **options):
        from keras_segattn.training import compile_segmentation

        return compile_segmentation(
            model, int(model.outputs[0].shape[-1]), learning_rate=learning_rate, total_steps=total_steps,
            jit_compile=jit_compile, **options,
        )

    def train(self, model, *, num_classes=None, data=None, data_dir=None, image_size=None, lr_schedule=None,
              learning_rate=None, train_examples=None, val_examples=None, epochs=None, batch_size=None, **kwargs):
        """The segmentation recipe (:func:`keras_segattn.training.train_segmentation`): AdamW, flips and
        turns, a deterministic resumable stream; ``data="oxford_iiit_pet"`` or ``"scene_parse150"`` trains on the tfds dataset."""
        from keras_segattn.training import train_segmentation

        given = {
            "num_classes": num_classes, "data": data, "data_dir": data_dir, "image_size": image_size,
            "lr_schedule": lr_schedule, "learning_rate": learning_rate, "train_examples": train_examples,
            "val_examples": val_examples, "epochs": epochs, "batch_size": batch_size,
        }
        return train_segmentation(model, **{k: v for k, v in given.items() if v is not None}, **kwargs)

    def evaluate(self, model, *, examples=1000, seed=0, data=None, data_dir=None):
        from keras_segattn.training import evaluate_segmentation

        metrics, _ = evaluate_segmentation(model, data or "synthetic", examples, seed, data_dir=data_dir)
        return metrics

    def gate_score(self, labels, predictions, num_classes):
        from keras_segattn.export.parity import mean_iou

        return mean_iou(labels, predictions, num_classes)

    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        from keras_segattn.visualize import plot_segmentation

        return plot_segmentation(
            inputs, labels, outputs, path, num_classes=int(model.outputs[0].shape[-1]), title=title
        )

    def predict_file(self, model, source, output):
        image = read_image(source, model.inputs[0].shape[1:3])
        logits = np.asarray(model(image[None], training=False))
        self.plot(model, image[None], logits, output)
        counts = np.bincount(logits[0].argmax(-1).reshape(-1), minlength=logits.shape[-1])
        return {"output": output, "pixels_per_class": counts.tolist()}
