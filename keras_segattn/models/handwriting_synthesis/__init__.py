"""The handwriting-synthesis family (Graves 2013): the training graph, the writer and the task.

Graves, "Generating Sequences With Recurrent Neural Networks", arXiv:1308.0850, 2013.

- :mod:`.synthesis_rnn`: :class:`SynthesisRNN`, the stacked LSTMs with the
  soft window over the text between the first two;
- :mod:`.model`: the registered builder ``handwriting_synthesis`` (and
  ``handwriting_synthesis_tiny``, ``handwriting_prediction_tiny``: the
  unconditional baseline);
- :mod:`.writer`: :class:`Writer` (text in, sampled pen strokes with the
  window over the text out; bias and priming);
- :mod:`.task`: the ``handwriting`` task (embedded stroke-font data, NLL per
  point, legibility against the font, window figures).
"""

from keras_segattn.models.handwriting_synthesis import task as _task  # noqa: F401  (registers "handwriting")
from keras_segattn.models.handwriting_synthesis.model import (
    PAPER,
    PAPER_DEFAULTS,
    TINY,
    StrokeInputs,
    handwriting_synthesis,
)
from keras_segattn.models.handwriting_synthesis.synthesis_rnn import SynthesisRNN
from keras_segattn.models.handwriting_synthesis.writer import Handwriting, Writer

__all__ = [
    "handwriting_synthesis",
    "PAPER",
    "PAPER_DEFAULTS",
    "TINY",
    "StrokeInputs",
    "SynthesisRNN",
    "Writer",
    "Handwriting",
]
