"""SDS (Hariharan et al. 2014): region NMS and the loss against NumPy references, the layout, degenerate inputs, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_segattn as ksa
from keras_segattn.models.instance.boxes import batched_nms, paste_masks
from keras_segattn.models.instance.proposal_source import sliding_window_proposals
from keras_segattn.models.sds import (
    FOREGROUND_FRACTION,
    ProposalBoxes,
    RegionDetections,
    greedy_nms,
    mask_iou,
    sds_loss,
)


# --------------------------------------------------------------------- NumPy references
def _np_mask_iou(masks):
    flat = masks.reshape(len(masks), -1).astype(np.float64)
    inter = flat @ flat.T
    area = flat.sum(1)
    union = area[:, None] + area[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _np_greedy(overlaps, eligible, threshold):
    """Textbook greedy NMS: in order, keep a candidate no kept one overlaps by more than ``threshold``."""
    kept = []
    for i in range(len(eligible)):
        if eligible[i] and all(overlaps[j, i] <= threshold for j in kept):
            kept.append(i)
    return kept


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_detections(layer, boxes, mask_boxes, class_logits, mask_logits, valid):
    """RegionDetections in NumPy (the mask pasting excepted: ``paste_masks`` has its own tests)."""
    probabilities = _softmax(class_logits.astype(np.float64))[..., 1:]
    out = []
    for b in range(len(boxes)):
        scores = np.where(valid[b] > 0, probabilities[b].max(-1), 0.0)
        classes = probabilities[b].argmax(-1) + 1
        order = np.argsort(-scores, kind="stable")[: layer.pre_nms_top_k]
        masks = 1 / (1 + np.exp(-mask_logits[b][order]))
        grid = paste_masks(masks[None].astype(np.float32), mask_boxes[b][order][None], layer.overlap_size)[0].numpy()
        overlaps = _np_mask_iou(grid >= 0.5)
        overlaps = overlaps * (classes[order][:, None] == classes[order][None, :])
        eligible = (valid[b][order] > 0) & (scores[order] >= layer.score_threshold)
        kept = [order[i] for i in _np_greedy(overlaps, eligible, layer.nms_iou)][: layer.max_detections]
        out.append({"boxes": boxes[b][kept], "scores": scores[kept], "classes": classes[kept],
                    "mask_boxes": mask_boxes[b][kept], "masks": 1 / (1 + np.exp(-mask_logits[b][kept]))})
    return out


def _np_sample(mask, box, size):
    """A binary mask sampled bilinearly (zeros outside) at the centres of a box's ``size x size`` cells, >= 0.5."""
    height, width = mask.shape
    padded = np.pad(mask.astype(np.float64), 1)
    y1, x1, y2, x2 = box
    ys = (y1 + (np.arange(size) + 0.5) * (y2 - y1) / size) * height - 0.5
    xs = (x1 + (np.arange(size) + 0.5) * (x2 - x1) / size) * width - 0.5
    out = np.zeros((size, size))
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            r, c = int(np.floor(y)), int(np.floor(x))
            fy, fx = y - r, x - c
            r, c = np.clip(r + 1, 0, height), np.clip(c + 1, 0, width)  # into the zero-padded mask
            patch = padded[r : r + 2, c : c + 2]
            patch = np.pad(patch, ((0, 2 - patch.shape[0]), (0, 2 - patch.shape[1])))
            out[i, j] = (patch[0, 0] * (1 - fx) + patch[0, 1] * fx) * (1 - fy) + (
                patch[1, 0] * (1 - fx) + patch[1, 1] * fx) * fy
    return (out >= 0.5).astype(np.float64)


def _bce(logits, truth):
    return np.maximum(logits, 0) - logits * truth + np.log1p(np.exp(-np.abs(logits)))


# --------------------------------------------------------------------- region NMS
def test_mask_iou_matches_numpy():
    rng = np.random.default_rng(0)
    masks = (rng.random((2, 7, 9, 11)) < 0.3).astype(np.float32)
    masks[0, 3] = 0  # an empty mask: IoU 0 with everything, itself included
    got = mask_iou(masks).numpy()
    for b in range(2):
        np.testing.assert_allclose(got[b], _np_mask_iou(masks[b]), rtol=1e-6, atol=1e-7)
    assert np.all(got[0, 3] == 0)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7])
