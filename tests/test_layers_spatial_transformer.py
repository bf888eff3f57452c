"""Spatial-transformer layers against independent references (NumPy, SciPy).

The shared layer helper runs on them in tests/test_layers_sweep.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.interpolate import RBFInterpolator
from scipy.ndimage import map_coordinates

from keras_segattn.layers import (
    AffineGridGenerator,
    BilinearSampler,
    ProjectiveGridGenerator,
    SpatialTransformer,
    ThinPlateSplineGridGenerator,
)

GENERATORS = {
    "affine": lambda size, **kw: AffineGridGenerator(size, **kw),
    "projective": lambda size, **kw: ProjectiveGridGenerator(size, **kw),
    "tps": lambda size, **kw: ThinPlateSplineGridGenerator(size, control_grid=(3, 4), **kw),
}
SCIPY_MODE = {"zeros": "grid-constant", "border": "nearest"}


# ------------------------------------------------------------------ references
def ref_coords_1d(n, align_corners):
    """Normalised pixel-centre coordinates, written independently of the library."""
    if align_corners:
        return np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return np.linspace(-1.0 + 1.0 / n, 1.0 - 1.0 / n, n)


def ref_target_points(height, width, align_corners):
    yy, xx = np.meshgrid(ref_coords_1d(height, align_corners), ref_coords_1d(width, align_corners), indexing="ij")
    return xx, yy


def to_pixels(coord, size, align_corners):
    if align_corners:
        return (coord + 1.0) * (size - 1) / 2.0
    return ((coord + 1.0) * size - 1.0) / 2.0


def scipy_sample(images, xs, ys, padding, align_corners):
    """Bilinear sampling of every image/channel at normalised (xs, ys) (B, Ho, Wo) with SciPy."""
    b, h, w, c = images.shape
    out = np.zeros(xs.shape + (c,))
    for i in range(b):
        rows = to_pixels(ys[i], h, align_corners)
        cols = to_pixels(xs[i], w, align_corners)
        for k in range(c):
            out[i, ..., k] = map_coordinates(
                images[i, ..., k].astype(np.float64), [rows, cols], order=1, mode=SCIPY_MODE[padding], cval=0.0
            )
    return out


def affine_theta(angle=0.0, scale=(1.0, 1.0), shift=(0.0, 0.0)):
    """Source = R(angle) diag(scale) target + shift, as the flat [a, b, tx, c, d, ty]."""
    cos, sin = np.cos(angle), np.sin(angle)
    m = np.array([[cos, -sin], [sin, cos]]) @ np.diag(scale)
    return np.array([m[0, 0], m[0, 1], shift[0], m[1, 0], m[1, 1], shift[1]])


def apply_affine(theta, xx, yy):
    a, b, tx, c, d, ty = theta
    return a * xx + b * yy + tx, c * xx + d * yy + ty


def apply_projective(theta, xx, yy):
    h = np.append(theta, 1.0).reshape(3, 3)
    den = h[2, 0] * xx + h[2, 1] * yy + h[2, 2]
    return (h[0, 0] * xx + h[0, 1] * yy + h[0, 2]) / den, (h[1, 0] * xx + h[1, 1] * yy + h[1, 2]) / den


def random_images(rng, shape):
    return rng.uniform(0.0, 1.0, shape).astype("float32")


# ------------------------------------------------------------------ identity
IDENTITY_SIZES = [(5, 7), (28, 28), (42, 42), (60, 37), (1, 1), (1, 6), (9, 1)]


@pytest.mark.parametrize("transform", sorted(GENERATORS))
@pytest.mark.parametrize("padding", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [True, False])
def test_identity_reproduces_the_input_exactly(transform, padding, align_corners):
    rng = np.random.default_rng(0)
    sampler = BilinearSampler(padding=padding, align_corners=align_corners)
    for size in IDENTITY_SIZES:
        images = rng.uniform(0.0, 255.0, (2, *size, 3)).astype("float32")
        generator = GENERATORS[transform](size, align_corners=align_corners)
        theta = np.tile(generator.identity_theta(), (2, 1))
        out = sampler([images, generator(theta)]).numpy()
        np.testing.assert_array_equal(out, images, err_msg=f"{transform} {size} eager")
        compiled = tf.function(lambda x, t, g=generator: sampler([x, g(t)]), jit_compile=True)
        np.testing.assert_array_equal(compiled(images, theta).numpy(), images, err_msg=f"{transform} {size} XLA")


@pytest.mark.parametrize("transform", ["affine", "projective", "tps"])
def test_spatial_transformer_starts_at_the_identity(transform):
    images = np.random.default_rng(1).uniform(0, 255, (3, 20, 24, 2)).astype("float32")
    layer = SpatialTransformer((20, 24), transform=transform, control_grid=(3, 3), return_theta=True, return_grid=True)
    out, theta, grid = layer(images)
    np.testing.assert_array_equal(out.numpy(), images)
    np.testing.assert_array_equal(theta.numpy(), np.tile(layer.identity_theta(), (3, 1)))
    xx, yy = ref_target_points(20, 24, True)
    np.testing.assert_allclose(grid.numpy()[0, ..., 0], xx, rtol=0, atol=1e-7)
    np.testing.assert_allclose(grid.numpy()[0, ..., 1], yy, rtol=0, atol=1e-7)
    assert theta.shape == (3, layer.num_parameters)


# ------------------------------------------------------------------ SciPy agreement
KNOWN_AFFINE = {
    "translate_x_2px": affine_theta(shift=(2 * 2.0 / 15, 0.0)),  # 2 pixels right on a 16-px side
    "translate_xy_fraction": affine_theta(shift=(-0.23, 0.41)),
    "rotate_30": affine_theta(angle=np.deg2rad(30)),
    "rotate_90": affine_theta(angle=np.pi / 2),
    "zoom_in_2x": affine_theta(scale=(0.5, 0.5)),
    "zoom_out_2x": affine_theta(scale=(2.0, 2.0)),
    "anisotropic_scale_rotate_shift": affine_theta(np.deg2rad(-50), (0.8, 1.3), (0.3, -0.2)),
    "mostly_outside": affine_theta(shift=(1.6, -1.2)),
}

# Tolerance: float32 coordinates are exact to ~1e-7 of the side (16 px here),
# so on images in [0, 1] the sampler may differ from SciPy's float64 by the
# image slope (<= 1) times that, plus the documented snap of 2**-22 * side
# pixels: < 2e-5. Any convention or off-by-one error is >= 1e-2.
ATOL = 2e-5


@pytest.mark.parametrize("name", sorted(KNOWN_AFFINE))
@pytest.mark.parametrize("padding", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [True, False])
def test_affine_matches_scipy_map_coordinates(name, padding, align_corners):
    rng = np.random.default_rng(2)
    images = random_images(rng, (2, 16, 16, 2))
    theta = KNOWN_AFFINE[name]
    out_size = (12, 20)
    grid = AffineGridGenerator(out_size, align_corners=align_corners)(np.tile(theta, (2, 1)).astype("float32"))
    out = BilinearSampler(padding=padding, align_corners=align_corners)([images, grid]).numpy()
    xs, ys = apply_affine(theta, *ref_target_points(*out_size, align_corners))
    expected = scipy_sample(images, np.stack([xs] * 2), np.stack([ys] * 2), padding, align_corners)
    np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL)


def test_translation_by_whole_pixels_moves_the_image():
    """A whole-pixel shift is a plain array shift; zeros vs border differ only where it leaves the image."""
    image = np.arange(1, 26, dtype="float32").reshape(1, 5, 5, 1)
    theta = affine_theta(shift=(2 * 2.0 / 4, 0.0))[None].astype("float32")  # sample 2 px to the right
    grid = AffineGridGenerator((5, 5))(theta)
    zeros = BilinearSampler("zeros")([image, grid]).numpy()[0, :, :, 0]
    border = BilinearSampler("border")([image, grid]).numpy()[0, :, :, 0]
    img = image[0, :, :, 0]
    np.testing.assert_array_equal(zeros[:, :3], img[:, 2:])
    np.testing.assert_array_equal(zeros[:, 3:], 0)
    np.testing.assert_array_equal(border[:, :3], img[:, 2:])
    np.testing.assert_array_equal(border[:, 3:], np.repeat(img[:, 4:], 2, axis=1))


def test_half_a_pixel_outside_gets_half_the_edge_value():
    image = np.full((1, 3, 3, 1), 8.0, "float32")
    # Output x = -1 samples 0.5 px left of the first pixel centre.
    theta = np.array([[1, 0, -2 * 0.5 / 2, 0, 1, 0]], "float32")
    grid = AffineGridGenerator((3, 3))(theta)
    zeros = BilinearSampler("zeros")([image, grid]).numpy()[0, :, :, 0]
    border = BilinearSampler("border")([image, grid]).numpy()[0, :, :, 0]
    np.testing.assert_allclose(zeros[:, 0], 4.0, atol=1e-6)
    np.testing.assert_allclose(zeros[:, 1:], 8.0, atol=1e-6)
    np.testing.assert_allclose(border, 8.0, atol=1e-6)


@pytest.mark.parametrize("padding", ["zeros", "border"])
def test_projective_matches_scipy(padding):
    rng = np.random.default_rng(3)
    images = random_images(rng, (1, 16, 18, 1))
    theta = np.array([0.9, 0.15, 0.05, -0.1, 1.1, -0.08, 0.12, -0.2])
    grid = ProjectiveGridGenerator((14, 15))(theta[None].astype("float32"))
    xs, ys = apply_projective(theta, *ref_target_points(14, 15, True))
    np.testing.assert_allclose(grid.numpy()[0, ..., 0], xs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(grid.numpy()[0, ..., 1], ys, rtol=0, atol=1e-6)
    out = BilinearSampler(padding)([images, grid]).numpy()
    np.testing.assert_allclose(out, scipy_sample(images, xs[None], ys[None], padding, True), rtol=0, atol=ATOL)
    # The full 3x3 form with a scaled matrix is the same homography.
    full = (2.5 * np.append(theta, 1.0)).reshape(1, 3, 3).astype("float32")
    np.testing.assert_allclose(ProjectiveGridGenerator((14, 15))(full).numpy(), grid.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("control_grid", [(2, 2), (3, 4), (4, 4)])
def test_tps_matches_scipy_rbf_thin_plate_spline(control_grid):
    rng = np.random.default_rng(4)
    layer = ThinPlateSplineGridGenerator((13, 17), control_grid=control_grid)
    controls = layer.control_points().astype(np.float64)
    targets = controls + rng.normal(0.0, 0.15, controls.shape)
    grid = layer(targets.reshape(1, -1).astype("float32")).numpy()[0]
    xx, yy = ref_target_points(13, 17, True)
    # SciPy's thin-plate RBF with a linear polynomial is the TPS interpolant.
    reference = RBFInterpolator(controls, targets, kernel="thin_plate_spline", degree=1)(
        np.stack([xx.ravel(), yy.ravel()], axis=1)
    ).reshape(13, 17, 2)
    np.testing.assert_allclose(grid, reference, rtol=0, atol=2e-6)
    # The spline passes through the control points: a grid whose pixels hit them.
    rows, cols = control_grid
    layer_at_controls = ThinPlateSplineGridGenerator((rows, cols), control_grid=control_grid)
    at_controls = layer_at_controls(targets.reshape(1, -1).astype("float32")).numpy()[0]
    np.testing.assert_allclose(at_controls.reshape(-1, 2), targets, rtol=0, atol=2e-6)
    # (batch, K, 2) is the same as the flat form.
    np.testing.assert_array_equal(layer(targets[None].astype("float32")).numpy()[0], grid)


def test_tps_reproduces_an_affine_map():
    layer = ThinPlateSplineGridGenerator((9, 11), control_grid=(4, 4))
    theta = affine_theta(np.deg2rad(20), (0.7, 0.9), (0.1, -0.2))
    controls = layer.control_points().astype(np.float64)
    moved = np.stack(apply_affine(theta, controls[:, 0], controls[:, 1]), axis=1)
    tps = layer(moved.reshape(1, -1).astype("float32")).numpy()
    affine = AffineGridGenerator((9, 11))(theta[None].astype("float32")).numpy()
    np.testing.assert_allclose(tps, affine, rtol=0, atol=2e-6)


# ------------------------------------------------------------------ gradients
def _loss_fn(generator, sampler, images, weights):
    def loss(theta):
        return tf.reduce_sum(sampler([images, generator(theta)]) * weights)

    return loss


@pytest.mark.parametrize("transform", sorted(GENERATORS))
@pytest.mark.parametrize("padding", ["zeros", "border"])
def test_gradients_wrt_theta_match_finite_differences(transform, padding):
    rng = np.random.default_rng(5)
    generator = GENERATORS[transform]((9, 10), dtype="float64")
    sampler = BilinearSampler(padding, dtype="float64")
    images = tf.constant(rng.uniform(0, 1, (2, 11, 12, 2)))
    identity = generator.identity_theta().astype(np.float64)
    theta = np.stack([identity + rng.normal(0, 0.08, identity.shape) for _ in range(2)])
    if transform == "affine":
        theta[1] = affine_theta(0.4, (1.3, 1.2), (0.5, -0.3))  # partly outside the image
    weights = tf.constant(rng.normal(size=(2, 9, 10, 2)))
    loss = _loss_fn(generator, sampler, images, weights)
    theta_t = tf.constant(theta)
    with tf.GradientTape() as tape:
        tape.watch(theta_t)
        value = loss(theta_t)
    analytic = tape.gradient(value, theta_t).numpy()
    numeric = np.zeros_like(theta)
    eps = 1e-7
    for idx in np.ndindex(theta.shape):
        plus, minus = theta.copy(), theta.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (loss(tf.constant(plus)).numpy() - loss(tf.constant(minus)).numpy()) / (2 * eps)
    assert np.abs(analytic).max() > 1e-2  # the check is not vacuous
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


def test_gradient_wrt_images_is_the_transposed_sampling():
    rng = np.random.default_rng(6)
    shape = (1, 6, 7, 1)
    images = tf.constant(rng.uniform(0, 1, shape))
    theta = affine_theta(0.3, (0.9, 1.1), (0.1, 0.05))[None]
    grid = AffineGridGenerator((5, 5), dtype="float64")(theta)
    sampler = BilinearSampler("zeros", dtype="float64")
    weights = rng.normal(size=(1, 5, 5, 1))
    with tf.GradientTape() as tape:
        tape.watch(images)
        value = tf.reduce_sum(sampler([images, grid]) * weights)
    analytic = tape.gradient(value, images).numpy()
    # The output is linear in the image: d value / d pixel = value on a one-hot image.
    numeric = np.zeros(shape)
    for idx in np.ndindex(shape):
        onehot = np.zeros(shape)
        onehot[idx] = 1.0
        numeric[idx] = np.sum(sampler([tf.constant(onehot), grid]).numpy() * weights)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ XLA
@pytest.mark.parametrize("transform", sorted(GENERATORS))
def test_xla_equals_eager(transform):
    rng = np.random.default_rng(7)
    generator = GENERATORS[transform]((20, 22))
    sampler = BilinearSampler("zeros")
    images = rng.uniform(0, 255, (3, 24, 21, 3)).astype("float32")
    identity = generator.identity_theta()
    theta = (identity + rng.normal(0, 0.1, (3, identity.size))).astype("float32")
    # The grid: XLA may fuse a multiply-add, which changes a coordinate by an
    # ulp or two (|coordinate| < 2: 2.4e-7 per ulp).
    grid = generator(theta).numpy()
    grid_xla = tf.function(generator, jit_compile=True)(theta).numpy()
    np.testing.assert_allclose(grid_xla, grid, rtol=0, atol=5e-7)
    # The sampler on the same grid (one pixel conversion, may also fuse):
    # at most a couple of ulps of a pixel coordinate (2.4e-6 px at 20 px)
    # times the image's largest step between neighbours (255).
    out = sampler([images, grid]).numpy()
    out_xla = tf.function(sampler, jit_compile=True)([images, grid]).numpy()
    np.testing.assert_allclose(out_xla, out, rtol=0, atol=255 * 5e-6)


# ------------------------------------------------------------------ initial state
# The shared check_layer runs on every layer in tests/test_layers_sweep.py.
def _custom_localization():
    return keras.Sequential(
        [keras.layers.Conv2D(4, 3, strides=2, activation="relu"), keras.layers.GlobalAveragePooling2D()],
        name="custom_loc",
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"transform": "projective", "return_theta": True},
        {"transform": "tps", "control_grid": (3, 3), "return_theta": True, "return_grid": True},
        {"localization": "custom", "padding": "border", "return_grid": True},
    ],
)
def test_theta_layer_starts_at_identity(kwargs):
    images = random_images(np.random.default_rng(9), (2, 16, 14, 3))
    kw = dict(kwargs)
    if kw.get("localization") == "custom":
        kw["localization"] = _custom_localization()
    layer = SpatialTransformer((12, 10), **kw)
    layer(images)
    assert layer.theta_layer.kernel.numpy().any() == False  # noqa: E712 - zero kernel at start
    np.testing.assert_array_equal(layer.theta_layer.bias.numpy(), layer.identity_theta())


def test_user_localization_round_trips_through_config():
    layer = SpatialTransformer((8, 8), localization=_custom_localization())
    config = layer.get_config()
    assert config["localization"]["config"]["name"] == "custom_loc"
    clone = SpatialTransformer.from_config(config)
    assert clone.localization.name == "custom_loc" and clone.localization is not layer.localization
    assert SpatialTransformer((8, 8)).get_config()["localization"] is None


# ------------------------------------------------------------------ export
def _st_model(transform):
    inp = keras.Input((24, 20, 1), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = SpatialTransformer((16, 16), transform=transform, control_grid=(3, 3), name="st")(x)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(5, name="logits")(x))
    kernel = model.get_layer("st").theta_layer.kernel
    kernel.assign(np.random.default_rng(10).normal(0, 0.05, kernel.shape).astype("float32"))  # not the identity
    return model


@pytest.mark.export
@pytest.mark.parametrize("transform", ["affine", "projective", "tps"])
def test_tflite_builtins_only_and_onnx_parity(transform, tmp_path):
    from keras_segattn.export import onnx as onnx_export
    from keras_segattn.export import tflite
    from keras_segattn.export.signature import input_specs, serving_function

    model = _st_model(transform)
    images = np.random.default_rng(11).uniform(0, 255, (6, 24, 20, 1)).astype("float32")
    reference = model(images).numpy()
    scale = np.abs(reference).max()
    theta = model.get_layer("st").theta_layer(
        model.get_layer("st").flatten(model.get_layer("st").localization(images / 255.0))
    ).numpy()
    assert np.abs(theta - model.get_layer("st").identity_theta()).max() > 1e-2  # a real warp

    specs = input_specs(model)
    content = tflite.convert(model, serving_function(model, specs), specs)
    ops = tflite.op_set(content)
    assert ops["flex"] == [] and ops["custom"] == []
    assert "GATHER" in ops["builtin"]
    got = next(iter(tflite.run(content, {"image": images}).values()))
    assert np.abs(got - reference).max() <= 1e-5 * scale

    path = str(tmp_path / "st.onnx")
    onnx_export.convert(serving_function(model, specs), specs, path)
    got = next(iter(onnx_export.run(path, {"image": images}).values()))
    assert np.abs(got - reference).max() <= 1e-5 * scale


# ------------------------------------------------------------------ errors
def test_theta_of_the_wrong_shape():
    with pytest.raises(
        ValueError,
        match=r"AffineGridGenerator: theta must be of shape \(batch, 6\) or \(batch, 2, 3\) .*received shape \(2, 5\)",
    ):
        AffineGridGenerator((4, 4))(np.zeros((2, 5), "float32"))
    with pytest.raises(
        ValueError,
        match=r"ProjectiveGridGenerator: theta must be of shape \(batch, 8\) or \(batch, 3, 3\) .*received shape \(1, 6\)",
    ):
        ProjectiveGridGenerator((4, 4))(np.zeros((1, 6), "float32"))
    with pytest.raises(
        ValueError,
        match=r"ThinPlateSplineGridGenerator: theta must be of shape \(batch, 18\) or \(batch, 9, 2\) \(source \(x, y\) of the 3x3 control points\), received shape \(None, 32\)",
    ):
        ThinPlateSplineGridGenerator((4, 4), control_grid=(3, 3))(keras.Input((32,)))


@pytest.mark.parametrize(
    "layer", [AffineGridGenerator, ProjectiveGridGenerator, ThinPlateSplineGridGenerator, SpatialTransformer]
)
def test_output_size_must_be_positive(layer):
    name = layer.__name__
    expected = rf"{name}: output_size must be a tuple of 2 ints >= 1, received"
    with pytest.raises(ValueError, match=rf"{expected} \(0, 4\)\. It is the \(height, width\) of the output\.$"):
        layer((0, 4))
    with pytest.raises(ValueError, match=rf"{expected} \(4, -2\)\."):
        layer((4, -2))
    with pytest.raises(ValueError, match=rf"{expected} 16\."):
        layer(16)
    with pytest.raises(ValueError, match=rf"{expected} \(4\.5, 4\)\."):
        layer((4.5, 4))


def test_unknown_transform_and_other_bad_arguments():
    with pytest.raises(
        ValueError, match="SpatialTransformer: transform must be one of 'affine', 'projective', 'tps', received 'similarity'"
    ):
        SpatialTransformer((8, 8), transform="similarity")
    with pytest.raises(ValueError, match="BilinearSampler: padding must be one of 'zeros', 'border', received 'reflect'"):
        BilinearSampler(padding="reflect")
    with pytest.raises(ValueError, match="SpatialTransformer: padding must be one of 'zeros', 'border', received 'edge'"):
        SpatialTransformer((8, 8), padding="edge")
    with pytest.raises(ValueError, match=r"ThinPlateSplineGridGenerator: control_grid must be a tuple of 2 ints >= 2, received \(1, 4\)\. It is the \(rows, columns\) of control points\."):
        ThinPlateSplineGridGenerator((8, 8), control_grid=(1, 4))
    with pytest.raises(ValueError, match="BilinearSampler: align_corners must be True or False, received 'yes'"):
        BilinearSampler(align_corners="yes")
    with pytest.raises(TypeError, match="SpatialTransformer: localization must be a Keras layer or model .*received str"):
        SpatialTransformer((8, 8), localization="cnn")


def test_bad_sampler_and_transformer_inputs():
    images = np.zeros((2, 5, 5, 1), "float32")
    with pytest.raises(ValueError, match=r"BilinearSampler: grid must be of shape \(batch, out_height, out_width, 2\) holding \(x, y\), received shape \(2, 5, 5, 3\)"):
        BilinearSampler()([images, np.zeros((2, 5, 5, 3), "float32")])
    with pytest.raises(ValueError, match=r"BilinearSampler: images must be of rank 4 .*received shape \(2, 5, 5\)"):
        BilinearSampler()([images[..., 0], np.zeros((2, 5, 5, 2), "float32")])
    with pytest.raises(ValueError, match=r"BilinearSampler: images and grid must have the same batch size"):
        BilinearSampler()([images, np.zeros((3, 5, 5, 2), "float32")])
    with pytest.raises(ValueError, match=r"BilinearSampler: inputs must be a list \[images, grid\]"):
        BilinearSampler()(images)
    with pytest.raises(ValueError, match=r"SpatialTransformer: the input height, width and channels must be known .*received shape \(None, None, None, 3\)"):
        SpatialTransformer((8, 8))(keras.Input((None, None, 3)))
