"""Tiny segmentation models learn the embedded shapes task (real mIoU thresholds, fixed seeds)."""

import keras
import pytest

import keras_segattn as ksa
from keras_segattn.training import evaluate_segmentation, train_segmentation

pytestmark = pytest.mark.learning


@pytest.mark.parametrize(
    "name,epochs,threshold",
    [
        # Budgets of ~20-60 s on 2 cores; the full demo recipe reaches 0.88.
        ("fcn8s_tiny", 8, 0.60),
        # deconvnet_tiny at 6 epochs, measured: seeds 0 and 2 gave 0.661 and 0.604 before deconv-fc6
        # became MatmulConv2DTranspose, seeds 0/1/2 gave 0.591/0.633/0.629 after (the same arithmetic,
        # rounded differently): 0.59-0.66 is this budget's noise, so the bar sits below it.
        ("deconvnet_tiny", 6, 0.50),
    ],
)
def test_tiny_model_learns_shapes(name, epochs, threshold):
    keras.utils.set_random_seed(0)
    model = ksa.build_model(name)
    model, _ = train_segmentation(
        model, num_classes=4, train_examples=2000, val_examples=64, epochs=epochs, batch_size=8, seed=0, verbose=0
    )
    metrics, _ = evaluate_segmentation(model, examples=300, seed=0)
    print(name, metrics)
    # Background alone would score mIoU ~0.23 (one class of four right).
    assert metrics["mean_iou"] >= threshold, metrics
