"""ST-CNN: a classifier with a spatial transformer in front, and the same CNN without it.

Jaderberg, Simonyan, Zisserman & Kavukcuoglu, "Spatial Transformer Networks",
NIPS 2015 (section 4.1, table 1: distorted MNIST).

``st_cnn`` = raw pixels -> rescaling -> :class:`~keras_segattn.layers.SpatialTransformer`
-> CNN classifier -> logits. ``digits_cnn`` is the same rescaling and CNN
classifier without the transformer (the paper's "CNN" baseline), so the two
differ only by the transformer. :func:`with_transformer_outputs` turns an
``st_cnn`` into a model that also returns theta, the sampling grid and the
transformed image (for plots).
"""

from __future__ import annotations

import keras

from keras_segattn.layers import SpatialTransformer
from keras_segattn.layers.spatial_transformer import TRANSFORMS
from keras_segattn.models._common import check_image_shape
from keras_segattn.registry import register_model, register_variant
from keras_segattn.validation import (
    check_bool,
    check_choice,
    check_int,
    check_int_tuple,
    check_number,
    check_positive_int,
    message,
)

__all__ = ["st_cnn", "digits_cnn", "with_transformer_outputs"]

PAPER = "Jaderberg, Simonyan, Zisserman & Kavukcuoglu, Spatial Transformer Networks, NIPS 2015"

#: Tiny classifier shared by ``digits_cnn_tiny`` and ``st_cnn_tiny``: sized so
#: that both train to convergence on the embedded RTS digits in a few CPU minutes.
TINY_CLASSIFIER = dict(filters=(16, 32), kernels=(5, 3), dense_units=64, batch_norm=False)
TINY_LOCALIZATION = dict(
    localization_filters=(8, 16),
    localization_kernel=5,
    localization_units=32,
    localization_downsample=2,
)


def _check_classifier(*, filters, kernels, dense_units, batch_norm, label):
    """The classifier's arguments, checked before anything is built."""
    filters = check_int_tuple(label, "filters", filters)
    kernels = check_int_tuple(label, "kernels", kernels)
    if len(filters) != len(kernels):
        raise ValueError(
            f"{label}: filters and kernels must have the same length, received filters={filters} "
            f"and kernels={kernels}."
        )
    dense_units = check_int(label, "dense_units", dense_units, minimum=0)
    batch_norm = check_bool(label, "batch_norm", batch_norm)
    return filters, kernels, dense_units, batch_norm


def _classifier(x, *, filters, kernels, dense_units, batch_norm, num_classes, label, size_argument="input_shape"):
    filters, kernels, dense_units, batch_norm = _check_classifier(
        filters=filters, kernels=kernels, dense_units=dense_units, batch_norm=batch_norm, label=label
    )
    smallest = min(d for d in x.shape[1:3] if d is not None) if any(x.shape[1:3]) else None
    if smallest is not None and smallest < 2 ** len(filters):
        raise ValueError(
            message(label, size_argument, f"at least {2 ** len(filters)} pixels high and wide for "
                    f"{len(filters)} 2x2 poolings", f"shape {tuple(x.shape[1:])}")
        )
    for i, (f, k) in enumerate(zip(filters, kernels), start=1):
        x = keras.layers.Conv2D(f, k, padding="same", use_bias=not batch_norm, name=f"conv{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{i}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="fc")(x)
    return keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)


def _inputs(input_shape, label):
    input_shape = check_image_shape(input_shape, label, channels=None)
    if any(d is None for d in input_shape):
        raise ValueError(
            message(label, "input_shape", "fully known (height, width, channels)", input_shape)
            + " The classifier's dense layer needs a fixed size."
        )
    inputs = keras.Input(input_shape, name="image")
    # Raw pixels in [0, 255] -> [0, 1] inside the graph (principle 7).
    return inputs, keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)