def test_greedy_nms_matches_numpy_greedy_eagerly_and_under_xla(threshold):
    rng = np.random.default_rng(1)
    overlaps = rng.random((6, 20, 20)).astype(np.float32)
    overlaps = (overlaps + overlaps.transpose(0, 2, 1)) / 2
    eligible = rng.random((6, 20)) < 0.8
    eager = greedy_nms(overlaps, eligible, threshold).numpy()
    compiled = tf.function(lambda o, e: greedy_nms(o, e, threshold), jit_compile=True)(overlaps, eligible).numpy()
    for b in range(6):
        expected = np.zeros(20)
        expected[_np_greedy(overlaps[b], eligible[b], threshold)] = 1
        np.testing.assert_array_equal(eager[b], expected)
        np.testing.assert_array_equal(compiled[b], expected)


def test_greedy_nms_long_suppression_chain():
    """Each candidate overlaps only its predecessor: greedy keeps every other one (the fixed point needs many passes)."""
    n = 12
    overlaps = np.zeros((1, n, n), np.float32)
    for i in range(n - 1):
        overlaps[0, i, i + 1] = overlaps[0, i + 1, i] = 0.9
    keep = greedy_nms(overlaps, np.ones((1, n), bool), 0.5).numpy()[0]
    np.testing.assert_array_equal(keep, np.arange(n) % 2 == 0)


def _region_inputs(seed=0, batch=3, regions=24, classes=3, m=6):
    rng = np.random.default_rng(seed)
    y1, x1 = rng.uniform(0, 0.6, (batch, regions)), rng.uniform(0, 0.6, (batch, regions))
    h, w = rng.uniform(0.15, 0.4, (batch, regions)), rng.uniform(0.15, 0.4, (batch, regions))
    boxes = np.stack([y1, x1, y1 + h, x1 + w], -1).astype(np.float32)
    mask_boxes = (boxes + np.array([-0.02, -0.02, 0.02, 0.02])).astype(np.float32)
    class_logits = rng.normal(0, 2, (batch, regions, classes + 1)).astype(np.float32)
    mask_logits = rng.normal(0, 3, (batch, regions, m, m)).astype(np.float32)
    valid = (rng.random((batch, regions)) < 0.85).astype(np.float32)
    return boxes, mask_boxes, class_logits, mask_logits, valid


@pytest.mark.parametrize("top_k, max_detections, nms_iou, score_threshold", [
    (24, 8, 0.3, 0.05), (24, 24, 0.3, 0.05), (10, 6, 0.5, 0.0), (24, 30, 0.1, 0.3),
])
def test_region_detections_match_numpy(top_k, max_detections, nms_iou, score_threshold):
    inputs = _region_inputs()
    layer = RegionDetections((32, 32), max_detections, nms_iou, score_threshold, top_k, overlap_size=(16, 16))
    boxes, scores, classes, masks, count = (x.numpy() for x in layer(list(inputs)))
    assert masks.shape == (3, max_detections, 32, 32)
    for b, ref in enumerate(_np_detections(layer, *inputs)):
        n = len(ref["scores"])
        assert count[b] == n
        np.testing.assert_array_equal(boxes[b, :n], ref["boxes"])
        np.testing.assert_allclose(scores[b, :n], ref["scores"], rtol=1e-5)
        np.testing.assert_array_equal(classes[b, :n], ref["classes"])
        pasted = paste_masks(ref["masks"][None].astype(np.float32), ref["mask_boxes"][None], (32, 32))[0].numpy()
        np.testing.assert_allclose(masks[b, :n], pasted, atol=1e-6)
        assert not boxes[b, n:].any() and not scores[b, n:].any() and not classes[b, n:].any()
        assert not masks[b, n:].any()


