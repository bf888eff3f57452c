"""The DRAW family (Gregor et al. 2015): Gaussian attention that reads and writes.

Gregor, Danihelka, Graves, Rezende & Wierstra, "DRAW: A Recurrent Neural
Network For Image Generation", ICML 2015.

- :mod:`.draw_network`: :class:`DRAWNetwork`, the encoder / decoder LSTMs
  unrolled over ``T`` glimpses (the layers it reads and writes with are
  :class:`~keras_segattn.layers.GaussianFilterbank`,
  :class:`~keras_segattn.layers.GaussianRead` and
  :class:`~keras_segattn.layers.GaussianWrite`);
- :mod:`.glimpse_reader`: :class:`GlimpseReader`, read-only attention for
  classification;
- :mod:`.model`: the registered builders ``draw`` (``draw_tiny``,
  ``draw_no_attention_tiny``) and ``draw_classifier`` (``draw_classifier_tiny``);
- :mod:`.sampling`: :func:`generate` (from the prior) and :func:`draw_trace`;
- :mod:`.task`: the ``image_generation`` task (binarised digits, the NLL
  bound, canvas-sequence figures).
"""

from keras_segattn.models.draw import task as _task  # noqa: F401  (registers "image_generation")
from keras_segattn.models.draw.draw_network import DRAWNetwork
from keras_segattn.models.draw.glimpse_reader import GlimpseReader
from keras_segattn.models.draw.model import (
    PAPER,
    PAPER_DEFAULTS,
    TINY,
    TINY_CLASSIFIER,
    draw,
    draw_classifier,
)
from keras_segattn.models.draw.sampling import draw_trace, generate

__all__ = [
    "draw",
    "draw_classifier",
    "DRAWNetwork",
    "GlimpseReader",
    "generate",
    "draw_trace",
    "PAPER",
    "PAPER_DEFAULTS",
    "TINY",
    "TINY_CLASSIFIER",
]
