"""Model families; importing this package registers every model."""

from keras_segattn.models import bahdanau_nmt, deconvnet, fcn, spatial_transformer_net  # noqa: F401

__all__ = ["bahdanau_nmt", "deconvnet", "fcn", "spatial_transformer_net"]