def test_region_nms_compares_masks_not_boxes():
    """Two instances side by side in one box survive region NMS (box NMS would keep one); a duplicate does not;
    overlapping regions of different categories are not compared."""
    box = [0.25, 0.25, 0.75, 0.75]
    boxes = np.array([[box] * 4], np.float32)
    left, right = np.full((4, 4), -20.0), np.full((4, 4), -20.0)
    left[:, :2], right[:, 2:] = 20.0, 20.0
    mask_logits = np.stack([left, right, left, left])[None].astype(np.float32)
    # scores 0.9 (class 1), 0.8 (class 1), 0.7 (class 1: duplicate of the first), 0.6 (class 2, same mask)
    probabilities = np.array([[0.05, 0.9, 0.05], [0.1, 0.8, 0.1], [0.15, 0.7, 0.15], [0.2, 0.2, 0.6]])
    class_logits = np.log(probabilities)[None].astype(np.float32)
    layer = RegionDetections((16, 16), max_detections=4, nms_iou=0.3, pre_nms_top_k=4)
    _, scores, classes, _, count = layer([boxes, boxes, class_logits, mask_logits, np.ones((1, 4), np.float32)])
    assert int(count[0]) == 3
    np.testing.assert_allclose(scores.numpy()[0, :3], [0.9, 0.8, 0.6], rtol=1e-5)
    np.testing.assert_array_equal(classes.numpy()[0], [1, 1, 2, 0])
    box_keep, box_count = batched_nms(boxes, np.array([[0.9, 0.8, 0.7, 0.6]], np.float32), 4, 0.3)
    assert int(box_count[0]) == 1  # the box overlap sees one object


def test_invalid_regions_never_win():
    boxes, mask_boxes, class_logits, mask_logits, valid = _region_inputs(seed=3, batch=2)
    valid[:] = 1
    valid[:, :5] = 0
    class_logits[:, :5] = [-50.0, 50.0, 0.0, 0.0]  # the most confident regions are invalid
    layer = RegionDetections((32, 32), max_detections=24, nms_iou=1.0, score_threshold=0.0, pre_nms_top_k=24)
    out_boxes, _, _, _, count = (x.numpy() for x in layer([boxes, mask_boxes, class_logits, mask_logits, valid]))
    assert list(count) == [19, 19]
    for b in range(2):
        chosen = {tuple(v) for v in out_boxes[b, :19]}
        assert chosen == {tuple(v) for v in boxes[b, 5:]}


# --------------------------------------------------------------------- proposals
def test_proposal_boxes_clip_and_flag_degenerate_boxes():
    proposals = np.array([[[0.1, 0.2, 0.5, 0.6], [0.3, 0.3, 0.3, 0.7], [0.6, 0.1, 0.2, 0.5],
                           [np.nan, 0.1, 0.5, 0.5], [-0.2, 0.5, 0.4, 1.3], [1.2, 1.2, 1.5, 1.5]]], np.float32)
    boxes, valid, context = (x.numpy() for x in ProposalBoxes(0.25)(proposals))
    np.testing.assert_array_equal(valid, [[1, 0, 0, 0, 1, 0]])
    np.testing.assert_allclose(boxes[0, [0, 4]], [[0.1, 0.2, 0.5, 0.6], [0.0, 0.5, 0.4, 1.0]])
    assert not boxes[0, [1, 2, 3, 5]].any() and np.all(np.isfinite(context))
    np.testing.assert_allclose(context[0, 0], [0.0, 0.1, 0.6, 0.7], atol=1e-7)  # 1/4 of 0.4 on each side


# --------------------------------------------------------------------- the loss
def _loss_case():
    size = 32
    masks = np.zeros((1, 2, size, size), np.uint8)
    masks[0, 0, 8:24, 8:24] = 1
    targets = {"boxes": np.array([[[0.25, 0.25, 0.75, 0.75], [0, 0, 0, 0]]], np.float32),
               "classes": np.array([[2, 0]], np.int32), "masks": masks}
    proposals = np.array([[[0.25, 0.25, 0.75, 0.75],  # the instance: IoU 1, foreground
                           [0.25, 0.5, 0.75, 1.0],  # IoU 1/3: background
                           [0.0, 0.0, 0.0, 0.0],  # degenerate: no loss
                           [0.0, 0.0, 0.25, 0.25]]], np.float32)  # IoU 0: background
    context = proposals + np.array([-0.125, -0.125, 0.125, 0.125], np.float32)
    return targets, proposals, context, np.array([[1.0, 1.0, 0.0, 1.0]], np.float32)


