"""The spatial transformer: localisation network + grid generator + sampler."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_segattn.layers._grid import normalize_output_size
from keras_segattn.layers.affine_grid_generator import AffineGridGenerator
from keras_segattn.layers.bilinear_sampler import PADDINGS, BilinearSampler
from keras_segattn.layers.projective_grid_generator import ProjectiveGridGenerator
from keras_segattn.layers.tps_grid_generator import (
    ThinPlateSplineGridGenerator,
    _check_control_grid,
)
from keras_segattn.validation import check_bool, check_choice, check_rank

#: ``transform=`` name -> grid generator.
TRANSFORMS = {
    "affine": AffineGridGenerator,
    "projective": ProjectiveGridGenerator,
    "tps": ThinPlateSplineGridGenerator,
}


def default_localization(filters=(20, 20), kernel_size=5, units=50, name="localization"):
    """The default localisation network (features only; the transformer adds the theta layer).

    ``[Conv2D(f, k, relu, same) -> MaxPooling2D(2)] * len(filters) -> Flatten ->
    Dense(units, relu)``: two 5x5 convolutions with 20 filters and a 50-unit
    layer by default, the size of the paper's MNIST localisation networks
    (Jaderberg et al. 2015, appendix A; unconfirmed against the paper).
    """
    layers = []
    for i, f in enumerate(filters):
        layers.append(
            keras.layers.Conv2D(f, kernel_size, padding="same", activation="relu", name=f"{name}_conv{i + 1}")
        )
        layers.append(keras.layers.MaxPooling2D(2, name=f"{name}_pool{i + 1}"))
    layers.append(keras.layers.Flatten(name=f"{name}_flatten"))
    if units:
        layers.append(keras.layers.Dense(units, activation="relu", name=f"{name}_fc"))
    return keras.Sequential(layers, name=name)


@keras.saving.register_keras_serializable(package="keras_segattn")
class SpatialTransformer(keras.layers.Layer):
    """Spatial transformer: predicts a transform from the input and resamples the input with it.

    Jaderberg, Simonyan, Zisserman & Kavukcuoglu, "Spatial Transformer
    Networks", NIPS 2015. Three parts (figure 2 of the paper):

    1. the **localisation network** (``localization``) maps the input
       ``(batch, H, W, C)`` to features; this layer flattens them and adds a
       ``Dense`` layer (``self.theta_layer``) regressing ``theta``, with a zero
       kernel and the identity transform as bias, so training starts from the
       identity (the output equals the input exactly when ``output_size`` is
       the input size);
    2. the **grid generator** (:class:`AffineGridGenerator`,
       :class:`ProjectiveGridGenerator` or
       :class:`ThinPlateSplineGridGenerator`, chosen by ``transform``) maps
       each output pixel to a source location;
    3. the **sampler** (:class:`BilinearSampler`) interpolates the input there.

    Everything is differentiable, so the module learns from the task loss
    alone. Insert it in front of any classifier (see the ``st_cnn`` model).

    Args:
        output_size: ``(height, width)`` of the transformed output.
        transform: ``"affine"`` (6 parameters), ``"projective"`` (8,
            homography with h33 = 1) or ``"tps"`` (thin-plate spline, 2 per
            control point).
        localization: a Keras layer or model mapping the input to features
            (any shape with a known size; flattened), or ``None`` for
            :func:`default_localization`. It is serialised with this layer.
        control_grid: ``(rows, cols)`` of TPS control points (``transform="tps"``).
        padding: sampler border handling, ``"zeros"`` or ``"border"`` (see
            :class:`BilinearSampler`).
        align_corners: coordinate convention of grid and sampler (default
            True: -1/+1 are the centres of the corner pixels).
        return_theta: also return ``theta`` ``(batch, num_parameters)``.
        return_grid: also return the sampling grid ``(batch, h, w, 2)``.

    Input shape:
        ``(batch, H, W, C)`` with known H, W and C.

    Output shape:
        ``(batch, height, width, C)``; with ``return_theta`` and/or
        ``return_grid`` a tuple ``(output, theta, grid)`` of those requested,
        in that order.

    Example:
        >>> import numpy as np
        >>> from keras_segattn.layers import SpatialTransformer
        >>> images = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 1)).astype("float32")
        >>> st = SpatialTransformer((16, 16), return_theta=True)
        >>> out, theta = st(images)
        >>> bool(np.array_equal(out, images)), theta.numpy()[0].tolist()  # identity at start
        (True, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    """

    def __init__(
        self,
        output_size,
        transform="affine",
        localization=None,
        control_grid=(4, 4),
        padding="zeros",
        align_corners=True,
        return_theta=False,
        return_grid=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = "SpatialTransformer"
        self.output_size = normalize_output_size(output_size, name)
        transform = check_choice(name, "transform", transform, TRANSFORMS)
        padding = check_choice(name, "padding", padding, PADDINGS)
        if localization is not None and not isinstance(localization, keras.layers.Layer):
            raise TypeError(
                f"{name}: localization must be a Keras layer or model mapping the input to "
                f"features, or None for the default network; received {type(localization).__name__} "
                f"{localization!r}."
            )
        self.transform = transform
        self.control_grid = _check_control_grid(control_grid, name)
        self.padding = padding
        self.align_corners = check_bool(name, "align_corners", align_corners)
        self.return_theta = check_bool(name, "return_theta", return_theta)
        self.return_grid = check_bool(name, "return_grid", return_grid)
        self._user_localization = localization
        self.localization = localization if localization is not None else default_localization()

        generator = TRANSFORMS[transform]
        extra = {"control_grid": self.control_grid} if transform == "tps" else {}
        self.grid_generator = generator(
            self.output_size, align_corners=self.align_corners, name="grid_generator", **extra
        )
        identity = self.grid_generator.identity_theta()
        self.flatten = keras.layers.Flatten(name="flatten")
        self.theta_layer = keras.layers.Dense(
            len(identity),
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(identity.tolist()),
            dtype=self.dtype_policy if self.dtype_policy.compute_dtype == "float64" else "float32",
            name="theta",
        )
        self.sampler = BilinearSampler(
            padding=padding, align_corners=self.align_corners, dtype=self.dtype_policy, name="sampler"
        )

    @property
    def num_parameters(self) -> int:
        """Length of theta: 6 (affine), 8 (projective) or 2 K (TPS)."""
        return self.grid_generator.num_parameters

    def identity_theta(self) -> np.ndarray:
        return self.grid_generator.identity_theta()

    def _check_input(self, input_shape):
        check_rank("SpatialTransformer", "inputs", input_shape, 4, "(batch, height, width, channels)")
        if any(d is None for d in input_shape[1:]):
            raise ValueError(
                "SpatialTransformer: the input height, width and channels must be known (the "
                f"localisation network regresses theta from them), received shape {tuple(input_shape)}."
            )

    def build(self, input_shape):
        self._check_input(input_shape)
        input_shape = tuple(input_shape)
        if not self.localization.built:
            self.localization.build(input_shape)
        features = self.localization.compute_output_shape(input_shape)
        flat = math.prod(d for d in features[1:])
        self.flatten.build(features)
        self.theta_layer.build((input_shape[0], flat))
        theta_shape = (input_shape[0], self.num_parameters)
        self.grid_generator.build(theta_shape)
        self.sampler.build([input_shape, (input_shape[0], *self.output_size, 2)])
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_input(input_shape)
        batch = input_shape[0]
        shapes = [(batch, *self.output_size, input_shape[-1])]
        if self.return_theta:
            shapes.append((batch, self.num_parameters))
        if self.return_grid:
            shapes.append((batch, *self.output_size, 2))
        return shapes[0] if len(shapes) == 1 else tuple(shapes)

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape(inputs.shape)
        if not (self.return_theta or self.return_grid):
            return keras.KerasTensor(shapes, dtype=self.compute_dtype)
        dtypes = [self.compute_dtype]
        coordinate = "float64" if self.compute_dtype == "float64" else "float32"
        if self.return_theta:
            dtypes.append(coordinate)
        if self.return_grid:
            dtypes.append(coordinate)
        return tuple(keras.KerasTensor(s, dtype=d) for s, d in zip(shapes, dtypes))

    def call(self, inputs, training=None):
        features = self.localization(inputs, training=training)
        theta = self.theta_layer(self.flatten(features))
        grid = self.grid_generator(theta)
        outputs = self.sampler([inputs, grid])
        extra = ([theta] if self.return_theta else []) + ([grid] if self.return_grid else [])
        return (outputs, *extra) if extra else outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": self.output_size,
                "transform": self.transform,
                "localization": None
                if self._user_localization is None
                else keras.saving.serialize_keras_object(self._user_localization),
                "control_grid": self.control_grid,
                "padding": self.padding,
                "align_corners": self.align_corners,
                "return_theta": self.return_theta,
                "return_grid": self.return_grid,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("localization") is not None:
            config["localization"] = keras.saving.deserialize_keras_object(config["localization"])
        return cls(**config)
