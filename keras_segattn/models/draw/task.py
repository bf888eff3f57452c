"""The ``image_generation`` task: a variational image model (DRAW) on binarised digits, scored by its NLL bound."""

from __future__ import annotations

import numpy as np

from keras_segattn.tasks import Task, register_task

__all__ = ["ImageGeneration", "MAX_BOUND_INCREASE"]

#: the quantised-export gate: the artifact's NLL bound may exceed Keras' by at most this many nats per image
MAX_BOUND_INCREASE = 1.0


class ImageGeneration(Task):
    """Variational generative models of images (DRAW, with or without attention).

    The model maps images ``(B, H, W, C)`` in ``[0, 1]`` to ``[reconstruction
    logits, kl (B,)]``. Embedded data: binarised digits
    (:mod:`keras_segattn.data.binarized_digits`); the target is the image.
    Recipe: Adam with gradient-norm clipping, the Bernoulli reconstruction
    loss in nats per image (the model adds the KL term). Evaluation: the
    negative variational bound on held-out digits (``nll_bound`` >= the true
    NLL, nats per image), its reconstruction and KL parts. Export gate: the
    bound of the artifact's outputs (posterior means) at most
    :data:`MAX_BOUND_INCREASE` nats above Keras'.
    """

    name = "image_generation"
    gate_metric = "nll_bound"
    description = "images (B, H, W, C) in [0, 1] -> [Bernoulli logits (B, H, W, C), kl (B,)]; NLL bound in nats"

    def data(self, model, split="test", count=32, seed=0):
        from keras_segattn.data.binarized_digits import binarized_digits_arrays
        from keras_segattn.validation import message

        shape = tuple(model.inputs[0].shape[1:])
        if len(shape) != 3 or shape[0] is None or shape[0] != shape[1] or shape[2] != 1:
            raise ValueError(message("default data", f"model {model.name!r}'s input", "a square (S, S, 1) image "
                                     "for the embedded binarised digits", shape))
        images, _ = binarized_digits_arrays(split, count, image_size=shape[0], seed=seed)
        return [images], images

    def loss(self):
        from keras_segattn.training.variational import BernoulliNLL

        loss = BernoulliNLL()

        def reconstruction_loss(y_true, outputs):
            return loss(y_true, outputs[0] if isinstance(outputs, (list, tuple)) else outputs)

        return reconstruction_loss

    def compile(self, model, *, learning_rate=1e-3, total_steps=None, jit_compile="auto"):
        """Adam (gradient norm clipped at 10), the Bernoulli NLL on the reconstruction; the KL comes from the model."""
        import keras

        from keras_segattn.training.recipes import warmup_cosine
        from keras_segattn.training.schedules import check_learning_rate
        from keras_segattn.training.variational import BernoulliNLL

        learning_rate = check_learning_rate("compile", learning_rate)
        schedule = warmup_cosine(learning_rate, total_steps) if total_steps else learning_rate
        model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=10.0), loss=[BernoulliNLL(), None],
                      jit_compile=jit_compile)
        return model

    def quick_fit(self, model, seed=0):
        return super().quick_fit(model, seed, examples=256, batch_size=32, steps=40, learning_rate=3e-3)

    def evaluate(self, model, *, examples=1000, seed=0, samples=None, **options):
        """The negative variational bound on ``examples`` held-out digits, in nats per image.

        ``samples`` (default 1) posterior draws per image are averaged: the
        bound is ``E_q[-log D(x | c_T)] + KL`` (Gregor et al. 2015, eq. 12).
        """
        import tensorflow as tf

        from keras_segattn.training.variational import bernoulli_nll

        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"image_generation evaluation: unsupported option(s) {unknown} for this task.")
        (images,), _ = self.data(model, "test", examples, seed)
        tf.random.set_seed(seed)
        reconstruction, kl = [], []
        for _ in range(samples or 1):
            for start in range(0, len(images), 250):
                batch = images[start:start + 250]
                logits, batch_kl = model(batch, training=True)  # training: z is sampled from the posterior
                reconstruction.append(bernoulli_nll(batch, np.asarray(logits)))
                kl.append(np.asarray(batch_kl, np.float64))
        reconstruction, kl = np.concatenate(reconstruction), np.concatenate(kl)
        return {"nll_bound": float((reconstruction + kl).mean()), "reconstruction": float(reconstruction.mean()),
                "kl": float(kl.mean()), "examples": int(len(images))}

    def gate(self, reference, actual, labels=None, *, min_agreement=None, max_metric_drop=None):
        """With labels: the artifact's bound (posterior means) at most ``max_metric_drop`` nats above Keras'.
        Without: the reconstruction logits within 5% of their scale."""
        from keras_segattn.training.variational import bernoulli_nll

        limit = MAX_BOUND_INCREASE if max_metric_drop is None else max_metric_drop
        keys = list(reference)
        logits_key = "reconstruction" if "reconstruction" in reference else keys[0]
        kl_key = "kl" if "kl" in reference else (keys[1] if len(keys) > 1 else None)
        ref, got = np.asarray(reference[logits_key], np.float64), np.asarray(actual[logits_key], np.float64)
        scale = float(np.abs(ref).max()) or 1.0
        report = {"output": logits_key, "max_relative_error": float(np.abs(ref - got).max()) / scale}
        if labels is None:
            report["passed"] = report["max_relative_error"] <= 0.05
            return report

        def bound(outputs, logits):
            kl = np.asarray(outputs[kl_key], np.float64).reshape(-1) if kl_key else 0.0
            return float((bernoulli_nll(labels, logits) + kl).mean())

        keras_bound, artifact_bound = bound(reference, ref), bound(actual, got)
        report.update({"metric": "nll_bound", "keras": keras_bound, "artifact": artifact_bound,
                       "increase_nats": artifact_bound - keras_bound, "max_metric_drop": limit,
                       "passed": bool(artifact_bound - keras_bound <= limit)})
        return report

    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        """The canvas after every step with the read (green) and write (red) boxes, one row per input image."""
        from keras_segattn.models.draw.sampling import draw_trace
        from keras_segattn.visualize import plot_canvas_sequence

        images = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        trace = draw_trace(model, images)
        return plot_canvas_sequence(trace["canvases"], path, boxes=trace.get("write_boxes"),
                                    read_boxes=trace.get("read_boxes"), title=title, row_titles=labels)

    def predict_file(self, model, source, output):
        """Draw the image ``source`` (converted to grey, resized, binarised at 0.5) step by step into ``output``."""
        from keras_segattn.tasks.segmentation import read_image
        from keras_segattn.training.variational import bernoulli_nll

        image = read_image(source, model.inputs[0].shape[1:3]).mean(-1, keepdims=True) / 255.0
        image = (image > 0.5).astype(np.float32)[None]
        logits, kl = model(image, training=False)
        self.plot(model, image, None, output)
        nll = float(np.asarray(kl)[0]) + float(bernoulli_nll(image, np.asarray(logits))[0])
        return {"output": output, "nll_bound_posterior_mean": round(nll, 3)}


register_task(ImageGeneration)