def test_loss_matches_numpy_reference():
    targets, proposals, context, valid = _loss_case()
    rng = np.random.default_rng(0)
    outputs = {"proposal_boxes": proposals, "proposal_valid": valid, "context_boxes": context,
               "class_logits": rng.normal(0, 2, (1, 4, 4)).astype(np.float32),
               "mask_logits": rng.normal(0, 2, (1, 4, 24, 24)).astype(np.float32),
               "coarse_mask_logits": rng.normal(0, 2, (1, 4, 12, 12)).astype(np.float32)}
    terms = {k: float(v) for k, v in sds_loss(None, targets, outputs).items()}
    ce = -np.log(_softmax(outputs["class_logits"][0].astype(np.float64))[np.arange(4), [2, 0, 0, 0]])
    expected = FOREGROUND_FRACTION * ce[0] + (1 - FOREGROUND_FRACTION) * (ce[1] + ce[3]) / 2
    np.testing.assert_allclose(terms["classification"], expected, rtol=1e-5)
    for key, size in (("mask", 24), ("coarse_mask", 12)):
        truth = _np_sample(targets["masks"][0, 0], context[0, 0], size)
        assert 0 < truth.sum() < truth.size
        np.testing.assert_allclose(terms[key], _bce(outputs[f"{key}_logits"][0, 0], truth).mean(), rtol=1e-5)


def test_loss_vanishes_for_perfect_predictions_and_is_large_for_wrong_ones():
    targets, proposals, context, valid = _loss_case()
    class_logits = np.array([[[0, 0, 40.0, 0], [40.0, 0, 0, 0], [0, 0, 0, 40.0], [40.0, 0, 0, 0]]], np.float32)
    truth = _np_sample(targets["masks"][0, 0], context[0, 0], 24)
    mask_logits = np.zeros((1, 4, 24, 24), np.float32)
    mask_logits[0, 0] = np.where(truth > 0, 40.0, -40.0)
    coarse = np.zeros((1, 4, 12, 12), np.float32)
    coarse[0, 0] = np.where(_np_sample(targets["masks"][0, 0], context[0, 0], 12) > 0, 40.0, -40.0)
    outputs = {"proposal_boxes": proposals, "proposal_valid": valid, "context_boxes": context,
               "class_logits": class_logits, "mask_logits": mask_logits, "coarse_mask_logits": coarse}
    terms = sds_loss(None, targets, outputs)
    assert all(float(v) < 1e-6 for v in terms.values())  # the invalid proposal's "class 3" costs nothing
    wrong = dict(outputs, class_logits=class_logits[:, :, ::-1], mask_logits=-mask_logits, coarse_mask_logits=-coarse)
    assert all(float(v) > 10 for v in sds_loss(None, targets, wrong).values())


# --------------------------------------------------------------------- the model
@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return ksa.build_model("sds_tiny")


def _batch(model, count=2):
    return model.task.sample_batch(model, batch_size=count)


def test_model_takes_the_recorded_sliding_windows(model):
    expected = sliding_window_proposals((64, 64), sizes=(16.0, 24.0, 32.0), aspect_ratios=(1.0,), stride=8)
    assert [tuple(t.shape) for t in model.inputs] == [(None, 64, 64, 3), (None, len(expected), 4)]
    np.testing.assert_array_equal(model.default_proposals(3), np.broadcast_to(expected, (3, *expected.shape)))
    clone = type(model).from_config(model.get_config())
    np.testing.assert_array_equal(clone.default_proposals(1)[0], expected)
    x, _ = _batch(model)
    np.testing.assert_array_equal(x[1][0], expected)


