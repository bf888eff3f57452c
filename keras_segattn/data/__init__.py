"""Embedded datasets (generated, no download) and tf.data pipelines."""

from keras_segattn.data.coco_captions import (
    caption_vectorizer,
    caption_vocabulary,
    captioning_pipeline,
    coco_captions,
    encode_captions,
)
from keras_segattn.data.coco_instances import COCO_THING_CLASSES, coco_instances
from keras_segattn.data.distorted_digits import (
    CANVAS_SIZES,
    FAMILIES,
    distorted_digits,
    distorted_digits_arrays,
    render_distorted_digit,
)
from keras_segattn.data.files import (
    CorruptFileError,
    CorruptFiles,
    segmentation_files,
    segmentation_from_directory,
)
from keras_segattn.data.handwriting import handwriting_arrays, write_text
from keras_segattn.data.instance_shapes import (
    instance_shapes,
    instance_shapes_arrays,
    instances_to_coco,
    write_coco_annotations,
)
from keras_segattn.data.online_handwriting import (
    iam_ondb_lines,
    normalise_strokes,
    read_strokes_xml,
    read_transcriptions,
)
from keras_segattn.data.oxford_pets import oxford_iiit_pet
from keras_segattn.data.pipeline import (
    VOID_LABEL,
    check_labels,
    segmentation_pipeline,
    segmentation_stream,
)
from keras_segattn.data.scene_parsing import scene_parse150, scene_parsing_pipeline
from keras_segattn.data.shape_captions import shape_captions, shape_captions_arrays
from keras_segattn.data.synthetic_shapes import (
    SHAPES,
    render_example,
    synthetic_shapes,
    synthetic_shapes_arrays,
)
from keras_segattn.data.translation import (
    spanish_english,
    spanish_english_arrays,
    spanish_english_pairs,
    spanish_number,
    ted_hrlr_translate,
    text_vectorizer,
    translation_pipeline,
    translation_vocabulary,
)

__all__ = [
    "CANVAS_SIZES",
    "COCO_THING_CLASSES",
    "CorruptFileError",
    "CorruptFiles",
    "FAMILIES",
    "SHAPES",
    "VOID_LABEL",
    "caption_vectorizer",
    "caption_vocabulary",
    "captioning_pipeline",
    "check_labels",
    "coco_captions",
    "coco_instances",
    "distorted_digits",
    "distorted_digits_arrays",
    "encode_captions",
    "handwriting_arrays",
    "iam_ondb_lines",
    "instance_shapes",
    "instance_shapes_arrays",
    "instances_to_coco",
    "normalise_strokes",
    "oxford_iiit_pet",
    "read_strokes_xml",
    "read_transcriptions",
    "render_distorted_digit",
    "render_example",
    "scene_parse150",
    "scene_parsing_pipeline",
    "segmentation_files",
    "segmentation_from_directory",
    "segmentation_pipeline",
    "segmentation_stream",
    "spanish_english",
    "spanish_english_arrays",
    "spanish_english_pairs",
    "spanish_number",
    "shape_captions",
    "shape_captions_arrays",
    "synthetic_shapes",
    "synthetic_shapes_arrays",
    "ted_hrlr_translate",
    "text_vectorizer",
    "translation_pipeline",
    "translation_vocabulary",
    "write_coco_annotations",
    "write_text",
]
