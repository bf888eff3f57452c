"""Backbones: Inception-v4, Inception-ResNet-v2 (Keras Applications') and VGG16 behind one interface.

Independent references: timm's Inception-v4 parameter count (42,679,816 with
1000 classes, the PyTorch port of the TF-slim checkpoint), Keras
Applications' own InceptionResNetV2 (same outputs once its weights are
copied in), NumPy for the scaled residual.
"""

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.backbones import (
    get_backbone,
    inception_resnet_v2_backbone,
    inception_v4_backbone,
    list_backbones,
)
from keras_segattn.layers import ScaledResidual

TIMM_INCEPTION_V4_PARAMS = 42_679_816  # timm.create_model("inception_v4"): trainable, BN gamma+beta counted
KERAS_INCEPTION_RESNET_V2_PARAMS = 55_873_736  # keras.applications.InceptionResNetV2() count_params()


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_inception_v4_paper_layout_and_parameter_count():
    model = ksa.build_model("inception_v4")
    assert _trainable(model) == TIMM_INCEPTION_V4_PARAMS
    shapes = {k: tuple(v.shape[1:]) for k, v in model.get_layer("inception_v4").output.items()}
    # The paper's Figures 3-9 on a 299x299 input.
    assert shapes == {
        "stem_conv": (147, 147, 64),
        "stem_mixed": (71, 71, 192),
        "stem": (35, 35, 384),
        "inception_a": (35, 35, 384),
        "inception_b": (17, 17, 1024),
        "inception_c": (8, 8, 1536),
    }
    counts = {kind: sum(layer.name == f"{kind}{i}" for layer in model.get_layer("inception_v4").layers for i in range(1, 9))
              for kind in ("inception_a", "inception_b", "inception_c")}
    assert counts == {"inception_a": 4, "inception_b": 7, "inception_c": 3}


def test_inception_resnet_v2_is_keras_applications_network():
    ours = inception_resnet_v2_backbone((75, 75, 3))
    theirs = keras.applications.InceptionResNetV2(include_top=False, weights=None, input_shape=(75, 75, 3))
    assert ours.count_params() == theirs.count_params()
    assert ours.count_params() + 1536 * 1000 + 1000 == KERAS_INCEPTION_RESNET_V2_PARAMS
    rng = np.random.default_rng(0)
    for w in theirs.weights:  # non-trivial BN statistics too
        w.assign(rng.normal(0, 0.05, w.shape).astype("float32") + (1.0 if "variance" in w.path else 0.0))
    ours_weights = [w for layer in ours.layers for w in layer.weights]
    theirs_weights = [w for layer in theirs.layers for w in layer.weights]
    for a, b in zip(ours_weights, theirs_weights):
        a.assign(b)
    x = rng.uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    np.testing.assert_allclose(ours(x)["inception_resnet_c"], theirs(x), rtol=1e-5, atol=1e-5)


def test_inception_resnet_v2_takes_the_dtype_policy_in_force_not_the_cached_one():
    # The Keras Applications config is cached per process: building under mixed
    # precision first once gave every later float32 model bfloat16 layers.
    from keras_segattn.backbones import inception_resnet_v2 as irv2
    from keras_segattn.training import precision_policy

    irv2._keras_config.cache_clear()
    with precision_policy("mixed_bfloat16"):
        mixed = irv2.inception_resnet_v2_backbone((75, 75, 3), blocks=(1, 1, 1), width_divisor=8)
    plain = irv2.inception_resnet_v2_backbone((75, 75, 3), blocks=(1, 1, 1), width_divisor=8)
    convs = lambda m: [layer for layer in m.layers if isinstance(layer, keras.layers.Conv2D)]  # noqa: E731
    assert {layer.compute_dtype for layer in convs(mixed)} == {"bfloat16"}
    assert {layer.compute_dtype for layer in convs(plain)} == {"float32"}
    assert {layer.compute_dtype for layer in plain.layers if layer.name.startswith("block")} == {"float32"}


@pytest.mark.parametrize("name", ["vgg16_tiny", "inception_v4_tiny", "inception_resnet_v2_tiny"])
def test_endpoint_strides_are_exact_with_same_padding(name):
    spec = get_backbone(name)
    image = keras.Input((64, 96, 3))
    arch = {} if spec.family == "vgg16" else {"padding": "same"}
    features = spec.apply(spec.preprocessing()(image), **arch)
    strides = spec.strides(**arch)
    assert set(strides) <= set(features)
    for endpoint, stride in strides.items():
        assert tuple(features[endpoint].shape[1:3]) == (64 // stride, 96 // stride), (name, endpoint)
    for stride in (8, 16, 32):
        assert strides[spec.at_stride(stride, **arch)] == stride


def test_residual_scales_are_applied():
    kwargs = dict(blocks=(2, 1, 2), width_divisor=8, padding="same")
    body = inception_resnet_v2_backbone((32, 32, 3), residual_scales=(0.3, 0.25, 0.5), **kwargs)
    scales = [layer.scale for layer in body.layers if isinstance(layer, ScaledResidual)]
    assert scales == [0.3, 0.3, 0.25, 0.5, 1.0]  # Keras' last block is linear with scale 1
    x = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    # Scale 0 turns each block into ReLU(shortcut) = shortcut (its input is a ReLU output).
    off = inception_resnet_v2_backbone((32, 32, 3), residual_scales=(0.0, 0.1, 0.2), **kwargs)
    out = off(x)
    np.testing.assert_array_equal(out["inception_resnet_a"], out["stem"])
    assert not np.array_equal(body(x)["inception_resnet_a"], body(x)["stem"])


def test_names_are_deterministic_whatever_was_built_before():
    first = [layer.name for layer in inception_resnet_v2_backbone((32, 32, 3), blocks=(1, 1, 1), width_divisor=8, padding="same").layers]
    keras.layers.Conv2D(3, 3)  # moves Keras' global name counters
    keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3))
    second = [layer.name for layer in inception_resnet_v2_backbone((32, 32, 3), blocks=(1, 1, 1), width_divisor=8, padding="same").layers]
    assert first == second
    assert not any(name.startswith(("conv2d", "batch_normalization", "activation")) for name in first)


