"""Hypercolumns (Hariharan et al. 2015): the classifier interpolation and the head against NumPy, the
category-specific loss on hand-made cases, the output layout, empty images, degenerate proposals, errors."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_segattn as ksa
from keras_segattn.models import hypercolumns as H
from keras_segattn.models.instance.proposal_boxes import ProposalBoxes
from keras_segattn.models.instance.proposal_source import sliding_window_proposals


# ----------------------------------------------------------------------------- NumPy references
def _interpolation_reference(m, g):
    """Plain loops: each mask cell's bilinear weights over the classifier centres, clamped at the border."""
    centres = (np.arange(g) + 0.5) / g
    out = np.zeros((m, m, g, g))
    for a in range(m):
        for b in range(m):
            weights = []
            for position in ((a + 0.5) / m, (b + 0.5) / m):
                w = np.zeros(g)
                if position <= centres[0]:
                    w[0] = 1.0
                elif position >= centres[-1]:
                    w[-1] = 1.0
                else:
                    i = int(np.searchsorted(centres, position, side="right")) - 1
                    t = (position - centres[i]) / (centres[i + 1] - centres[i])
                    w[i], w[i + 1] = 1.0 - t, t
                weights.append(w)
            out[a, b] = np.outer(*weights)
    return out.reshape(m * m, g * g)


def _head_reference(scores, box_scores, num_classes, grid):
    """sigmoid of the summed scores, interpolated over the grid, as a logit (float64)."""
    b, r, m, _, _ = scores.shape
    s = scores.reshape(b, r, m * m, num_classes, grid * grid).astype(np.float64)
    if box_scores is not None:
        s = s + box_scores.reshape(b, r, 1, num_classes, grid * grid)
    w = _interpolation_reference(m, grid)
    p = np.einsum("brckg,cg->brck", 1 / (1 + np.exp(-s)), w)
    q = np.einsum("brckg,cg->brck", 1 / (1 + np.exp(s)), w)  # 1 - p, without cancellation
    logits = np.log(p) - np.log(q)
    return logits.transpose(0, 1, 3, 2).reshape(b, r, num_classes, m, m)


@pytest.mark.parametrize("m, g", [(14, 5), (50, 5), (7, 3), (6, 4), (4, 1), (3, 7)])
def test_interpolation_matrix_matches_reference(m, g):
    got = H.interpolation_matrix(m, g)
    assert got.shape == (m * m, g * g) and got.dtype == np.float32
    np.testing.assert_allclose(got, _interpolation_reference(m, g), atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)
    assert np.all((got > 0).sum(1) <= 4)  # at most the four nearest classifiers


def test_interpolation_matrix_is_the_identity_when_cells_are_the_classifiers():
    np.testing.assert_allclose(H.interpolation_matrix(5, 5), np.eye(25), atol=1e-7)
    with pytest.raises(ValueError, match="grid_size must be a positive int, received 0"):
        H.interpolation_matrix(5, 0)


@pytest.mark.parametrize("spread", [3.0, 30.0])  # 30: sigmoids down to 1e-30, where only the log form is exact
def test_head_matches_reference_with_and_without_box_scores(spread):
    rng = np.random.default_rng(0)
    k, g, m = 2, 3, 5
    scores = rng.normal(0, spread, (2, 3, m, m, k * g * g)).astype(np.float32)
    box = rng.normal(0, 2, (2, 3, k * g * g)).astype(np.float32)
    layer = H.LocationSpecificClassifiers(k, g)
    tolerance = 2e-4 * spread
    np.testing.assert_allclose(layer([scores, box]).numpy(), _head_reference(scores, box, k, g), atol=tolerance)
    plain = H.LocationSpecificClassifiers(k, g)
    np.testing.assert_allclose(plain(scores).numpy(), _head_reference(scores, None, k, g), atol=tolerance)
    assert plain.compute_output_shape(scores.shape) == (2, 3, k, m, m)


