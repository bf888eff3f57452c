"""The RNNsearch family: the training graph, its inference sub-models, beam search and ``Translator``.

Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to
Align and Translate", ICLR 2015.

- :mod:`.model`: the registered builder ``bahdanau_nmt`` (and ``bahdanau_nmt_tiny``);
- :mod:`.inference`: ``inference_models(model)`` -> ``(encoder, decoder_step)``;
- :mod:`.beam_search`: greedy / beam decoding over those two sub-models;
- :mod:`.translator`: ``Translator``, strings in, ``Translation`` out.
"""

from keras_segattn.models.bahdanau_nmt.inference import inference_models
from keras_segattn.models.bahdanau_nmt.model import (
    PAPER,
    PAPER_DEFAULTS,
    TINY,
    PaddingMask,
    PairSplit,
    bahdanau_nmt,
)
from keras_segattn.models.bahdanau_nmt.translator import Translation, Translator

__all__ = [
    "bahdanau_nmt",
    "PAPER",
    "PAPER_DEFAULTS",
    "TINY",
    "PairSplit",
    "PaddingMask",
    "inference_models",
    "Translator",
    "Translation",
]
