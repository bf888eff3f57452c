"""The ``adversarial_generation`` task: a GAN generator trained against its discriminator on binarised digits."""

from __future__ import annotations

import numpy as np

from keras_segattn.tasks import Task, register_task

__all__ = ["AdversarialGeneration", "MAX_PIXEL_ERROR"]

#: the quantised-export gate: mean absolute pixel difference to Keras' images (values in [0, 1])
MAX_PIXEL_ERROR = 0.05


class AdversarialGeneration(Task):
    """Noise in, images out, trained adversarially (DCGAN).

    The model is an :class:`~keras_segattn.models.dcgan.AdversarialModel`:
    ``noise (B, Z)`` -> ``images (B, H, W, C)`` in ``[0, 1]``, with its
    discriminator. Embedded data: ``(noise, real binarised digits)`` pairs
    (:mod:`keras_segattn.data.binarized_digits`; repeated to 3 channels for
    colour models). Recipe: the paper's Adam (2e-4, beta_1 0.5) for both
    players. A GAN defines no likelihood, so :meth:`evaluate` reports the
    discriminator's view and pixel statistics; the family's script scores
    samples with a digit classifier. Export gate: the mean absolute pixel
    difference to Keras' images at most :data:`MAX_PIXEL_ERROR`.
    """

    name = "adversarial_generation"
    predict_input = "seed"
    predict_input_help = "an integer seed >= 0 (below 10**9)"
    gate_metric = "mean_abs_pixel_error"
    description = "noise (B, Z) -> images (B, H, W, C) in [0, 1], trained against a discriminator (no likelihood)"

    def data(self, model, split="test", count=32, seed=0):
        from keras_segattn.data.binarized_digits import binarized_digits_arrays
        from keras_segattn.validation import message

        height, width, channels = tuple(model.outputs[0].shape[1:])
        if height != width or channels not in (1, 3):
            raise ValueError(message("default data", f"model {model.name!r}'s output", "square (S, S, 1 or 3) "
                                     "images for the embedded binarised digits", (height, width, channels)))
        images, _ = binarized_digits_arrays(split, count, image_size=height, seed=seed)
        if channels == 3:
            images = np.repeat(images, 3, axis=-1)
        offset = {"train": 0, "validation": 1, "test": 2}[split]
        noise = np.random.default_rng([seed, offset, 7]).standard_normal((count, model.inputs[0].shape[1]))
        return [noise.astype(np.float32)], images

    def training_loss(self, model, x, y):
        """The two players' losses summed (each player's optimizer only sees its own)."""
        d_loss, g_loss = model.adversarial_losses(x, y)
        return d_loss + g_loss + sum(model.losses)

    def loss(self):
        raise NotImplementedError(
            "adversarial_generation has no single loss: the AdversarialModel's train_step computes the "
            "discriminator's and the generator's (see training_loss)."
        )

    def compile(self, model, *, learning_rate=2e-4, total_steps=None, jit_compile="auto"):
        """Adam(learning_rate, beta_1=0.5) for the generator and, separately, the discriminator (Radford et al.)."""
        import keras

        from keras_segattn.training.recipes import warmup_cosine
        from keras_segattn.training.schedules import check_learning_rate

        learning_rate = check_learning_rate("compile", learning_rate)

        def adam():
            schedule = warmup_cosine(learning_rate, total_steps) if total_steps else learning_rate
            return keras.optimizers.Adam(schedule, beta_1=0.5)

        model.compile(optimizer=adam(), discriminator_optimizer=adam(), jit_compile=jit_compile)
        return model

    def quick_fit(self, model, seed=0):
        return super().quick_fit(model, seed, examples=256, batch_size=32, steps=40, learning_rate=2e-4)

    def evaluate(self, model, *, examples=1000, seed=0, **options):
        """The discriminator's accuracy on held-out real digits and on samples, and the ink (mean pixel) of each.

        A GAN has no likelihood to report; compare sample quality with a
        digit classifier (``tools/draw_experiment.py``) or by eye.
        """
        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"adversarial_generation evaluation: unsupported option(s) {unknown} for this task.")
        (noise,), real = self.data(model, "test", examples, seed)
        fake = model.predict(noise, batch_size=250, verbose=0)
        real_logits = model.discriminator.predict(real, batch_size=250, verbose=0)
        fake_logits = model.discriminator.predict(fake, batch_size=250, verbose=0)
        return {
            "discriminator_real_accuracy": float((real_logits > 0).mean()),
            "discriminator_fake_accuracy": float((fake_logits <= 0).mean()),
            "real_ink": float(real.mean()),
            "sample_ink": float(fake.mean()),
            "examples": int(len(real)),
        }

    def gate(self, reference, actual, labels=None, *, min_agreement=None, max_metric_drop=None):
        """The artifact's images within :data:`MAX_PIXEL_ERROR` (mean absolute) of Keras'."""
        limit = MAX_PIXEL_ERROR if max_metric_drop is None else max_metric_drop
        key = next(iter(reference))
        error = float(np.abs(np.asarray(reference[key], np.float64) - np.asarray(actual[key], np.float64)).mean())
        return {"output": key, "metric": "mean_abs_pixel_error", "artifact": error, "max_metric_drop": limit,
                "passed": bool(error <= limit)}

    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        """A grid of generated images (``outputs``; computed from ``inputs`` noise when ``None``)."""
        from keras_segattn.visualize import plot_image_grids

        if outputs is None:
            noise = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            outputs = model.predict(noise, verbose=0)
        return plot_image_grids({title or model.name: np.asarray(outputs)}, path)

    def predict_file(self, model, source, output):
        """``source`` is a seed (an integer): 16 samples from that seed's noise, saved as a grid."""
        from keras_segattn.validation import message

        try:
            seed = int(source)
        except ValueError:
            raise ValueError(message("predict", "source", "an integer seed for the generator's noise", source)) from None
        noise = np.random.default_rng(seed).standard_normal((16, model.inputs[0].shape[1])).astype(np.float32)
        self.plot(model, [noise], None, output)
        return {"output": output, "seed": seed, "samples": 16}


register_task(AdversarialGeneration)