def test_head_is_location_specific_and_finite_for_extreme_scores():
    k, g, m = 1, 2, 4
    scores = np.zeros((1, 1, m, m, k * g * g), np.float32)
    scores[..., 0] = 6.0  # only the top-left classifier says "figure"
    logits = H.LocationSpecificClassifiers(k, g)(scores).numpy()[0, 0, 0]
    assert logits[0, 0] > 5 and logits[-1, -1] < 1e-6  # the top-left cell follows it, the far corner does not
    assert np.all(np.diff(logits[0]) <= 1e-6)  # fading along the row
    huge = np.full((1, 2, m, m, k * g * g), 1e4, np.float32)
    huge[0, 1] = -1e4
    huge = tf.constant(huge)
    with tf.GradientTape() as tape:
        tape.watch(huge)
        out = H.LocationSpecificClassifiers(k, g)(huge)
        loss = -tf.reduce_sum(out[0, 0])  # push the saturated "figure" boxes' logits further up
    grad = tape.gradient(loss, huge).numpy()
    out = out.numpy()
    assert np.all(np.isfinite(out)) and np.all(out[0, 0] > 1e3) and np.all(out[0, 1] < -1e3)
    assert np.all(np.isfinite(grad)) and np.all(grad[0, 0].sum(-1) < 0)  # saturated, yet still a gradient


def test_head_refuses_scores_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"scores must be of shape \(batch, boxes, m, m, 18\)"):
        H.LocationSpecificClassifiers(2, 3)(np.zeros((1, 2, 4, 4, 9), np.float32))


def test_class_selection_uses_the_best_foreground_class():
    rng = np.random.default_rng(1)
    masks = rng.normal(size=(2, 4, 3, 5, 5)).astype(np.float32)
    class_logits = rng.normal(size=(2, 4, 4)).astype(np.float32)
    class_logits[..., 0] = 100.0  # background wins, yet the mask is the best *foreground* class's
    got = H.PredictedClassMasks()([masks, class_logits]).numpy()
    best = class_logits[..., 1:].argmax(-1)
    np.testing.assert_array_equal(got, np.take_along_axis(masks, best[..., None, None, None], 2)[:, :, 0])
    chosen = H.select_class_masks(masks, np.array([[0, 1, 2, 3]] * 2)).numpy()
    assert np.all(chosen[:, 0] == 0)
    np.testing.assert_array_equal(chosen[:, 1:], masks[:, [1, 2, 3], [0, 1, 2]])


def test_proposals_mark_padding_degenerate_and_non_finite_boxes_invalid():
    boxes = np.array([[[0.1, 0.1, 0.5, 0.6], [0, 0, 0, 0], [0.2, 0.3, 0.2, 0.9], [np.nan, 0, 1, 1],
                       [-0.5, 0.2, 1.5, 0.4]]], np.float32)
    clipped, valid, context = (t.numpy() for t in ProposalBoxes()(boxes))
    np.testing.assert_array_equal(valid, [[1, 0, 0, 0, 1]])
    np.testing.assert_array_equal(context, clipped)  # no context by default
    assert np.all(np.isfinite(clipped)) and clipped.min() >= 0 and clipped.max() <= 1
    np.testing.assert_allclose(clipped[0, 4], [0, 0.2, 1, 0.4])


# ----------------------------------------------------------------------------- the loss
def _targets(boxes, classes, size=64):
    boxes = np.asarray(boxes, np.float32).reshape(1, -1, 4)
    masks = np.zeros((1, boxes.shape[1], size, size), np.uint8)
    for i, (y1, x1, y2, x2) in enumerate(boxes[0]):
        if classes[i]:
            masks[0, i, round(y1 * size):round(y2 * size), round(x1 * size):round(x2 * size)] = 1
    return {"boxes": boxes, "classes": np.asarray(classes, np.int32).reshape(1, -1), "masks": masks}


