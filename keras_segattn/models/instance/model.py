"""``InstanceSegmentationModel``: the functional model class of the instance-segmentation families."""

from __future__ import annotations

import keras

from keras_segattn.tasks.model import TaskModel


@keras.saving.register_keras_serializable(package="keras_segattn")
class InstanceSegmentationModel(TaskModel):
    """A :class:`~keras_segattn.tasks.TaskModel` whose loss is the family's multi-task loss.

    Instance segmenters output a dict: the shared detection layout
    (``boxes``, ``scores``, ``classes``, ``masks``, ``num_detections``) and
    their heads' raw outputs. Their losses need the padded ground truth
    (a dict, :mod:`keras_segattn.data.instance_shapes`) matched to the boxes
    the model chose, so ``compute_loss`` calls the family's loss function,
    ``family_loss(model, targets, outputs) -> {name: scalar}``, found by
    name in ``LOSSES`` (:func:`register_loss`) (a subclass would need its own registration per
    family). ``model.fit(images, targets)`` then trains end to end;
    :meth:`loss_terms` gives the parts by name.
    """

    LOSSES: dict = {}

    def __init__(self, *args, loss_name=None, proposal_source=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_name = loss_name
        self.proposal_source = None if proposal_source is None else dict(proposal_source)

    def default_proposals(self, count: int):
        """``(count, P, 4)`` boxes for a model whose second input is ``proposals``: the built-in
        :func:`~keras_segattn.models.instance.proposal_source.sliding_window_proposals` with the arguments the
        model was built with (``proposal_source``); ``None`` for a model that makes its own (MNC)."""
        import numpy as np

        from keras_segattn.models.instance.proposal_source import sliding_window_proposals

        if self.proposal_source is None:
            return None
        boxes = sliding_window_proposals(tuple(self.inputs[0].shape[1:3]), **self.proposal_source)
        return np.broadcast_to(boxes, (count, *boxes.shape)).copy()

    def loss_terms(self, targets, outputs):
        """The named scalar losses of ``outputs`` against ``targets`` (layer losses not included)."""
        if self.loss_name not in self.LOSSES:
            raise ValueError(
                f"{self.name}: no instance-segmentation loss named {self.loss_name!r}; known: {sorted(self.LOSSES)}."
            )
        check_target_shapes(self.name, targets, tuple(self.inputs[0].shape[1:3]))
        return self.LOSSES[self.loss_name](self, targets, outputs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = sum(self.loss_terms(y, y_pred).values())
        for extra in self.losses:
            total = total + keras.ops.cast(extra, "float32")
        return total

    def get_config(self):
        config = super().get_config()
        config["loss_name"] = self.loss_name
        config["proposal_source"] = self.proposal_source
        return config


def check_target_shapes(where, targets, image_size):
    """Static checks of padded ground truth (arrays or traced tensors): keys, ranks, agreeing ``M``, image-sized masks."""
    from keras_segattn.validation import message

    expected = 'a dict with "boxes" (B, M, 4), "classes" (B, M) and "masks" (B, M, H, W)'
    if not isinstance(targets, dict) or any(k not in targets for k in ("boxes", "classes", "masks")):
        shown = f"a dict with keys {sorted(map(str, targets))}" if isinstance(targets, dict) else type(targets).__name__
        raise ValueError(f"{where}: targets must be {expected}, received {shown}.")
    boxes, classes, masks = (tuple(targets[k].shape) for k in ("boxes", "classes", "masks"))
    height, width = image_size
    if len(masks) != 4 or masks[2:] != (height, width):
        raise ValueError(message(where, 'targets["masks"]', f"of shape (B, M, {height}, {width}) (the image size)",
                                 f"shape {masks}"))
    if classes != masks[:2]:
        raise ValueError(message(where, 'targets["classes"]', f"of shape (B, M) = {masks[:2]} like the masks",
                                 f"shape {classes}"))
    if boxes != (*masks[:2], 4):
        raise ValueError(message(where, 'targets["boxes"]', f"of shape (B, M, 4) = {(*masks[:2], 4)} like the masks",
                                 f"shape {boxes}"))


def register_loss(name):
    """Decorator: ``fn(model, targets, outputs) -> {name: scalar}`` as the loss ``name``."""

    def decorator(fn):
        InstanceSegmentationModel.LOSSES[name] = fn
        return fn

    return decorator