def test_detection_layout(model):
    x, _ = _batch(model, 3)
    out = model(x, training=False)
    count = out["num_detections"].numpy()
    classes, scores, masks = out["classes"].numpy(), out["scores"].numpy(), out["masks"].numpy()
    d = classes.shape[1]
    assert out["masks"].shape == (3, d, 64, 64) and out["boxes"].shape == (3, d, 4)
    assert out["class_logits"].shape == (3, 192, 4) and out["mask_logits"].shape == (3, 192, 16, 16)
    assert out["coarse_mask_logits"].shape == (3, 192, 10, 10)
    assert np.all((0 <= count) & (count <= d))
    for b in range(3):
        assert np.all(classes[b, : count[b]] >= 1) and np.all(classes[b, : count[b]] <= 3)
        assert np.all(classes[b, count[b]:] == 0) and np.all(scores[b, count[b]:] == 0)
        assert np.all(masks[b, count[b]:] == 0)
        assert np.all(np.diff(scores[b, : count[b]]) <= 1e-7)  # best first
    assert masks.min() >= 0 and masks.max() <= 1


def test_images_without_instances_give_finite_losses_that_teach_background(model):
    x, y = _batch(model)
    empty = {k: np.zeros_like(v) for k, v in y.items()}
    terms = model.loss_terms(empty, model(x, training=True))
    assert all(np.isfinite(float(v)) for v in terms.values())
    assert float(terms["mask"]) == 0.0 and float(terms["coarse_mask"]) == 0.0
    assert float(terms["classification"]) > 0  # everything must become background


def test_degenerate_proposals_give_finite_outputs_and_never_win():
    keras.utils.set_random_seed(0)
    model = ksa.build_model("sds_tiny", score_threshold=0.0)  # every valid region is eligible
    x, y = _batch(model)
    proposals = np.zeros_like(x[1])  # zero-area padding rows ...
    proposals[0, 1] = [0.5, 0.5, 0.2, 0.9]  # ... an inverted box, a non-finite one, one outside the image
    proposals[0, 2] = [np.nan, 0.1, 0.4, 0.4]
    proposals[0, 3] = [1.1, 1.1, 1.4, 1.4]
    proposals[0, 7] = [0.25, 0.25, 0.75, 0.625]  # the only real region
    out = model([x[0], proposals], training=False)
    assert all(np.all(np.isfinite(v.numpy())) for v in out.values())
    assert list(out["num_detections"].numpy()) == [1, 0]
    np.testing.assert_array_equal(out["boxes"].numpy()[0, 0], proposals[0, 7])
    np.testing.assert_array_equal(out["proposal_valid"].numpy()[0], np.arange(192) == 7)
    terms = model.loss_terms(y, model([x[0], proposals], training=True))
    assert all(np.isfinite(float(v)) for v in terms.values())
    with tf.GradientTape() as tape:
        total = sum(model.loss_terms(y, model([x[0], proposals], training=True)).values())
    grads = tape.gradient(total, model.trainable_weights)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


def test_classification_loss_reaches_the_coarse_mask_through_the_region_pathway(model):
    """The region pathway sees the features under the predicted foreground: classifying trains the coarse mask."""
    x, y = _batch(model, 4)
    layer = model.get_layer("coarse_mask_flat")
    with tf.GradientTape() as tape:
        classification = model.loss_terms(y, model(x, training=True))["classification"]
    grads = tape.gradient(classification, layer.trainable_weights)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


@pytest.mark.parametrize("overrides, match", [
    ({"input_shape": (None, None, 3)}, "static"),
    ({"input_shape": (62, 64, 3)}, "multiples of the trunk's stride 4"),
    ({"proposal_sizes": ()}, "proposal_sizes"),
    ({"proposal_aspect_ratios": (1.0, -2.0)}, "proposal_aspect_ratios"),
    ({"proposal_stride": 65}, "proposal_stride must be at most the image side 64"),
    ({"context_padding": 1.5}, "context_padding"),
    ({"mask_size": 1}, "mask_size"),
    ({"coarse_mask_size": 1}, "coarse_mask_size"),
    ({"nms_iou": -0.1}, "nms_iou"),
])
def test_builder_errors_name_the_argument(overrides, match):
    with pytest.raises(ValueError, match=match):
        ksa.build_model("sds_tiny", **overrides)