def test_loss_uses_the_ground_truth_category_mask():
    targets = _targets([[0.25, 0.25, 0.75, 0.5], [0, 0, 0, 0]], [2, 0])
    proposals = np.array([[[0.25, 0.25, 0.75, 0.5], [0.8, 0.8, 1.0, 1.0]]], np.float32)  # a hit and a background
    class_logits = np.array([[[0, 0, 40.0, 0], [40.0, 0, 0, 0]]], np.float32)
    masks = np.full((1, 2, 3, 6, 6), -40.0, np.float32)
    masks[0, 0, 1] = 40.0  # class 2's mask of the hit: all figure; classes 1 and 3 say "ground"
    outputs = {"proposal_boxes": proposals, "proposal_valid": np.ones((1, 2), np.float32), "class_logits": class_logits,
               "mask_logits": masks}
    terms = H.hypercolumns_loss(None, targets, outputs)
    assert set(terms) == {"classification", "mask"}
    assert float(terms["classification"]) < 1e-6 and float(terms["mask"]) < 1e-6
    swapped = masks.copy()
    swapped[0, 0, 0], swapped[0, 0, 1] = 40.0, -40.0  # the right mask, but under class 1
    wrong = dict(outputs, mask_logits=swapped)
    assert float(H.hypercolumns_loss(None, targets, wrong)["mask"]) > 30
    invalid = dict(outputs, proposal_valid=np.zeros((1, 2), np.float32))  # padding boxes teach nothing
    terms = H.hypercolumns_loss(None, targets, invalid)
    assert float(terms["classification"]) == 0.0 and float(terms["mask"]) == 0.0


