"""Public Keras layers of keras_segattn (one per module)."""

from keras_segattn.layers.bilinear_upsampling import BilinearUpsampling2DTranspose
from keras_segattn.layers.crop_to_reference import CropToReference
from keras_segattn.layers.max_pooling_with_argmax import MaxPoolingWithArgmax2D
from keras_segattn.layers.max_unpooling import MaxUnpooling2D
from keras_segattn.layers.pad_to_multiple import PadToMultiple

__all__ = [
    "BilinearUpsampling2DTranspose",
    "CropToReference",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "PadToMultiple",
]
