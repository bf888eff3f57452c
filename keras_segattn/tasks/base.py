"""``Task``: everything that differs between tasks, in one object.

A model family is a builder plus the Task its models solve. The Task carries
what the rest of the library would otherwise dispatch on by name: the embedded
data (train / validation / test at the model's input size), the compile recipe,
the quantised-export gate, the prediction plot, and what ``keras-segattn
train / evaluate / predict`` do. Export, the CLI, the tools and the shared test
helper only call these methods (in the spirit of keras-hub's task classes).

A new task subclasses :class:`Task`, sets ``name``, implements :meth:`data`,
:meth:`compile` (and usually :meth:`predict_file`), and registers an instance
with :func:`keras_segattn.tasks.register_task`; everything else has a default.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Task"]


class Task:
    """Base class of the task objects (semantic segmentation, classification, ...).

    Attributes:
        name: the registry key (``"semantic_segmentation"``).
        gate_metric: the metric the quantised-export gate compares, reported
            in the manifest (``"mean_iou"``, ``"accuracy"``...).
        description: one line for ``keras-segattn list`` and the README.
        monitor: ``(logged metric, "max" or "min")`` that picks the best
            checkpoint (``keras-segattn train --checkpoint-best``).
        predict_input: what :meth:`predict_file` (``keras-segattn predict
            INPUT``) reads: ``"image"`` (a file), ``"text"`` or ``"seed"``
            (an integer), so the CLI can refuse the wrong kind in one line.
        predict_input_help: the same in words, for error messages.
    """

    name: str = ""
    gate_metric: str = "accuracy"
    description: str = ""
    monitor: tuple = ("val_loss", "min")
    predict_input: str = "image"
    predict_input_help: str = "an image file (.png, .jpg, .npy)"

    # ------------------------------------------------------------------ data
    def data(self, model, split: str = "test", count: int = 32, seed: int = 0):
        """``(inputs list of arrays, labels or None)``: ``count`` embedded examples.

        ``split`` is ``"train"``, ``"validation"`` or ``"test"``; the data fit
        ``model``'s input size (no download, deterministic by ``seed``).
        """
        raise NotImplementedError(f"task {self.name!r} has no embedded data; pass data explicitly.")

    def class_names(self, model):
        """The names of ``model``'s output classes on the embedded data (index order), or ``None``
        where the task has no classes; exports record them in the manifest for the apps that read it."""
        return None

    def web_page(self, model):
        """The page of the repository's ``web/`` app that shows ``model`` (``"index.html"``...), or
        ``None`` where there is none (:mod:`keras_segattn.web`)."""
        return None

    def sample_batch(self, model, batch_size: int = 2, seed: int = 0, size=None):
        """``(x, y)`` for one ``model.fit`` step: a single array when the model has one input, else a tuple."""
        return self._model_inputs(self.data(model, "validation", batch_size, seed))

    # ------------------------------------------------------------- training
    def loss(self):
        """The training loss, called as ``loss(y_true, model_outputs)``."""
        raise NotImplementedError(f"task {self.name!r} defines no loss.")

    def training_loss(self, model, x, y):
        """The scalar ``fit`` minimises on one batch, differentiable w.r.t. every trainable weight
        (the shared test helper checks its gradients): the task loss plus what layers add with
        ``add_loss``. A task whose model trains with its own ``train_step`` overrides it."""
        return self.loss()(y, model(x, training=True)) + sum(model.losses)

    def compile(self, model, *, learning_rate: float = 1e-3, total_steps: int | None = None, jit_compile="auto"):
        """Compile ``model`` with the task's optimizer, schedule, loss and metrics; returns it."""
        raise NotImplementedError(f"task {self.name!r} defines no compile recipe.")

    def quick_fit(self, model, seed: int = 0, *, examples: int = 64, batch_size: int = 16, steps: int = 60,
                  learning_rate: float = 2e-3):
        """Train ``model`` briefly on embedded data so its outputs are decisive
        (the int8 export gates compare argmaxes; an untrained model's are ties):
        ``steps`` batches of ``batch_size`` from ``examples`` embedded examples.
        A task overrides it to call this with its own sizes."""
        import tensorflow as tf

        # 64x64 where the model's size is dynamic (sample_batch's size argument).
        x, y = self.sample_batch(model, batch_size=examples, seed=seed, size=(64, 64))
        self.compile(model, learning_rate=learning_rate, jit_compile=False)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch_size)
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        return model

    def train(
        self,
        model,
        *,
        train_examples: int = 4096,
        val_examples: int = 512,
        epochs: int = 5,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        seed: int = 0,
        time_limit: float | None = None,
        jit_compile="auto",
        strategy=None,
        backup_dir: str | None = None,
        save_freq="epoch",
        callbacks=(),
        verbose: int = 2,
        **options,
    ):
        """Train ``model`` on the task's embedded data; returns ``(model, history)``.

        The default recipe: :meth:`compile` with a warm-up + cosine schedule over
        the run, a seeded shuffled batch stream resumable to the exact step
        (``backup_dir``), the task's validation split, an optional time limit.
        ``options`` are task-specific (ignored here when ``None``).
        """
        import tensorflow as tf

        from keras_segattn.training.callbacks import TimeLimit
        from keras_segattn.training.distribute import shard_for_strategy
        from keras_segattn.training.recipes import fit_resumable

        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"{self.name} training: unsupported option(s) {unknown} for this task.")
        strategy = strategy or tf.distribute.get_strategy()
        x, y = self._model_inputs(self.data(model, "train", train_examples, seed))
        vx, vy = self._model_inputs(self.data(model, "validation", val_examples, seed))
        count = len(x[0] if isinstance(x, tuple) else x)  # labels may be a dict (instance targets)
        steps_per_epoch = max(1, count // batch_size)
        with strategy.scope():
            self.compile(
                model, learning_rate=learning_rate, total_steps=steps_per_epoch * epochs, jit_compile=jit_compile
            )
        train = tf.data.Dataset.from_tensor_slices((x, y))

        def make_stream(start_step):
            # One shuffled order per epoch, fixed by seed: the stream is the same
            # on every restart, so a resumed run continues at the exact batch.
            stream = train.repeat(epochs).shuffle(min(count, 10_000), seed=seed, reshuffle_each_iteration=True)
            return shard_for_strategy(stream.batch(batch_size, drop_remainder=True).skip(start_step), strategy)

        validation = shard_for_strategy(tf.data.Dataset.from_tensor_slices((vx, vy)).batch(batch_size), strategy)
        limit = TimeLimit(time_limit) if time_limit else None
        history = fit_resumable(
            model,
            make_stream,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            validation_data=validation,
            callbacks=list(callbacks) + ([limit] if limit else []),
            backup_dir=backup_dir,
            save_freq=save_freq,
            verbose=verbose,
        )
        history.time_limit = limit
        return model, history

    def evaluate(self, model, *, examples: int = 1000, seed: int = 0, **options) -> dict:
        """Held-out metrics of ``model`` on the task's embedded test data (a JSON-able dict)."""
        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"{self.name} evaluation: unsupported option(s) {unknown} for this task.")
        inputs, labels = self.data(model, "test", examples, seed)
        check_finite(inputs, "evaluate inputs")
        outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=64, verbose=0)
        first = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
        predictions = first.argmax(-1)
        return {"accuracy": float((predictions == labels).mean()), "examples": int(len(predictions))}

    # ---------------------------------------------------------- export gate
    def gate(self, reference: dict, actual: dict, labels=None, *, min_agreement=None, max_metric_drop=None) -> dict:
        """The quantised-export gate (TFLite float16 / dynamic / int8).

        Default: argmax agreement of the first output with Keras (at least
        ``parity.MIN_AGREEMENT``), and with labels the drop of
        :meth:`gate_score` in points (at most ``parity.MAX_METRIC_DROP``).
        """
        from keras_segattn.export.parity import argmax_gate

        return argmax_gate(
            reference, actual, labels, metric=self.gate_metric, score=self.gate_score,
            min_agreement=min_agreement, max_metric_drop=max_metric_drop,
        )

    def gate_score(self, labels, predictions, num_classes: int) -> float:
        """The gate's metric (0-1) of argmax ``predictions`` against ``labels``."""
        labels = np.asarray(labels).reshape(-1)
        predictions = np.asarray(predictions).reshape(-1)
        return float((labels == predictions).mean()) if labels.size else 0.0

    # ------------------------------------------------------------- pictures
    def plot(self, model, inputs, outputs, path, *, labels=None, title=None) -> str:
        """Save a picture of ``model``'s predictions to ``path`` (PNG); returns the path."""
        raise NotImplementedError(f"task {self.name!r} has no prediction plot.")

    # -------------------------------------------------------------- the CLI
    def predict_file(self, model, source: str, output: str) -> dict:
        """``keras-segattn predict``: run ``model`` on ``source`` (a file, or text
        for text tasks), write a picture to ``output`` and return what to print."""
        raise NotImplementedError(f"task {self.name!r} has no 'predict' command.")

    # -------------------------------------------------------------- helpers
    def _model_inputs(self, data):
        """``(x, labels)`` for ``tf.data``: the array of a single-input model, a tuple for several."""
        inputs, labels = data
        return (inputs[0] if len(inputs) == 1 else tuple(inputs)), labels

    def __repr__(self):
        return f"<Task {self.name!r}>"


def check_finite(arrays, what: str):
    """Refuse NaN/Inf in float inputs: ``what`` (e.g. ``"parity_data"``) names them in the error."""
    for index, array in enumerate(arrays):
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            if bad:
                label = what if len(arrays) == 1 else f"{what}[{index}]"
                raise ValueError(
                    f"{label} must be finite, received {bad} NaN/Inf value(s) in an array of shape "
                    f"{tuple(array.shape)}; a prediction on them would be meaningless."
                )
