"""Image classification: class logits ``(B, C)`` from an image ``(B, H, W, 1 or 3)``."""

from __future__ import annotations

import numpy as np

from keras_segattn.tasks.base import Task

__all__ = ["ImageClassification"]


class ImageClassification(Task):
    """Whole-image classification (the ST-CNN / CNN digit models).

    Embedded data: distorted digits (RTS family, from scikit-learn's digits)
    at the model's input size and channels. Recipe: Adam, warm-up + cosine,
    sparse cross-entropy, accuracy. Export gate: argmax agreement and accuracy drop.
    """

    name = "image_classification"
    monitor = ("val_accuracy", "max")
    gate_metric = "accuracy"
    description = "class logits (B, C) from an image (B, H, W, 1 or 3)"

    def data(self, model, split="test", count=32, seed=0):
        from keras_segattn.data.distorted_digits import distorted_digits_arrays

        shape = model.inputs[0].shape
        size = shape[1] or 42
        if shape[2] is not None and shape[2] != size:
            raise ValueError(f"default data: non-square model input {tuple(shape)} needs user data.")
        channels = shape[3] if shape[3] in (1, 3) else None
        if channels is None:
            raise ValueError(f"default data: model input {tuple(shape)} must have 1 or 3 channels.")
        num_classes = max(2, min(int(model.outputs[0].shape[-1]), 10))
        images, labels = distorted_digits_arrays(
            split, count, family="RTS", image_size=size, num_classes=num_classes, channels=channels, seed=seed
        )
        return [images.astype(np.float32)], labels.astype(np.int32)

    def class_names(self, model):
        outputs = model.outputs[0] if not isinstance(model.output, dict) else model.output["logits"]
        num_classes = int(outputs.shape[-1])
        return [str(d) for d in range(num_classes)] if num_classes <= 10 else None  # the digits 0-9

    def web_page(self, model):
        from keras_segattn.layers import SpatialTransformer

        # The spatial-transformer page draws the transformer's grid: it needs one to draw.
        return "stn.html" if any(isinstance(layer, SpatialTransformer) for layer in model.layers) else None

    def loss(self):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compile(self, model, *, learning_rate=1e-3, total_steps=None, jit_compile="auto"):
        from keras_segattn.training.classification import compile_classification

        return compile_classification(
            model, learning_rate=learning_rate, total_steps=total_steps, jit_compile=jit_compile
        )

    def quick_fit(self, model, seed=0, examples=4096, steps=1200, batch_size=32):
        """Classifiers need held-out accuracy for decisive logits: 64 memorised digits
        leave test logits near-tied, and int8 then flips argmaxes (measured: 2 of 32
        for digits_cnn_tiny). 1200 steps on 4096 embedded training digits give
        int8 argmax agreement 0.99 on 512 test digits for both tiny digit models."""
        import tensorflow as tf

        (x,), y = self.data(model, "train", examples, seed)
        self.compile(model, learning_rate=2e-3, jit_compile=False)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(examples, seed=seed).repeat().batch(batch_size)
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        return model

    def evaluate(self, model, *, examples=1000, seed=0, **options):
        metrics = super().evaluate(model, examples=examples, seed=seed, **options)
        metrics["error_percent"] = 100.0 * (1.0 - metrics["accuracy"])
        return metrics

    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        from keras_segattn.visualize import plot_classification

        return plot_classification(inputs, outputs, path, labels=labels, title=title)

    def predict_file(self, model, source, output):
        from keras_segattn.tasks.segmentation import read_image

        image = read_image(source, model.inputs[0].shape[1:3])
        channels = model.inputs[0].shape[-1]
        if channels == 1:
            image = image.mean(-1, keepdims=True)
        logits = np.asarray(model(image[None], training=False))[0]
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        self.plot(model, image[None], logits[None], output)
        top = np.argsort(-probabilities)[:10]  # all classes of the digit models; the 10 best of larger ones
        return {
            "output": output,
            "class": int(top[0]),
            "probabilities": {int(c): round(float(probabilities[c]), 4) for c in top},
        }
