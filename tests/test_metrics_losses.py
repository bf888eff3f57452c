"""Mean IoU, pixel accuracy and the void-aware loss against NumPy references."""

import keras
import numpy as np
import tensorflow as tf

from keras_segattn.export.parity import mean_iou as numpy_mean_iou
from keras_segattn.training import MeanIoU, PixelAccuracy, segmentation_loss


def _random_case(seed, num_classes=4, shape=(3, 16, 16)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, shape).astype("int32")
    labels[rng.random(shape) < 0.1] = 255
    logits = rng.normal(size=shape + (num_classes,)).astype("float32")
    return labels, logits


def reference_miou(labels, logits, num_classes):
    # Written independently of both Keras and keras_segattn.export.parity.
    pred = logits.argmax(-1)
    ious = []
    for c in range(num_classes):
        keep = labels != 255
        t, p = (labels == c) & keep, (pred == c) & keep
        union = (t | p).sum()
        if union:
            ious.append((t & p).sum() / union)
    return np.mean(ious)


def test_mean_iou_takes_logits_and_ignores_void():
    for seed in range(3):
        labels, logits = _random_case(seed)
        metric = MeanIoU(num_classes=4)
        metric.update_state(labels, logits)
        expected = reference_miou(labels, logits, 4)
        np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-5)
        np.testing.assert_allclose(numpy_mean_iou(labels, logits.argmax(-1), 4), expected, rtol=1e-9)


def test_mean_iou_accumulates_and_serialises():
    labels, logits = _random_case(4)
    metric = MeanIoU(num_classes=4)
    metric.update_state(labels[:1], logits[:1])
    metric.update_state(labels[1:], logits[1:])
    np.testing.assert_allclose(float(metric.result()), reference_miou(labels, logits, 4), rtol=1e-5)
    clone = MeanIoU.from_config(metric.get_config())
    assert clone.num_classes == 4 and clone.void_label == 255


def test_pixel_accuracy():
    labels, logits = _random_case(5)
    metric = PixelAccuracy()
    metric.update_state(labels, logits)
    keep = labels != 255
    expected = (logits.argmax(-1)[keep] == labels[keep]).mean()
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-6)


def test_loss_ignores_void_pixels():
    labels, logits = _random_case(6)
    loss = float(segmentation_loss()(labels, logits))
    keep = labels != 255
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(keep, labels, 0)[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, -picked[keep].mean(), rtol=1e-5)


def test_metrics_under_xla_fit():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.compile("sgd", loss=segmentation_loss(), metrics=[MeanIoU(3), PixelAccuracy()], jit_compile=True)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, (4, 8, 8)).astype("int32")
    y[0, 0, 0] = 255
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    expected = reference_miou(y, model.predict(x, verbose=0), 3)
    np.testing.assert_allclose(result["mean_iou"], expected, rtol=1e-5)
    assert np.isfinite(model.fit(x, y, verbose=0).history["loss"][0])
    assert tf.executing_eagerly()