@register_model("digits_cnn", family="spatial_transformer", task="image_classification", paper=PAPER)
def digits_cnn(
    num_classes=10,
    input_shape=(42, 42, 1),
    filters=(32, 32),
    kernels=(9, 7),
    dense_units=0,
    batch_norm=False,
    name="digits_cnn",
):
    """The CNN baseline of the STN paper's distorted-digit table (no transformer).

    ``[Conv2D(f, k, same) -> (BatchNorm) -> ReLU -> MaxPooling2D(2)]`` per
    entry of ``filters``/``kernels``, ``Flatten``, an optional hidden ``Dense``
    layer and a linear class scorer. Defaults follow the paper's MNIST CNN as
    we read appendix A (9x9 and 7x7 convolutions with 32 filters, two max
    poolings; unconfirmed against the paper): 42x42 grey input (the RTS canvas).

    Args:
        num_classes: classes (10 digits).
        input_shape: ``(H, W, C)`` fully known.
        filters, kernels: per-stage convolution widths and kernel sizes.
        dense_units: hidden fully connected units (0: none).
        batch_norm: BatchNorm after each convolution.
        name: model name.

    Input: raw pixels ``(batch, H, W, C)`` in [0, 255].
    Output: logits ``(batch, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("digits_cnn_tiny")
        >>> model.predict(np.zeros((2, 42, 42, 1)), verbose=0).shape
        (2, 10)
    """
    label = name or "digits_cnn"
    num_classes = check_positive_int(label, "num_classes", num_classes)
    inputs, x = _inputs(input_shape, label)
    outputs = _classifier(
        x,
        filters=filters,
        kernels=kernels,
        dense_units=dense_units,
        batch_norm=batch_norm,
        num_classes=num_classes,
        label=label,
    )
    return keras.Model(inputs, outputs, name=label)


def _localization(filters, kernel, units, downsample, label):
    filters = check_int_tuple(label, "localization_filters", filters)
    downsample = check_positive_int(label, "localization_downsample", downsample)
    kernel = check_positive_int(label, "localization_kernel", kernel)
    units = check_int(label, "localization_units", units, minimum=0)
    layers = []
    if downsample > 1:
        layers.append(keras.layers.MaxPooling2D(downsample, name="loc_downsample"))
    for i, f in enumerate(filters, start=1):
        layers.append(keras.layers.Conv2D(f, kernel, padding="same", activation="relu", name=f"loc_conv{i}"))
        layers.append(keras.layers.MaxPooling2D(2, name=f"loc_pool{i}"))
    layers.append(keras.layers.Flatten(name="loc_flatten"))
    if units:
        layers.append(keras.layers.Dense(units, activation="relu", name="loc_fc"))
    return keras.Sequential(layers, name="localization")