def test_classification_is_balanced_as_rcnn_minibatches():
    """A quarter of the weight on the foreground boxes' mean cross-entropy, the rest on the background's."""
    targets = _targets([[0.25, 0.25, 0.75, 0.5]], [1])
    proposals = np.array([[[0.25, 0.25, 0.75, 0.5], [0.8, 0.8, 1.0, 1.0], [0.0, 0.0, 0.2, 0.2],
                           [0.0, 0.8, 0.2, 1.0]]], np.float32)
    logits = np.zeros((1, 4, 4), np.float32)  # uniform: cross-entropy log 4 everywhere
    logits[0, 1:, 0] = np.log(3.0)  # the background boxes: p(background) = 1/2, cross-entropy log 2
    outputs = {"proposal_boxes": proposals, "proposal_valid": np.ones((1, 4), np.float32),
               "class_logits": logits, "mask_logits": np.zeros((1, 4, 3, 4, 4), np.float32)}
    terms = H.hypercolumns_loss(None, targets, outputs)
    np.testing.assert_allclose(float(terms["classification"]), 0.25 * np.log(4) + 0.75 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(float(terms["mask"]), np.log(2), rtol=1e-6)  # logits 0 on the one hit


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return ksa.build_model("hypercolumns_tiny")


def _batch(model, count=2):
    return model.task.sample_batch(model, batch_size=count)


def test_mask_loss_trains_only_the_ground_truth_categorys_classifiers(model):
    x, y = _batch(model, 4)
    y = dict(y, classes=np.where(y["classes"] > 0, 2, 0).astype(np.int32))  # every instance is class 2
    weights = [model.get_layer(f"hypercolumn_{name}").kernel for name in ("conv2", "conv3", "fc7")]
    with tf.GradientTape() as tape:
        terms = model.loss_terms(y, model(x, training=True))
    assert float(terms["mask"]) > 0
    g = 5 * 5
    for weight, grad in zip(weights, tape.gradient(terms["mask"], weights)):
        per_class = np.abs(grad.numpy()).reshape(-1, 3, g).max(axis=(0, 2))
        assert per_class[1] > 0 and per_class[0] == 0 and per_class[2] == 0, (weight.path, per_class)


def test_images_without_instances_give_finite_losses_that_teach_background(model):
    x, y = _batch(model)
    empty = {k: np.zeros_like(v) for k, v in y.items()}
    terms = model.loss_terms(empty, model(x, training=True))
    assert all(np.isfinite(float(v)) for v in terms.values())
    assert float(terms["mask"]) == 0.0 and float(terms["classification"]) > 0


# ----------------------------------------------------------------------------- the model
def test_detection_layout(model):
    x, _ = _batch(model, 3)
    out = model(x, training=False)
    count = out["num_detections"].numpy()
    classes, scores, masks = out["classes"].numpy(), out["scores"].numpy(), out["masks"].numpy()
    d = classes.shape[1]
    assert out["masks"].shape == (3, d, 64, 64) and out["boxes"].shape == (3, d, 4) and d == 10
    assert out["mask_logits"].shape == (3, 192, 3, 14, 14) and out["class_logits"].shape == (3, 192, 4)
    assert np.all((0 <= count) & (count <= d))
    for b in range(3):
        assert np.all(classes[b, : count[b]] >= 1) and np.all(classes[b, : count[b]] <= 3)
        assert np.all(classes[b, count[b]:] == 0) and np.all(scores[b, count[b]:] == 0)
        assert np.all(masks[b, count[b]:] == 0)
        assert np.all(np.diff(scores[b, : count[b]]) <= 1e-7)  # best first
    assert masks.min() >= 0 and masks.max() <= 1


def test_degenerate_proposals_give_finite_outputs_and_are_never_detected(model):
    x, y = _batch(model, 2)
    images, proposals = x
    proposals = proposals.copy()
    proposals[:, ::2, 2:] = proposals[:, ::2, :2]  # every other box has zero area
    proposals[0, 1] = np.nan
    out = model([images, proposals], training=False)
    for key, value in out.items():
        assert np.all(np.isfinite(value.numpy())), key
    np.testing.assert_array_equal(out["proposal_valid"].numpy()[:, ::2], 0)
    boxes = out["boxes"].numpy()
    for b, n in enumerate(out["num_detections"].numpy()):
        assert np.all(boxes[b, :n, 2] > boxes[b, :n, 0]) and np.all(boxes[b, :n, 3] > boxes[b, :n, 1])
    terms = model.loss_terms(y, model([images, proposals], training=True))
    assert all(np.isfinite(float(v)) for v in terms.values())
    nothing = model([images, np.zeros_like(proposals)], training=False)
    assert np.all(nothing["num_detections"].numpy() == 0) and np.all(np.isfinite(nothing["masks"].numpy()))


def test_the_model_records_and_feeds_its_proposal_source(model):
    source = model.get_config()["proposal_source"]
    assert dict(source) == {"sizes": (16.0, 24.0, 32.0), "aspect_ratios": (1.0,), "stride": 8}
    expected = sliding_window_proposals((64, 64), **source)
    np.testing.assert_array_equal(model.default_proposals(3), np.broadcast_to(expected, (3, *expected.shape)))
    x, _ = _batch(model)
    np.testing.assert_array_equal(x[1], model.default_proposals(2))


def test_paper_defaults():
    defaults = {k: p.default for k, p in inspect.signature(H.hypercolumns).parameters.items()}
    assert defaults["hypercolumn_layers"] == ("pool2", "conv4", "fc7")
    assert (defaults["grid_size"], defaults["mask_size"], defaults["head_units"]) == (5, 50, 4096)
    assert defaults["backbone_widths"] == (64, 128, 256, 512, 512)


@pytest.mark.parametrize("overrides, match", [
    ({"input_shape": (None, None, 3)}, "input_shape must be a static"),
    ({"input_shape": (62, 64, 3)}, "input_shape must be .*multiples of 4"),
    ({"hypercolumn_layers": ("conv2", "fc8")}, "hypercolumn_layers must be .* received \\('conv2', 'fc8'\\)"),
    ({"hypercolumn_layers": ("fc7",)}, "hypercolumn_layers must be .*at least one trunk layer"),
    ({"hypercolumn_layers": ("conv2", "conv2")}, "hypercolumn_layers must be a non-empty tuple of distinct"),
    ({"hypercolumn_layers": "conv2"}, "hypercolumn_layers"),
    ({"hypercolumn_layers": ("pool4",)}, "hypercolumn_layers"),  # the tiny trunk has 3 stages
    ({"grid_size": 0}, "grid_size must be a positive int, received 0"),
    ({"mask_size": 0}, "mask_size"),
    ({"proposal_stride": 65}, "proposal_stride must be an int in \\[1, 64\\], received 65"),
    ({"proposal_sizes": ()}, "proposal_sizes"),
    ({"proposal_aspect_ratios": (1.0, -2.0)}, "proposal_aspect_ratios"),
    ({"backbone_depths": (1, 1)}, "backbone_depths"),
])
def test_builder_errors_name_the_argument(overrides, match):
    with pytest.raises(ValueError, match=match):
        ksa.build_model("hypercolumns_tiny", **overrides)