def test_scaled_residual_matches_numpy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 3, 4, 5)).astype("float32"), rng.normal(size=(2, 3, 4, 5)).astype("float32")
    np.testing.assert_allclose(ScaledResidual(0.17)([a, b]), a + 0.17 * b, rtol=1e-6)


@pytest.mark.parametrize(
    "backbone, endpoint, expected, grid",
    [("vgg16_tiny", None, "block5_conv2", (4, 4)), ("inception_v4_tiny", None, "inception_v4", (3, 3)),
     ("inception_resnet_v2_tiny", None, "inception_resnet_v2", (3, 3)),
     ("inception_v4_tiny", "inception_a", "inception_v4", (7, 7))],
)
def test_show_attend_tell_on_every_backbone(backbone, endpoint, expected, grid, tmp_path):
    """Show-Attend-Tell's encoder is any backbone: the annotations are an endpoint chosen by name (default:
    the stride-16 one, VGG's conv5 as in the paper), the captioner decodes, reload is exact, gradients reach
    every weight (layer losses included)."""
    import tensorflow as tf

    from keras_segattn.models.show_attend_tell import Captioner, feature_grid

    sizes = dict(vocab_size=16, max_length=4, embedding_dim=8, units=8, attention_units=8)
    model = ksa.build_model("show_attend_tell", input_shape=(75, 75, 3), backbone=backbone, feature_endpoint=endpoint,
                            **sizes)
    assert feature_grid(model) == grid
    # The annotations come from the named backbone (VGG: its last conv5 convolution; Inception: the nested model).
    assert model.get_layer("to_annotations")._inbound_nodes[0].parent_nodes[0].operation.name == expected
    x = np.random.default_rng(4).uniform(0, 255, (2, 75, 75, 3)).astype("float32")
    captions = np.array([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]], "int32")
    logits, attention = (t.numpy() for t in model([x, captions], training=False))
    assert logits.shape == (2, 4, 16) and attention.shape == (2, 4, grid[0] * grid[1])
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    path = str(tmp_path / "sat.keras")
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path)([x, captions], training=False)[0], logits)
    caption = Captioner(model, vocabulary=["[start]", "[end]", *map(str, range(12))]).caption(x[:1])[0]
    assert caption.attention.shape == (len(caption.tokens), *grid)
    with tf.GradientTape() as tape:
        out = model([x, captions], training=True)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)(captions[:, 1:], out[0])
        loss = loss + sum(model.losses)
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        assert g is not None and np.all(np.isfinite(tf.convert_to_tensor(g))), w.path


@pytest.mark.parametrize("backbone", ["inception_v4_tiny", "inception_resnet_v2_tiny"])
def test_fcn8s_on_inception(backbone, tmp_path):
    """FCN-8s on each Inception backbone: any image size, exact reload, gradients everywhere.

    (The backbones themselves pass the shared helper, XLA and export sweeps as
    the registered ``inception_v4_tiny`` / ``inception_resnet_v2_tiny``
    classifiers; an XLA compile of this deeper graph would add ~40 s here.)
    """
    import tensorflow as tf

    model = ksa.build_model("fcn8s_tiny", backbone=backbone)
    names = [layer.name for layer in model.layers]
    # Skips come from the stride-16 and stride-8 endpoints, chosen by stride.
    family = get_backbone(backbone).family
    a, b = ("inception_a", "inception_b") if family == "inception_v4" else ("inception_resnet_a", "inception_resnet_b")
    assert {f"score_{b}", f"score_{a}", family} <= set(names)
    x = np.random.default_rng(4).uniform(0, 255, (2, 50, 70, 3)).astype("float32")
    y = np.random.default_rng(5).integers(0, 4, (2, 50, 70)).astype("int32")
    out = model(x, training=False).numpy()
    assert out.shape == (2, 50, 70, 4) and np.all(np.isfinite(out))
    path = str(tmp_path / "fcn.keras")
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path)(x, training=False), out)
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        assert g is not None and np.all(np.isfinite(g)), w.path


