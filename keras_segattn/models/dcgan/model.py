"""DCGAN (Radford et al. 2016): "a series of fractionally-strided convolutions" from noise to an image."""

from __future__ import annotations

import keras

from keras_segattn.models.dcgan.adversarial_model import AdversarialModel
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import check_int_tuple, check_positive_int, message

__all__ = ["dcgan", "PAPER", "PAPER_DEFAULTS", "TINY"]

PAPER = "Radford, Metz & Chintala, Unsupervised Representation Learning with Deep Convolutional GANs, ICLR 2016"


def _stages(where, height, width, image_shape=None):
    """Upsampling stages: halve the image until a side is odd or 4 (64 -> 4: 4 stages; 28 -> 7: 2)."""
    stages = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) > 4:
        height, width, stages = height // 2, width // 2, stages + 1
    if stages == 0:
        raise ValueError(message(where, "image_shape", "(H, W, C) with even H and W of at least 8 (the "
                                 "generator doubles a small map at every stage)",
                                 (height, width) if image_shape is None else image_shape))
    return stages, height, width


def dcgan(image_shape=(64, 64, 3), latent_size=100, filters=128, name=None):
    """The DCGAN generator and discriminator (the paper's LSUN sizes by default).

    Generator: ``z`` -> Dense to a ``h x w x filters 2^(k-1)`` map, then ``k``
    stride-2 ``Conv2DTranspose`` (4x4) halving the width each time, each
    followed by BatchNorm and ReLU, and a last one to the image channels
    with ``tanh`` (then mapped to ``[0, 1]``). Discriminator: stride-2 4x4
    convolutions doubling from ``filters / 2^(k-1)``... mirrored, LeakyReLU
    0.2, BatchNorm after all but the first, one logit. Weights ~ N(0, 0.02)
    as in the paper. 64x64 gives the paper's 1024-512-256-128 generator.

    Args:
        image_shape: ``(H, W, C)`` of the images (values in ``[0, 1]``).
        latent_size: the noise ``z`` size (the paper: 100).
        filters: width of the generator's last hidden map (the paper: 128).
        name: model name.

    Returns:
        An :class:`~keras_segattn.models.dcgan.AdversarialModel`:
        ``noise (B, latent_size)`` -> ``images (B, H, W, C)`` in ``[0, 1]``,
        its ``discriminator`` ``images`` -> ``(B, 1)`` logits.

    Example:
        >>> import keras_segattn as ksa
        >>> model = ksa.build_model("dcgan_tiny")
        >>> tuple(model.output.shape), tuple(model.discriminator.output.shape)
        ((None, 28, 28, 1), (None, 1))
    """
    where = "dcgan"
    height, width, channels = check_int_tuple(where, "image_shape", image_shape, length=3)
    latent_size = check_positive_int(where, "latent_size", latent_size)
    filters = check_positive_int(where, "filters", filters)
    stages, h0, w0 = _stages(where, height, width, image_shape)
    init = keras.initializers.RandomNormal(0.0, 0.02)
    bn = dict(momentum=0.9, epsilon=1e-5)

    noise = keras.Input((latent_size,), name="noise")
    width0 = filters * 2 ** (stages - 1)
    x = keras.layers.Dense(h0 * w0 * width0, use_bias=False, kernel_initializer=init, name="project")(noise)
    x = keras.layers.Reshape((h0, w0, width0), name="project_reshape")(x)
    x = keras.layers.BatchNormalization(name="project_bn", **bn)(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    for i in range(1, stages):
        x = keras.layers.Conv2DTranspose(width0 // 2**i, 4, strides=2, padding="same", use_bias=False,
                                         kernel_initializer=init, name=f"up{i}")(x)
        x = keras.layers.BatchNormalization(name=f"up{i}_bn", **bn)(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                     kernel_initializer=init, name=f"up{stages}")(x)
    images = keras.layers.Rescaling(0.5, offset=0.5, name="images", dtype="float32")(x)  # tanh -> [0, 1]

    real = keras.Input((height, width, channels), name="images")
    y = keras.layers.Rescaling(2.0, offset=-1.0, name="to_tanh_range")(real)
    for i in range(stages):
        y = keras.layers.Conv2D(filters * 2**i, 4, strides=2, padding="same", use_bias=i == 0,
                                kernel_initializer=init, name=f"down{i + 1}")(y)
        if i:
            y = keras.layers.BatchNormalization(name=f"down{i + 1}_bn", **bn)(y)
        y = keras.layers.LeakyReLU(0.2, name=f"down{i + 1}_lrelu")(y)
    y = keras.layers.Flatten(name="flatten")(y)
    logit = keras.layers.Dense(1, kernel_initializer=init, name="logit", dtype="float32")(y)
    discriminator = keras.Model(real, logit, name="discriminator")
    return AdversarialModel(noise, images, name=name or "dcgan", discriminator=discriminator)


PAPER_DEFAULTS = dict(image_shape=(64, 64, 3), latent_size=100, filters=128)
#: the tiny variant: 28x28 binarised digits (7 -> 14 -> 28, 64- and 32-wide maps)
TINY = dict(image_shape=(28, 28, 1), latent_size=32, filters=32)

register_model("dcgan", family="dcgan", task="adversarial_generation", paper=PAPER)(dcgan)
register_variant("dcgan_tiny", "dcgan", tiny=True, **TINY)
