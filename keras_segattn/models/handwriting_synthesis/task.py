"""The ``handwriting`` task: text and pen strokes in, the next point's mixture density out."""

from __future__ import annotations

import numpy as np

from keras_segattn.tasks import Task, register_task

__all__ = ["HandwritingTask"]

#: the quantised-export gate: the artifact's NLL may exceed Keras' by at most this many nats per pen point
MAX_NLL_INCREASE = 0.05


class HandwritingTask(Task):
    """Handwriting synthesis (Graves 2013) and its unconditional baseline.

    The model is the teacher-forced training graph: ``[text (B, U),
    strokes (B, T + 1, 3)]`` -> ``[mixture (B, T, 6M + 1), phi (B, T, U)]``
    (unconditional: ``strokes`` -> ``mixture``). Embedded data: random
    lowercase words written with the Hershey script font, varied per example
    (:mod:`keras_segattn.data.handwriting`). Recipe: Adam with gradient-norm
    clipping, the mixture density NLL per pen point. Export gate: the NLL of
    the artifact's outputs may be at most :data:`MAX_NLL_INCREASE` nats per
    point above Keras'. Evaluation: held-out NLL per point and the
    legibility of sampled handwriting (DTW distance to the font's rendering
    of the same text).
    """

    name = "handwriting"
    predict_input = "text"
    predict_input_help = "the text to write"
    gate_metric = "nll_per_point"
    description = "[text ids (B, U), strokes (B, T+1, 3)] -> mixture density (B, T, 6M+1) and window phi (B, T, U)"

    # ------------------------------------------------------------------ data
    def _sizes(self, model):
        from keras_segattn.data.handwriting import vocabulary_size
        from keras_segattn.validation import message

        rnn = model.get_layer("synthesis")
        points = model.get_layer("strokes").output.shape[1]
        text = model.get_layer("text").output.shape[1] if rnn.conditional else None
        if rnn.conditional and rnn.vocab_size < vocabulary_size():
            raise ValueError(
                message("default data", f"model {model.name!r}'s vocab_size", f">= {vocabulary_size()} (padding, [end], space and "
                        "26 letters) for the embedded handwriting", rnn.vocab_size)
            )
        letters = 3 if text is None else text - 1
        if letters < 1:
            raise ValueError(message("default data", f"model {model.name!r}'s max_text_length", ">= 2", text))
        return {"max_letters": letters, "max_text_length": text, "max_points": None if points is None else points - 1}

    def arrays(self, model, split="test", count=32, seed=0) -> dict:
        """The embedded handwriting at ``model``'s sizes (``text``, ``strokes``, ``length``, ``texts``)."""
        from keras_segattn.data.handwriting import handwriting_arrays

        return handwriting_arrays(split, count, seed=seed, **self._sizes(model))

    def data(self, model, split="test", count=32, seed=0):
        data = self.arrays(model, split, count, seed)
        inputs = [data["text"], data["strokes"]] if model.get_layer("synthesis").conditional else [data["strokes"]]
        return inputs, data["strokes"][:, 1:]

    # ------------------------------------------------------------- training
    def loss(self):
        from keras_segattn.training.mixture_density import MixtureDensityLoss

        loss = MixtureDensityLoss()

        # The synthesis model returns [mixture, phi]; only the mixture carries a loss.
        def mixture_loss(y_true, outputs):
            return loss(y_true, outputs[0] if isinstance(outputs, (list, tuple)) else outputs)

        return mixture_loss

    def compile(self, model, *, learning_rate=3e-3, total_steps=None, jit_compile="auto"):
        """Adam (gradient norm clipped at 1: Graves clips the LSTM and output derivatives), the NLL per point."""
        import keras

        from keras_segattn.training.mixture_density import MixtureDensityLoss
        from keras_segattn.training.recipes import warmup_cosine
        from keras_segattn.training.schedules import check_learning_rate

        learning_rate = check_learning_rate("compile", learning_rate)
        schedule = warmup_cosine(learning_rate, total_steps) if total_steps else learning_rate
        conditional = model.get_layer("synthesis").conditional
        model.compile(
            optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0),
            loss=[MixtureDensityLoss(), None] if conditional else MixtureDensityLoss(),
            jit_compile=jit_compile,
        )
        return model

    def quick_fit(self, model, seed=0):
        return super().quick_fit(model, seed, steps=30, learning_rate=3e-3)

    # ------------------------------------------------------------ evaluation
    def evaluate(self, model, *, examples=200, seed=0, samples=None, bias=None, **options):
        """NLL per pen point (nats) on ``examples`` held-out texts, and the legibility of sampled handwriting.

        ``samples`` (default 32) texts are written with ``bias`` (default 1)
        and compared with the font's plain rendering of the same text:
        ``legibility_dtw`` is the mean normalised DTW distance (lower is
        more legible); ``finished`` the share whose window reached the end.
        """
        from keras_segattn.data.handwriting import write_text
        from keras_segattn.models.handwriting_synthesis.writer import Writer
        from keras_segattn.training.handwriting import legibility_report
        from keras_segattn.training.mixture_density import mean_nll

        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"handwriting evaluation: unsupported option(s) {unknown} for this task.")
        inputs, targets = self.data(model, "test", examples, seed)
        outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=64, verbose=0)
        mixture = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        report = {"nll_per_point": mean_nll(targets, mixture), "examples": int(len(targets))}
        texts = self.arrays(model, "test", samples or 32, seed + 1)["texts"]
        written = Writer(model).write(texts, bias=1.0 if bias is None else bias, seed=seed)
        legibility = legibility_report([w.strokes for w in written], [write_text(t, vary=False) for t in texts])
        report["legibility_dtw"] = legibility["mean"]
        report["legibility_dtw_median"] = legibility["median"]
        report["finished"] = float(np.mean([w.finished for w in written]))
        report["samples"] = len(texts)
        return report

    # ---------------------------------------------------------- export gate
    def gate(self, reference, actual, labels=None, *, min_agreement=None, max_metric_drop=None):
        """The artifact's NLL per point (with labels) at most ``max_metric_drop`` nats above Keras'.

        Without labels: the mixture parameters' largest difference relative
        to their scale must stay below 5% (quantisation noise, not a wrong graph).
        """
        from keras_segattn.training.mixture_density import mean_nll

        limit = MAX_NLL_INCREASE if max_metric_drop is None else max_metric_drop
        key = "mixture" if "mixture" in reference else next(iter(reference))
        ref, got = np.asarray(reference[key], np.float32), np.asarray(actual[key], np.float32)
        scale = float(np.abs(ref).max()) or 1.0
        report = {"output": key, "max_relative_error": float(np.abs(ref - got).max()) / scale}
        if labels is None:
            report["passed"] = report["max_relative_error"] <= 0.05
            return report
        keras_nll, artifact_nll = mean_nll(labels, ref), mean_nll(labels, got)
        report.update({"metric": "nll_per_point", "keras": keras_nll, "artifact": artifact_nll,
                       "increase_nats": artifact_nll - keras_nll, "max_metric_drop": limit,
                       "passed": bool(artifact_nll - keras_nll <= limit)})
        return report

    # ------------------------------------------------------------- pictures
    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        """``outputs``: :class:`~keras_segattn.models.handwriting_synthesis.Handwriting` samples (``inputs`` unused)."""
        from keras_segattn.visualize import plot_handwriting

        samples = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        phis = [s.phi for s in samples] if all(s.phi.shape[1] for s in samples) else None
        return plot_handwriting([s.strokes for s in samples], path, texts=[s.text for s in samples], phis=phis,
                                title=title, titles=labels)

    def predict_file(self, model, source, output):
        """``source`` is the text to write; saves the handwriting with its window to ``output``."""
        from keras_segattn.models.handwriting_synthesis.writer import Writer

        sample = Writer(model).write([source], bias=1.0)[0]
        self.plot(model, None, [sample], output)
        return {"output": output, "text": sample.text, "points": int(len(sample.strokes)), "finished": sample.finished}


register_task(HandwritingTask)
