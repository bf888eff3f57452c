"""MNC (Dai et al. 2016): its losses on hand-made cases, the cascade's gradient path, the output layout, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_segattn as ksa
from keras_segattn.models.instance import losses
from keras_segattn.models.instance.boxes import generate_anchors
from tests.helpers import check_model


def _targets(boxes, classes, size=32):
    """Padded targets with rectangular masks filling each box exactly (boxes on pixel edges)."""
    boxes = np.asarray(boxes, np.float32).reshape(1, -1, 4)
    masks = np.zeros((1, boxes.shape[1], size, size), np.uint8)
    for i, (y1, x1, y2, x2) in enumerate(boxes[0]):
        if classes[i]:
            masks[0, i, round(y1 * size):round(y2 * size), round(x1 * size):round(x2 * size)] = 1
    return {"boxes": boxes, "classes": np.asarray(classes, np.int32).reshape(1, -1), "masks": masks}


def test_rpn_loss_vanishes_for_perfect_predictions_and_is_large_for_wrong_ones():
    anchors = generate_anchors((4, 4), (32, 32), sizes=(8.0,), aspect_ratios=(1.0,))
    gt = anchors[5]  # one anchor is exactly the instance: IoU 1, every other anchor < 0.3
    targets = _targets([gt, [0, 0, 0, 0]], [1, 0])
    logits = np.full((1, 16), -30.0, np.float32)
    logits[0, 5] = 30.0
    objectness, box = losses.rpn_loss(anchors, logits, np.zeros((1, 16, 4), np.float32), targets)
    assert float(objectness) < 1e-6 and float(box) == 0.0
    objectness, _ = losses.rpn_loss(anchors, -logits, np.zeros((1, 16, 4), np.float32), targets)
    assert float(objectness) > 50.0
    deltas = np.zeros((1, 16, 4), np.float32)
    deltas[0, 5] = [0.5, 0.0, 0.0, 0.0]  # half an anchor off: smooth L1 of 0.5 (delta 1/9) = 0.5 - 1/18
    _, box = losses.rpn_loss(anchors, logits, deltas, targets)
    np.testing.assert_allclose(float(box), 0.5 - 1 / 18, rtol=1e-5)


def test_stage_losses_vanish_for_perfect_predictions():
    targets = _targets([[0.25, 0.25, 0.75, 0.5], [0, 0, 0, 0]], [2, 0])
    boxes = np.array([[[0.25, 0.25, 0.75, 0.5], [0.8, 0.8, 1.0, 1.0]]], np.float32)  # a hit and a background box
    class_logits = np.array([[[0, 0, 40.0, 0], [40.0, 0, 0, 0]]], np.float32)
    mask_logits = np.full((1, 2, 6, 6), 40.0, np.float32)  # the hit's mask is all foreground
    mask_logits[0, 1] = -40.0  # background box: no mask loss whatever it says
    terms = losses.stage_losses(boxes, np.ones((1, 2)), class_logits, mask_logits, targets)
    assert float(terms["classification"]) < 1e-6 and float(terms["mask"]) < 1e-6
    wrong = losses.stage_losses(boxes, np.ones((1, 2)), class_logits[:, ::-1], -mask_logits, targets)
    assert float(wrong["classification"]) > 10 and float(wrong["mask"]) > 10


def test_stage_losses_ignore_padding_boxes():
    targets = _targets([[0.25, 0.25, 0.75, 0.5]], [1])
    boxes = np.array([[[0.25, 0.25, 0.75, 0.5], [0.0, 0.0, 0.2, 0.2]]], np.float32)
    class_logits = np.array([[[0, 40.0, 0, 0], [0, 40.0, 0, 0]]], np.float32)  # the second says "class 1" wrongly
    mask_logits = np.full((1, 2, 4, 4), 40.0, np.float32)
    padded = losses.stage_losses(boxes, np.array([[1.0, 0.0]]), class_logits, mask_logits, targets)
    counted = losses.stage_losses(boxes, np.array([[1.0, 1.0]]), class_logits, mask_logits, targets)
    assert float(padded["classification"]) < 1e-6 < 10 < float(counted["classification"])


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return ksa.build_model("mnc_tiny")


def _batch(model, count=2):
    return model.task.sample_batch(model, batch_size=count)


def test_images_without_instances_give_finite_losses_that_teach_background(model):
    x, y = _batch(model)
    empty = {k: np.zeros_like(v) for k, v in y.items()}
    terms = model.loss_terms(empty, model(x, training=True))
    assert all(np.isfinite(float(v)) for v in terms.values())
    assert float(terms["rpn_box"]) == 0.0 and float(terms["stage_mask"]) == 0.0
    assert float(terms["stage_classification"]) > 0  # everything must become background


def test_degenerate_ground_truth_boxes_are_never_matched(model):
    x, y = _batch(model)
    degenerate = {k: v.copy() for k, v in y.items()}
    degenerate["boxes"][:, :, 2:] = degenerate["boxes"][:, :, :2]  # zero area
    terms = model.loss_terms(degenerate, model(x, training=True))
    assert all(np.isfinite(float(v)) for v in terms.values()) and float(terms["stage_mask"]) == 0.0


def test_mask_loss_reaches_the_rpn_box_regression_through_roi_warping(model):
    """The cascade's point (section 3.2): stage 2's loss has a gradient w.r.t. the proposal boxes."""
    x, y = _batch(model, 4)
    layer = model.get_layer("rpn_box")
    with tf.GradientTape() as tape:
        terms = model.loss_terms(y, model(x, training=True))
        later = terms["stage_mask"] + terms["stage_classification"]
    grads = tape.gradient(later, layer.trainable_weights)
    assert float(terms["stage_mask"]) > 0
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_detection_layout(model):
    x, _ = _batch(model, 3)
    out = model(x, training=False)
    count = out["num_detections"].numpy()
    classes, scores, masks = out["classes"].numpy(), out["scores"].numpy(), out["masks"].numpy()
    d = classes.shape[1]
    assert out["masks"].shape == (3, d, 64, 64) and out["boxes"].shape == (3, d, 4)
    assert np.all((0 <= count) & (count <= d))
    for b in range(3):
        assert np.all(classes[b, : count[b]] >= 1) and np.all(classes[b, : count[b]] <= 3)
        assert np.all(classes[b, count[b]:] == 0) and np.all(scores[b, count[b]:] == 0)
        assert np.all(masks[b, count[b]:] == 0)
        assert np.all(np.diff(scores[b, : count[b]]) <= 1e-7)  # best first
    assert masks.min() >= 0 and masks.max() <= 1


@pytest.mark.parametrize("key, shape, match", [
    ("masks", (2, 4, 32, 32), r'targets\["masks"\] must be of shape \(B, M, 64, 64\)'),
    ("classes", (2, 3), r'targets\["classes"\] must be of shape'),
    ("boxes", (2, 4, 5), r'targets\["boxes"\] must be of shape'),
])
def test_wrongly_shaped_targets_are_refused_by_name(model, key, shape, match):
    x, y = _batch(model)
    bad = dict(y, **{key: np.zeros(shape, y[key].dtype)})
    with pytest.raises(ValueError, match=match):
        model.loss_terms(bad, model(x))
    with pytest.raises(ValueError, match="targets must be a dict"):
        model.loss_terms({"boxes": y["boxes"]}, model(x))


@pytest.mark.parametrize("overrides, match", [
    ({"input_shape": (None, None, 3)}, "static"),
    ({"input_shape": (62, 64, 3)}, "multiples of the trunk's stride 4"),
    ({"stages": 4}, "stages"),
    ({"anchor_sizes": ()}, "anchor_sizes"),
    ({"mask_size": 1}, "mask_size"),
])
def test_builder_errors_name_the_argument(overrides, match):
    with pytest.raises(ValueError, match=match):
        ksa.build_model("mnc_tiny", **overrides)


def test_five_stage_cascade_reuses_the_stage_2_3_weights():
    three, five = ksa.build_model("mnc_tiny"), ksa.build_model("mnc_tiny", stages=5)
    head = 2 * ksa.get_spec("mnc_tiny").defaults["head_units"]
    assert five.count_params() == three.count_params() + head * 4 + 4  # only the box regressor is new
    assert {"refined_boxes", "mask_logits_2", "class_logits_2"} <= set(five.output)


def test_five_stage_cascade_passes_the_shared_helper(tmp_path):
    check_model("mnc_tiny", tmp_path=tmp_path, overrides={"stages": 5})


def test_cli_trains_evaluates_and_predicts_an_instance_segmenter(tmp_path, capsys):
    import json

    from PIL import Image

    from keras_segattn.cli import main
    from keras_segattn.data import instance_shapes_arrays

    model_path = str(tmp_path / "m.keras")
    assert main(["train", "mnc_tiny", "-o", model_path, "--epochs", "1", "--train-examples", "32",
                 "--val-examples", "16", "--batch-size", "16"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["task"] == "instance_segmentation"
    assert main(["evaluate", model_path, "--examples", "8"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["images"] == 8 and all(0 <= metrics[k] <= 1 for k in ("mask_ap50", "mask_ap70", "box_ap"))
    images, _ = instance_shapes_arrays("test", 1, image_size=64)
    Image.fromarray(images[0].astype("uint8")).save(tmp_path / "x.png")
    assert main(["predict", model_path, str(tmp_path / "x.png"), "-o", str(tmp_path / "p.png")]) == 0
    found = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert isinstance(found["instances"], list) and (tmp_path / "p.png").stat().st_size > 0
