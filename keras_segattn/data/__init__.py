"""Embedded datasets (generated, no download) and tf.data pipelines."""

from keras_segattn.data.oxford_pets import oxford_iiit_pet
from keras_segattn.data.pipeline import (
    VOID_LABEL,
    check_labels,
    segmentation_pipeline,
    segmentation_stream,
)
from keras_segattn.data.synthetic_shapes import (
    SHAPES,
    render_example,
    synthetic_shapes,
    synthetic_shapes_arrays,
)

__all__ = [
    "SHAPES",
    "VOID_LABEL",
    "check_labels",
    "oxford_iiit_pet",
    "render_example",
    "segmentation_pipeline",
    "segmentation_stream",
    "synthetic_shapes",
    "synthetic_shapes_arrays",
]
