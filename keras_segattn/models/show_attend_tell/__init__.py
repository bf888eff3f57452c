"""The Show-Attend-and-Tell family: the training graph, its inference sub-models and ``Captioner``.

Xu et al., "Show, Attend and Tell: Neural Image Caption Generation with Visual
Attention", ICML 2015.

- :mod:`.model`: the registered builder ``show_attend_tell`` (and
  ``show_attend_tell_tiny``, ``show_attend_tell_hard_tiny``);
- :mod:`.captioner`: ``captioner_models(model)`` -> ``(encoder,
  decoder_step)`` and ``Captioner`` (images in, ``Caption`` with per-word
  attention maps out; the translator's beam search);
- :mod:`.task`: the ``captioning`` task (embedded shape captions, BLEU,
  attention localisation, per-word attention figures).
"""

from keras_segattn.models.show_attend_tell import task as _task  # noqa: F401  (registers "captioning")
from keras_segattn.models.show_attend_tell.captioner import Caption, Captioner, captioner_models
from keras_segattn.models.show_attend_tell.model import (
    PAPER,
    PAPER_DEFAULTS,
    TINY,
    CaptionSplit,
    LocationChannels,
    LocationMask,
    feature_grid,
    show_attend_tell,
)

__all__ = [
    "show_attend_tell",
    "PAPER",
    "PAPER_DEFAULTS",
    "TINY",
    "CaptionSplit",
    "LocationChannels",
    "LocationMask",
    "feature_grid",
    "captioner_models",
    "Captioner",
    "Caption",
]
