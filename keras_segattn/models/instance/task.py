"""The ``instance_segmentation`` task: detect instances, give each a class and a mask; scored by COCO mask AP."""

from __future__ import annotations

import numpy as np

from keras_segattn.tasks import Task, register_task

__all__ = ["InstanceSegmentation", "MAX_AP_DROP"]

#: the quantised-export gate: the artifact's mask AP@0.5 may be at most this far (0-1) below Keras'
MAX_AP_DROP = 0.05


def _num_classes(model) -> int:
    return int(model.output["class_logits"].shape[-1]) - 1


def _object_names(task, model):
    """Names of classes 1..K (the plots' convention: class k is name k - 1), or ``None``."""
    names = task.class_names(model)
    return None if names is None else names[1:]


def _detections(outputs) -> dict:
    from keras_segattn.models.instance.detections import DETECTION_KEYS

    return {k: np.asarray(outputs[k]) for k in DETECTION_KEYS}


class InstanceSegmentation(Task):
    """Instance segmentation (SDS, Hypercolumns, MNC): boxes, classes, scores and masks per instance.

    Models map raw RGB ``(B, H, W, 3)`` to a dict holding the shared
    detection layout (``boxes (B, D, 4)`` normalised ``(y1, x1, y2, x2)``,
    ``scores (B, D)``, ``classes (B, D)`` with 0 for an empty slot,
    ``masks (B, D, H, W)`` probabilities, ``num_detections (B,)``) beside
    their heads' raw outputs; they train with ``model.fit(images, targets)``
    (their own multi-task loss). Embedded data: overlapping shape instances
    (:mod:`keras_segattn.data.instance_shapes`). Evaluation: pycocotools'
    mask and box AP at IoU 0.5, 0.7 and 0.5:0.95. Export gate (quantised
    formats): mask AP@0.5 at most :data:`MAX_AP_DROP` below Keras'.
    """

    name = "instance_segmentation"
    gate_metric = "mask_ap50"
    description = "raw RGB (B, H, W, 3) -> dict of boxes, scores, classes, masks (B, D, H, W); COCO mask AP"

    def data(self, model, split="test", count=32, seed=0):
        from keras_segattn.data.instance_shapes import instance_shapes_arrays
        from keras_segattn.data.synthetic_shapes import SHAPES
        from keras_segattn.validation import message

        height, width = model.inputs[0].shape[1:3]
        if height != width:
            raise ValueError(message("default data", f"model {model.name!r}'s input", "square for the embedded "
                                     "shapes (pass your own data)", (height, width)))
        # a model with more classes than shapes (VOC's 20) sees the first len(SHAPES) of them
        num_classes = min(_num_classes(model), len(SHAPES))
        images, targets = instance_shapes_arrays(split, count, image_size=height, num_classes=num_classes, seed=seed)
        proposals = model.default_proposals(count) if hasattr(model, "default_proposals") else None
        return [images.astype(np.float32)] + ([] if proposals is None else [proposals]), targets

    def class_names(self, model):
        from keras_segattn.data.synthetic_shapes import SHAPES

        num_classes = _num_classes(model)
        return ["background", *SHAPES[:num_classes]] if num_classes <= len(SHAPES) else None

    def loss(self):
        raise NotImplementedError(
            "instance_segmentation has no single loss function: the model's compute_loss sums its family's "
            "multi-task loss (model.loss_terms(targets, outputs))."
        )

    def training_loss(self, model, x, y):
        return model.compute_loss(x, y, model(x, training=True))

    def compile(self, model, *, learning_rate=1e-3, total_steps=None, jit_compile="auto"):
        """Adam (gradient norm clipped at 10) with warm-up + cosine; the loss is the model's own."""
        import keras

        from keras_segattn.training.recipes import warmup_cosine
        from keras_segattn.training.schedules import check_learning_rate

        learning_rate = check_learning_rate("compile", learning_rate)
        schedule = warmup_cosine(learning_rate, total_steps) if total_steps else learning_rate
        model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=10.0), jit_compile=jit_compile)
        return model

    def quick_fit(self, model, seed=0):
        return super().quick_fit(model, seed, examples=128, batch_size=16, steps=60, learning_rate=2e-3)

    def sample_batch(self, model, batch_size=2, seed=0, size=None):
        return self._model_inputs(self.data(model, "validation", batch_size, seed))

    def predictions(self, model, inputs, batch_size=16) -> dict:
        """The detection dict of ``model`` on ``inputs`` (a list of NumPy arrays: images, and proposals where
        the model takes them)."""
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]

        def feed(i):
            batch = [x[i:i + batch_size] for x in inputs]
            return batch if len(batch) > 1 else batch[0]

        outputs = [_detections(model(feed(i), training=False)) for i in range(0, len(inputs[0]), batch_size)]
        return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}

    def evaluate(self, model, *, examples=500, seed=0, **options):
        """COCO mask and box AP (pycocotools) on ``examples`` embedded test images."""
        from keras_segattn.training.instance_metrics import coco_instance_evaluation

        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"instance_segmentation evaluation: unsupported option(s) {unknown} for this task.")
        inputs, targets = self.data(model, "test", examples, seed)
        return coco_instance_evaluation(targets, self.predictions(model, inputs))

    def gate(self, reference, actual, labels=None, *, min_agreement=None, max_metric_drop=None):
        """With labels: the artifact's mask AP@0.5 at most ``max_metric_drop`` (default :data:`MAX_AP_DROP`)
        below Keras'. Without: the detection scores within 5% of their scale."""
        from keras_segattn.training.instance_metrics import coco_instance_evaluation

        limit = MAX_AP_DROP if max_metric_drop is None else max_metric_drop
        ref_scores, got_scores = np.asarray(reference["scores"]), np.asarray(actual["scores"])
        report = {"output": "scores", "max_abs_error": float(np.abs(ref_scores - got_scores).max())}
        if labels is None:
            report["passed"] = report["max_abs_error"] <= 0.05
            return report
        keras_ap = coco_instance_evaluation(labels, _detections(reference))["mask_ap50"]
        artifact_ap = coco_instance_evaluation(labels, _detections(actual))["mask_ap50"]
        report.update({"metric": "mask_ap50", "keras": keras_ap, "artifact": artifact_ap,
                       "drop": keras_ap - artifact_ap, "max_metric_drop": limit,
                       "passed": bool(keras_ap - artifact_ap <= limit)})
        return report

    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        """Each image with its detected instances (masks, boxes, class and score)."""
        from keras_segattn.visualize import plot_instance_grid

        images = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        detections = _detections(outputs) if outputs is not None else self.predictions(model, inputs)
        return plot_instance_grid(images, detections, path, class_names=_object_names(self, model), title=title)

    def predict_file(self, model, source, output):
        """Detect the instances of the image ``source`` (resized to the model's input) and draw them to ``output``."""
        from keras_segattn.tasks.segmentation import read_image
        from keras_segattn.visualize import plot_instances

        image = read_image(source, model.inputs[0].shape[1:3])
        proposals = model.default_proposals(1) if hasattr(model, "default_proposals") else None
        detections = self.predictions(model, [image[None]] + ([] if proposals is None else [proposals]))
        one = {k: v[0] for k, v in detections.items()}
        plot_instances(image, one, output, class_names=_object_names(self, model))
        names = self.class_names(model) or []
        count = int(one["num_detections"])
        found = [
            {"class": names[c] if c < len(names) else int(c), "score": round(float(s), 3),
             "box": [round(float(v), 4) for v in b]}
            for b, s, c in zip(one["boxes"][:count], one["scores"][:count], one["classes"][:count])
        ]
        return {"output": output, "instances": found}


register_task(InstanceSegmentation)
