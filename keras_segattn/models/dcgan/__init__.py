"""The DCGAN family (Radford et al. 2016): the lecture's transposed-convolution generator, trained adversarially.

- :mod:`.adversarial_model`: :class:`AdversarialModel`, the generator graph
  carrying its discriminator, with the two-optimizer ``train_step``;
- :mod:`.model`: the registered builder ``dcgan`` (``dcgan_tiny``: 28x28 digits);
- :mod:`.task`: the ``adversarial_generation`` task.
"""

from keras_segattn.models.dcgan import task as _task  # noqa: F401  (registers "adversarial_generation")
from keras_segattn.models.dcgan.adversarial_model import AdversarialModel
from keras_segattn.models.dcgan.model import PAPER, PAPER_DEFAULTS, TINY, dcgan

__all__ = ["dcgan", "AdversarialModel", "PAPER", "PAPER_DEFAULTS", "TINY"]