@pytest.mark.parametrize("backbone", ["inception_v4_tiny", "inception_resnet_v2_tiny"])
def test_backbone_weights_from_a_local_file(backbone, tmp_path):
    family = get_backbone(backbone).family
    source = ksa.build_model("fcn8s_tiny", backbone=backbone)
    rng = np.random.default_rng(3)
    for w in source.get_layer(family).weights:
        w.assign(rng.normal(0, 0.1, w.shape).astype("float32") + (1.0 if "variance" in w.path else 0.0))
    path = str(tmp_path / f"{family}.weights.h5")
    source.get_layer(family).save_weights(path)
    loaded = ksa.build_model("fcn8s_tiny", backbone=backbone, backbone_weights=path)
    fresh = ksa.build_model("fcn8s_tiny", backbone=backbone)
    x = rng.uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    want = source.get_layer(family)(x / 127.5 - 1)["stem"]
    np.testing.assert_allclose(loaded.get_layer(family)(x / 127.5 - 1)["stem"], want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(fresh.get_layer(family)(x / 127.5 - 1)["stem"], want)
    # Show-Attend-Tell keeps the backbone only up to its annotations; the same file fills that part.
    captioner = ksa.build_model("show_attend_tell", input_shape=(75, 75, 3), backbone=backbone, backbone_weights=path,
                                vocab_size=16, max_length=4, embedding_dim=8, units=8, attention_units=8)
    kept = {w.path: w.numpy() for w in captioner.get_layer(family).weights}
    full = {w.path: w.numpy() for w in source.get_layer(family).weights}
    assert 0 < len(kept) < len(full) and all(np.array_equal(v, full[k]) for k, v in kept.items())
    # A file for another layout is refused, naming the argument.
    other = "inception_v4_tiny" if family == "inception_resnet_v2" else "inception_resnet_v2_tiny"
    ksa.build_model("fcn8s_tiny", backbone=other).get_layer(get_backbone(other).family).save_weights(
        str(tmp_path / "other.weights.h5")
    )
    with pytest.raises(ValueError, match=f"{family}: backbone_weights must be a .weights.h5 file saved from"):
        ksa.build_model("fcn8s_tiny", backbone=backbone, backbone_weights=str(tmp_path / "other.weights.h5"))
    # Same family, other depth: Keras only warns on a partial fill; it must be refused too.
    builder = inception_v4_backbone if family == "inception_v4" else inception_resnet_v2_backbone
    builder(blocks=(2, 1, 1), width_divisor=8, padding="same", name=family).save_weights(str(tmp_path / "deeper.weights.h5"))
    with pytest.raises(ValueError, match=f"{family}: backbone_weights must be a .weights.h5 file saved from"):
        ksa.build_model("fcn8s_tiny", backbone=backbone, backbone_weights=str(tmp_path / "deeper.weights.h5"))


def test_imagenet_weights_errors(monkeypatch):
    with pytest.raises(ValueError, match="Keras Applications publishes no Inception-v4 weights"):
        ksa.build_model("inception_v4_tiny", backbone_weights="imagenet")

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- no network")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)
    with pytest.raises(RuntimeError, match="backbone_weights='imagenet' downloads Keras Applications' weights and needs a network"):
        ksa.build_model("inception_resnet_v2_tiny", backbone_weights="imagenet")
    with pytest.raises(ValueError, match="backbone_weights must be None, 'imagenet' or the path of an existing"):
        ksa.build_model("inception_resnet_v2_tiny", backbone_weights="/no/such/file.h5")


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: inception_v4_backbone(width_divisor=3), r"inception_v4: width_divisor must be a divisor of every width of the network \(\[1, 2, 4, 8, 16, 32\]\), received 3\."),
        (lambda: inception_resnet_v2_backbone(blocks=(11, 1, 1)), r"inception_resnet_v2: blocks must be at most \(10, 20, 10\)"),
        (lambda: inception_resnet_v2_backbone(residual_scales=(0.1,)), r"residual_scales must be 3 numbers"),
        (lambda: inception_v4_backbone((64, 64, 3)), r"input_shape height must be at least 75 with padding=\"valid\""),
        (lambda: inception_v4_backbone(padding="causal"), r"padding must be one of 'valid', 'same', received 'causal'"),
        (lambda: ksa.build_model("fcn8s_tiny", backbone="inception_v4_tiny", widths=(8, 8, 8)), r"fcn8s_tiny: widths must be None with backbone='inception_v4_tiny'"),
        (lambda: ksa.build_model("deconvnet_tiny", backbone="inception_v4"), r"deconvnet_tiny: backbone must be 'vgg16' \(DeconvNet's unpooling"),
        (lambda: ksa.build_model("fcn8s_tiny", backbone="inception_v5"), r"backbone must be one of .*received 'inception_v5'"),
    ],
)
def test_bad_arguments_name_argument_and_value(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_registry_lists_paper_and_tiny_presets():
    assert list_backbones() == [
        "inception_resnet_v2", "inception_resnet_v2_tiny", "inception_v4", "inception_v4_tiny", "vgg16", "vgg16_tiny",
    ]