@register_model("st_cnn", family="spatial_transformer", task="image_classification", paper=PAPER)
def st_cnn(
    num_classes=10,
    input_shape=(42, 42, 1),
    transform="affine",
    output_size=None,
    control_grid=(4, 4),
    padding="zeros",
    initial_scale=1.0,
    localization_filters=(20, 20),
    localization_kernel=5,
    localization_units=50,
    localization_downsample=1,
    filters=(32, 32),
    kernels=(9, 7),
    dense_units=0,
    batch_norm=False,
    name="st_cnn",
):
    """ST-CNN: a spatial transformer in front of the :func:`digits_cnn` classifier.

    The transformer's localisation network (``localization_*``: optional
    max-pool downsampling, then ``[Conv2D(f, k, relu) -> MaxPooling2D(2)]``
    per filter count, ``Flatten``, ``Dense(units, relu)``; paper-like default:
    two 5x5 convolutions with 20 filters and 50 units, unconfirmed) regresses
    theta with a zero-initialised final layer biased to the identity, so the
    untrained model classifies the untransformed image. The grid generator
    (``transform``: ``"affine"``, ``"projective"`` or ``"tps"`` with
    ``control_grid``) and the bilinear sampler (``padding``) produce an
    ``output_size`` image (default: the input size) that the classifier sees.
    ``initial_scale`` < 1 starts from a zoomed-in transform instead of the
    identity: the theta bias samples the central ``initial_scale`` fraction
    of the input (affine/projective: the two diagonal entries scaled; TPS: the
    control points scaled towards the centre), e.g. ``output_size=(30, 30)``
    and ``initial_scale=0.5`` on a 60x60 input start at the central 30x30
    pixels at full resolution. It is the theta layer's bias initialisation
    (saved with the weights), not part of the layer config.

    The layer is named ``"spatial_transformer"`` and also returns theta and
    the grid inside the graph; the model's only output is the logits. Use
    :func:`with_transformer_outputs` to get them.

    Args:
        num_classes: classes (10 digits).
        input_shape: ``(H, W, C)`` fully known (default: 42x42 grey, RTS).
        transform, output_size, control_grid, padding: the transformer.
        initial_scale: zoom of the starting transform (1.0: the identity;
            a finite number > 0).
        localization_filters, localization_kernel, localization_units,
            localization_downsample: the localisation network.
        filters, kernels, dense_units, batch_norm: the classifier (as
            :func:`digits_cnn`).
        name: model name.

    Input: raw pixels ``(batch, H, W, C)`` in [0, 255].
    Output: logits ``(batch, num_classes)`` (float32).

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> model = ksa.build_model("st_cnn_tiny")
        >>> model.predict(np.zeros((2, 42, 42, 1)), verbose=0).shape
        (2, 10)
    """
    label = name or "st_cnn"
    num_classes = check_positive_int(label, "num_classes", num_classes)
    transform = check_choice(label, "transform", transform, TRANSFORMS)
    inputs, x = _inputs(input_shape, label)
    initial_scale = check_number(label, "initial_scale", initial_scale, minimum=0, exclusive_minimum=True)
    _check_classifier(filters=filters, kernels=kernels, dense_units=dense_units, batch_norm=batch_norm, label=label)
    size = tuple(input_shape[:2]) if output_size is None else output_size
    localization = _localization(
        localization_filters, localization_kernel, localization_units, localization_downsample, label
    )
    transformer = SpatialTransformer(
        size,
        transform=transform,
        localization=localization,
        control_grid=control_grid,
        padding=padding,
        return_theta=True,
        return_grid=True,
        name="spatial_transformer",
    )
    if initial_scale != 1.0:
        start = transformer.identity_theta()
        if transform == "tps":
            start = start * initial_scale  # control points (x, y) pulled towards the centre
        else:
            start[[0, 4]] *= initial_scale  # a and d (affine), h11 and h22 (projective)
        transformer.theta_layer.bias_initializer = keras.initializers.Constant(start.tolist())
    x, _, _ = transformer(x)
    outputs = _classifier(
        x,
        filters=filters,
        kernels=kernels,
        dense_units=dense_units,
        batch_norm=batch_norm,
        num_classes=num_classes,
        label=label,
        size_argument="input_shape" if output_size is None else "output_size",
    )
    return keras.Model(inputs, outputs, name=label)


def with_transformer_outputs(model, name=None):
    """A model sharing ``model``'s layers that returns what the transformer did.

    Args:
        model: an ``st_cnn`` (any model with a ``SpatialTransformer`` layer
            named ``"spatial_transformer"`` built with ``return_theta`` and
            ``return_grid``).
        name: name of the new model (default ``model.name + "_views"``).

    Returns:
        A ``keras.Model`` with the same input and a dict output: ``logits``,
        ``transformed`` (the classifier's input, in [0, 1]), ``theta``
        ``(batch, num_parameters)`` and ``grid`` ``(batch, h, w, 2)``.

    Example:
        >>> import numpy as np, keras_segattn as ksa
        >>> from keras_segattn.models.spatial_transformer_net import with_transformer_outputs
        >>> views = with_transformer_outputs(ksa.build_model("st_cnn_tiny"))
        >>> out = views.predict(np.zeros((1, 42, 42, 1)), verbose=0)
        >>> sorted(out), out["theta"].round(3).tolist()
        (['grid', 'logits', 'theta', 'transformed'], [[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    """
    try:
        layer = model.get_layer("spatial_transformer")
    except ValueError:
        layer = None
    if not isinstance(layer, SpatialTransformer) or not (layer.return_theta and layer.return_grid):
        raise ValueError(
            f"with_transformer_outputs: model {model.name!r} has no SpatialTransformer layer named "
            "'spatial_transformer' returning theta and grid; build it with build_model('st_cnn...')."
        )
    transformed, theta, grid = layer.output
    outputs = {"logits": model.output, "transformed": transformed, "theta": theta, "grid": grid}
    return keras.Model(model.inputs, outputs, name=name or f"{model.name}_views")


register_variant("digits_cnn_tiny", "digits_cnn", tiny=True, **TINY_CLASSIFIER)
register_variant("st_cnn_tiny", "st_cnn", tiny=True, **TINY_CLASSIFIER, **TINY_LOCALIZATION)
