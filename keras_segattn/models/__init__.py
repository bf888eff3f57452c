"""Model families; importing this package registers every model."""

from keras_segattn.models import deconvnet, fcn  # noqa: F401
