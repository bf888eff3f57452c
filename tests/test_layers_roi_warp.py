"""RoIWarp against ``tf.image.crop_and_resize`` and a NumPy reference: values, both gradients, XLA, TFLite, ONNX."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.layers import RoIWarp

B, H, W, C = 2, 9, 8, 3


# ------------------------------------------------------------------ references
def crop_and_resize(features, boxes, size, extrapolation_value=0.0):
    """``tf.image.crop_and_resize`` on (B, R, 4) boxes, reshaped to (B, R, h, w, C)."""
    features, boxes = tf.convert_to_tensor(features), tf.convert_to_tensor(boxes)
    batch, count = boxes.shape[0], boxes.shape[1]
    out = tf.image.crop_and_resize(
        features, tf.reshape(boxes, [-1, 4]), tf.repeat(tf.range(batch), count), size,
        extrapolation_value=extrapolation_value,
    )
    return tf.reshape(out, [batch, count, *size, features.shape[-1]])


def sample_points(start, end, size, extent):
    """Pixel coordinates (float64) of one axis's samples: the layer's documented formula."""
    if size == 1:
        return np.array([0.5 * (start + end) * (extent - 1)])
    return start * (extent - 1) + np.arange(size) * (end - start) * (extent - 1) / (size - 1)


def numpy_reference(features, boxes, size, extrapolation_value=0.0):
    """Plain loops, one bilinear sample at a time, in float64."""
    features, boxes = np.asarray(features, np.float64), np.asarray(boxes, np.float64)
    batch, height, width, channels = features.shape
    h, w = size
    out = np.empty((batch, boxes.shape[1], h, w, channels))
    for b in range(batch):
        for r, (y1, x1, y2, x2) in enumerate(boxes[b]):
            ys, xs = sample_points(y1, y2, h, height), sample_points(x1, x2, w, width)
            for i, y in enumerate(ys):
                for j, x in enumerate(xs):
                    if not (0 <= y <= height - 1 and 0 <= x <= width - 1):
                        out[b, r, i, j] = extrapolation_value
                        continue
                    top, left = int(np.floor(y)), int(np.floor(x))
                    bottom, right = min(top + 1, height - 1), min(left + 1, width - 1)
                    fy, fx = y - top, x - left
                    out[b, r, i, j] = (
                        features[b, top, left] * (1 - fy) * (1 - fx)
                        + features[b, top, right] * (1 - fy) * fx
                        + features[b, bottom, left] * fy * (1 - fx)
                        + features[b, bottom, right] * fy * fx
                    )
    return out


def margins(boxes, size, height=H, width=W):
    """Smallest distance (pixels) of any sample from the validity edges, and of a valid one from a pixel row/column."""
    edge, kink = np.inf, np.inf
    for y1, x1, y2, x2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        for points, extent in ((sample_points(y1, y2, size[0], height), height),
                               (sample_points(x1, x2, size[1], width), width)):
            edge = min(edge, np.abs(points).min(), np.abs(points - (extent - 1)).min())
            inside = points[(points > 0) & (points < extent - 1)]
            if inside.size:
                kink = min(kink, np.abs(inside - np.round(inside)).min())
    return edge, kink


# ------------------------------------------------------------------ inputs
def features(seed=0, shape=(B, H, W, C)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# Boxes of every kind: inside, flipped in y, in x, in both, partly outside,
# wholly outside, degenerate (a point, a line).
SPECIAL_BOXES = np.array(
    [
        [[0.113, 0.207, 0.809, 0.911], [0.853, 0.157, 0.061, 0.717], [0.319, 0.953, 0.611, 0.103], [0.907, 0.819, 0.231, 0.053]],
        [[-0.313, -0.227, 0.619, 0.703], [0.417, 0.523, 1.353, 1.219], [1.117, 1.213, 1.611, 1.507], [0.433, 0.379, 0.433, 0.379]],
    ],
    "float32",
)


def random_boxes(seed, count=5):
    """(B, count, 4) boxes from [-0.4, 1.4]: mostly partly outside, some flipped, plus SPECIAL_BOXES."""
    rng = np.random.default_rng(seed)
    return np.concatenate([SPECIAL_BOXES, rng.uniform(-0.4, 1.4, (B, count, 4)).astype("float32")], axis=1)


SIZES = [(5, 4), (7, 7), (1, 3), (4, 1), (1, 1), (2, 9)]


# ------------------------------------------------------------------ values
def test_crop_and_resize_fails_where_the_layer_must_work():
    """The reason the layer exists (measured): no XLA kernel, and Flex-only in TFLite."""
    f, boxes = features(), SPECIAL_BOXES
    with pytest.raises(tf.errors.InvalidArgumentError, match="CropAndResize"):
        tf.function(lambda a, b: crop_and_resize(a, b, (3, 3)), jit_compile=True)(f, boxes)


@pytest.mark.parametrize("extrapolation_value", [0.0, -1.5])
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_matches_crop_and_resize_and_numpy(size, extrapolation_value):
    f, boxes = features(1), random_boxes(2)
    edge, _ = margins(boxes, size)
    assert edge > 1e-3, "a sample within rounding of the edge would make the comparison depend on rounding"
    got = RoIWarp(size, extrapolation_value=extrapolation_value)([f, boxes]).numpy()
    assert got.shape == (B, boxes.shape[1], *size, C) and got.dtype == np.float32
    scale = np.abs(f).max()
    want = crop_and_resize(f, boxes, size, extrapolation_value).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(got, numpy_reference(f, boxes, size, extrapolation_value), rtol=0, atol=1e-5 * scale)
    # Every kind of sample occurs: outside (the fill) and inside.
    assert (got == extrapolation_value).all(axis=-1).any() and not (got == extrapolation_value).all()


def test_flipped_box_gives_a_flipped_crop():
    f = features(3)
    box = np.array([[[0.1, 0.2, 0.8, 0.9]]] * B, "float32")
    flipped = box[..., [2, 3, 0, 1]]
    straight, reversed_ = (RoIWarp((4, 5))([f, b]).numpy() for b in (box, flipped))
    np.testing.assert_allclose(reversed_, straight[:, :, ::-1, ::-1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("height,rows", [(8, 14), (16, 20), (4, 22)])
def test_whole_box_samples_the_corner_pixels(height, rows):
    """(0, 0, 1, 1) reaches the last row and column exactly (crop_and_resize rounds past them at these sizes)."""
    f = features(4, (1, height, 5, 2))
    got = RoIWarp((rows, 5))([f, np.array([[[0, 0, 1, 1]]], "float32")]).numpy()[0, 0]
    np.testing.assert_array_equal(got[-1], f[0, -1])
    np.testing.assert_array_equal(got[0], f[0, 0])
    np.testing.assert_allclose(got, numpy_reference(f, [[[0, 0, 1, 1]]], (rows, 5))[0, 0], rtol=0, atol=1e-5)


def test_docstring_example_values():
    f = np.arange(25, dtype="float32").reshape(1, 5, 5, 1)
    out = RoIWarp((3, 2))([f, np.array([[[0.25, 0.0, 0.75, 0.5]]], "float32")]).numpy()
    np.testing.assert_array_equal(out[0, 0, :, :, 0], [[5, 7], [10, 12], [15, 17]])


# ------------------------------------------------------------------ gradients
def _weights(seed, shape):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def _gradients(warp, f, boxes, weights):
    f, boxes = tf.convert_to_tensor(f), tf.convert_to_tensor(boxes)
    with tf.GradientTape() as tape:
        tape.watch([f, boxes])
        loss = tf.reduce_sum(warp(f, boxes) * tf.cast(weights, f.dtype))
    return [loss, *tape.gradient(loss, [f, boxes])]


# Boxes for the box gradients: a fixed draw whose samples keep a margin from
# pixel rows/columns (kinks) and the validity edges, checked in the tests.
GRADIENT_SIZE = (4, 3)
GRADIENT_SEED = 7


def gradient_boxes():
    return random_boxes(GRADIENT_SEED, count=3)


def test_feature_gradient_matches_crop_and_resize():
    f, boxes = features(5), random_boxes(6)
    size = (5, 4)
    weights = _weights(0, (B, boxes.shape[1], *size, C))
    _, got, _ = _gradients(lambda a, b: RoIWarp(size)([a, b]), f, boxes, weights)
    _, want, _ = _gradients(lambda a, b: crop_and_resize(a, b, size), f, boxes, weights)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-5 * np.abs(want.numpy()).max())


def test_box_gradient_matches_central_differences_in_float64():
    f, boxes = features(8).astype("float64"), gradient_boxes().astype("float64")
    edge, kink = margins(boxes, GRADIENT_SIZE)
    assert edge > 1e-3 and kink > 1e-3, (edge, kink)
    weights = np.random.default_rng(1).normal(size=(B, boxes.shape[1], *GRADIENT_SIZE, C))
    layer = RoIWarp(GRADIENT_SIZE, dtype="float64")
    _, _, got = _gradients(lambda a, b: layer([a, b]), f, boxes, weights)

    # Boxes are independent: all 4 R perturbed boxes go through one call per sign.
    step = 1e-6  # box units: <= 1e-5 pixels, far inside the 1e-3 margin, so no kink is crossed
    count = boxes.shape[1]
    perturbation = np.eye(4)[None, None] * step  # (1, 1, 4 coordinates, 4)

    def per_box_losses(sign):
        moved = (boxes[:, :, None] + sign * perturbation).reshape(B, count * 4, 4)
        out = layer([f, moved]).numpy().reshape(B, count, 4, *GRADIENT_SIZE, C)
        return (out * weights[:, :, None]).sum(axis=(3, 4, 5))  # (B, R, 4)

    numeric = (per_box_losses(1) - per_box_losses(-1)) / (2 * step)
    assert got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), numeric, rtol=1e-7, atol=1e-7 * np.abs(numeric).max())
    assert (np.abs(numeric) > 1e-2).mean() > 0.5  # real slopes, not a test of zeros


def test_box_gradient_matches_crop_and_resize():
    f, boxes = features(8), gradient_boxes()
    edge, kink = margins(boxes, GRADIENT_SIZE)
    assert edge > 1e-3 and kink > 1e-3, (edge, kink)
    weights = _weights(1, (B, boxes.shape[1], *GRADIENT_SIZE, C))
    _, _, got = _gradients(lambda a, b: RoIWarp(GRADIENT_SIZE)([a, b]), f, boxes, weights)
    _, _, want = _gradients(lambda a, b: crop_and_resize(a, b, GRADIENT_SIZE), f, boxes, weights)
    scale = np.abs(want.numpy()).max()
    assert scale > 1.0
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-5 * scale)


def test_xla_forward_and_gradients_equal_eager():
    f, boxes = features(9), random_boxes(10)
    size = (5, 4)
    weights = _weights(2, (B, boxes.shape[1], *size, C))
    layer = RoIWarp(size)

    def run(a, b):
        loss, gf, gb = _gradients(lambda x, y: layer([x, y]), a, b, weights)
        return layer([a, b]), loss, gf, gb

    eager = run(f, boxes)
    compiled = tf.function(run, jit_compile=True)(tf.constant(f), tf.constant(boxes))
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-5, atol=1e-5 * max(np.abs(e.numpy()).max(), 1))


# ------------------------------------------------------------------ shapes, dtypes
def test_dynamic_and_zero_box_counts():
    size = (3, 2)
    inputs = [keras.Input((H, W, C)), keras.Input((None, 4))]
    model = keras.Model(inputs, RoIWarp(size)(inputs))
    assert tuple(model.output.shape) == (None, None, 3, 2, C)
    assert RoIWarp(size).compute_output_shape([(None, H, W, C), (2, None, 4)]) == (2, None, 3, 2, C)
    f = features(11)
    for count in (3, 0):
        boxes = random_boxes(12)[:, :count]
        out = model([f, boxes])
        assert tuple(out.shape) == (B, count, 3, 2, C)
        np.testing.assert_allclose(out.numpy(), crop_and_resize(f, boxes, size).numpy(), rtol=0, atol=1e-5 * 4)
    # no box: an empty output, zero gradients, also compiled
    loss, gf, gb = tf.function(
        lambda a, b: _gradients(lambda x, y: RoIWarp(size)([x, y]), a, b, tf.zeros((B, 0, 3, 2, C))),
        jit_compile=True,
    )(tf.constant(f), tf.zeros((B, 0, 4)))
    assert float(loss) == 0.0 and not gf.numpy().any() and gb.shape == (B, 0, 4)


def test_mixed_precision_keeps_box_coordinates_float32():
    """float16 boxes would put this sample on a half-pixel grid (0 or 0.5); float32 boxes keep 0.3."""
    from keras_segattn.training import precision_policy

    ramp = (np.arange(1025, dtype="float32") - 512).reshape(1, 1, 1025, 1)  # value = column - 512
    x = 512.3 / 1024
    box = np.array([[[0.0, x, 0.0, x]]], "float32")
    with precision_policy("mixed_float16"):
        out = RoIWarp((1, 1))([ramp, box])
    assert out.dtype == tf.float16
    np.testing.assert_allclose(float(out[0, 0, 0, 0, 0]), 0.3, atol=1e-3)


def test_float64_layer_computes_in_float64():
    f, boxes = features(13).astype("float64"), random_boxes(14).astype("float64")
    out = RoIWarp((5, 4), dtype="float64")([f, boxes])
    assert out.dtype == tf.float64
    np.testing.assert_allclose(out.numpy(), numpy_reference(f, boxes, (5, 4)), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ export
def _model(size=(5, 4)):
    inputs = [keras.Input((H, W, C), name="features"), keras.Input((None, 4), name="boxes")]
    return keras.Model(inputs, RoIWarp(size, name="warp")(inputs))


def _litert_run(content, feed):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the [dev] extra installs it
        Interpreter = tf.lite.Interpreter  # noqa: N806
    runner = Interpreter(model_content=content).get_signature_runner()
    return next(iter(runner(**feed).values()))


@pytest.mark.export
def test_tflite_builtins_only_and_parity():
    from keras_segattn.export import tflite
    from keras_segattn.export.signature import input_specs, serving_function

    model = _model()
    specs = input_specs(model)
    content = tflite.convert(model, serving_function(model, specs), specs)  # TFLITE_BUILTINS only
    ops = tflite.op_set(content)
    assert ops["flex"] == [] and ops["custom"] == [] and "GATHER" in ops["builtin"]
    f, boxes = features(15), random_boxes(16)
    reference = model([f, boxes]).numpy()
    got = _litert_run(content, {"features": f, "boxes": boxes})
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-5 * np.abs(f).max())


@pytest.mark.export
def test_onnx_parity(tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from keras_segattn.export import onnx as onnx_export
    from keras_segattn.export.signature import input_specs, serving_function

    model = _model()
    specs = input_specs(model)
    path = str(tmp_path / "roi_warp.onnx")
    onnx_export.convert(serving_function(model, specs), specs, path)  # tf2onnx.convert.from_function
    f, boxes = features(17), random_boxes(18)
    got = next(iter(onnx_export.run(path, {"features": f, "boxes": boxes}).values()))
    np.testing.assert_allclose(got, model([f, boxes]).numpy(), rtol=0, atol=1e-5 * np.abs(f).max())


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "inputs,pattern",
    [
        ([np.zeros((2, 9, 8), "float32"), np.zeros((2, 3, 4), "float32")],
         r"RoIWarp: features must be of rank 4 \(batch, height, width, channels\), received shape \(2, 9, 8\)\."),
        ([np.zeros((2, 9, 8, 3), "float32"), np.zeros((2, 4), "float32")],
         r"RoIWarp: boxes must be of shape \(batch, num_boxes, 4\) .*, received shape \(2, 4\)\."),
        ([np.zeros((2, 9, 8, 3), "float32"), np.zeros((2, 3, 5), "float32")],
         r"RoIWarp: boxes must be of shape \(batch, num_boxes, 4\) .*, received shape \(2, 3, 5\)\."),
        ([np.zeros((2, 9, 8, 3), "float32"), np.zeros((3, 1, 4), "float32")],
         r"RoIWarp: boxes must be of batch size 2 \(the features' batch size\), received shape \(3, 1, 4\)"),
        ([np.zeros((2, 9, 8, 3), "float32")], r"RoIWarp: inputs must be a list \[features, boxes\], received"),
    ],
    ids=["features_rank", "boxes_rank", "boxes_last_dim", "batch", "one_input"],
)
def test_wrong_inputs_are_named(inputs, pattern):
    with pytest.raises(ValueError, match=pattern):
        RoIWarp((3, 3))(inputs)


def test_symbolic_wrong_boxes_are_named():
    with pytest.raises(ValueError, match=r"RoIWarp: boxes must be of shape .*received shape \(None, 5, 2\)"):
        RoIWarp((3, 3))([keras.Input((9, 8, 3)), keras.Input((5, 2))])


@pytest.mark.parametrize("output_size", [(0, 4), (4, -1), 7, (2.5, 3), (True, 3), "ab", (3, 3, 3)])
def test_bad_output_size(output_size):
    with pytest.raises(ValueError, match=r"RoIWarp: output_size must be a tuple of 2 ints >= 1, received .*It is the \(height, width\)"):
        RoIWarp(output_size)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0", None, True])
def test_bad_extrapolation_value(value):
    with pytest.raises(ValueError, match=r"RoIWarp: extrapolation_value must be a finite number, received"):
        RoIWarp((3, 3), extrapolation_value=value)


def test_config_holds_the_constructor_arguments():
    layer = RoIWarp([np.int64(3), 4], extrapolation_value=np.float32(-1), name="warp")
    config = layer.get_config()
    assert config["output_size"] == (3, 4) and config["extrapolation_value"] == -1.0
    assert RoIWarp.from_config(config).get_config() == config
