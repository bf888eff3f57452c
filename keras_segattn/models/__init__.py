"""Model families; importing this package registers every model."""

from keras_segattn.models import (  # noqa: F401
    bahdanau_nmt,
    dcgan,
    deconvnet,
    draw,
    fcn,
    handwriting_synthesis,
    hypercolumns,
    inception,
    instance,
    mnc,
    multiscale_cnn,
    patch_classifier,
    recurrent_cnn,
    sds,
    show_attend_tell,
    spatial_transformer_net,
)

__all__ = ["bahdanau_nmt", "deconvnet", "fcn", "spatial_transformer_net"]
