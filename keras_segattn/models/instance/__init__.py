"""Instance segmentation ("detect instances, give category, label pixels"): the pieces SDS, Hypercolumns and MNC share.

- :mod:`.boxes`: IoU, anchors, box encoding, NMS, mask pasting (TF graph functions);
- :class:`RegionProposals`, :class:`RoIFeatures`, :class:`MaskedRoIFeatures`,
  :class:`RefineBoxes`, :class:`RoIMaxPooling`, :class:`ProposalBoxes`, :class:`InstanceDetections`: the layers of the heads;
- :class:`InstanceSegmentationModel`: the functional model class that trains
  with its family's multi-task loss;
- :mod:`.task`: the ``instance_segmentation`` task (embedded shape instances,
  pycocotools mask AP, instance pictures).

Every model returns one dict layout (:data:`DETECTION_KEYS`): ``boxes (B, D, 4)``
normalised ``(y1, x1, y2, x2)``, ``scores (B, D)``, ``classes (B, D)`` (1..K,
0 for an empty slot), ``masks (B, D, H, W)`` probabilities at image size and
``num_detections (B,)``, plus the raw outputs of its heads.
"""

from keras_segattn.models.instance import task as _task  # noqa: F401  (registers "instance_segmentation")
from keras_segattn.models.instance.boxes import (
    batched_nms,
    box_iou,
    decode_boxes,
    encode_boxes,
    generate_anchors,
    paste_masks,
)
from keras_segattn.models.instance.detections import DETECTION_KEYS, InstanceDetections
from keras_segattn.models.instance.model import InstanceSegmentationModel
from keras_segattn.models.instance.proposal_boxes import ProposalBoxes
from keras_segattn.models.instance.proposals import RegionProposals
from keras_segattn.models.instance.roi_features import RoIFeatures
from keras_segattn.models.instance.roi_ops import MaskedRoIFeatures, RefineBoxes, RoIMaxPooling

__all__ = [
    "DETECTION_KEYS",
    "InstanceDetections",
    "InstanceSegmentationModel",
    "MaskedRoIFeatures",
    "ProposalBoxes",
    "RefineBoxes",
    "RegionProposals",
    "RoIFeatures",
    "RoIMaxPooling",
    "batched_nms",
    "box_iou",
    "decode_boxes",
    "encode_boxes",
    "generate_anchors",
    "paste_masks",
]
