"""Every public layer through the shared ``check_layer``, from one table.

``CASES`` maps each name of ``keras_segattn.layers.__all__`` to its cases: an
id, a factory, a function making small inputs and ``check_layer``'s keyword
arguments. A public layer without a case fails the sweep, naming it. The
numerical and reference tests stay in the ``test_layers_*.py`` files.
"""

import keras
import numpy as np
import pytest

from keras_segattn import layers
from keras_segattn.layers import (
    AffineGridGenerator,
    AttentionGRUDecoder,
    AttentionLSTMDecoder,
    BahdanauAttention,
    BilinearSampler,
    BilinearUpsampling2D,
    BilinearUpsampling2DTranspose,
    ConstantPlanes,
    CropToReference,
    DilatedMaxPooling2D,
    GaussianFilterbank,
    GaussianRead,
    GaussianWrite,
    GravesAttentionWindow,
    ImagePyramid,
    LuongAttention,
    MatmulConv2D,
    MatmulConv2DTranspose,
    Maxout,
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
    MixtureDensityOutput,
    PadToMultiple,
    ProjectiveGridGenerator,
    RoIWarp,
    ScaledResidual,
    SpatialTransformer,
    ThinPlateSplineGridGenerator,
)
from tests.helpers import check_layer


# ------------------------------------------------------------------ inputs
def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _attention_inputs(steps):
    """(query, values, mask): batch 3, 6 source steps, a 2-step source in row 0."""
    rng = np.random.default_rng(0)
    query = rng.normal(size=(3, 4) if steps is None else (3, steps, 4)).astype("float32")
    values = rng.normal(size=(3, 6, 4)).astype("float32")
    lengths = rng.integers(1, 7, 3)
    lengths[0] = 2
    mask = (np.arange(6)[None] < lengths[:, None]).astype("float32")
    return [query, values, mask]


def _decoder_inputs(single_step=False):
    """(x, annotations, state, mask) for an 8-unit decoder over 5 source steps."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 3)).astype("float32")
    annotations = rng.normal(size=(3, 5, 6)).astype("float32")
    state = rng.normal(size=(3, 8)).astype("float32") * 0.5
    mask = (np.arange(5)[None] < np.array([5, 2, 1])[:, None]).astype("float32")
    return [x[:, 0] if single_step else x, annotations, state, mask]


def _caption_decoder_inputs(single_step=False):
    """Show-Attend-Tell decoder inputs: 4 words of size 3 over 5 locations of size 6 (8 units).

    All steps: (words, annotations, initial state [h; c], targets with a padded
    tail); one step: (word, annotations, state, mask), the keys projected inside.
    """
    rng = np.random.default_rng(1)
    words = rng.normal(size=(3, 4, 3)).astype("float32")
    annotations = rng.normal(size=(3, 5, 6)).astype("float32")
    state = rng.normal(size=(3, 16)).astype("float32") * 0.5
    if not single_step:
        targets = np.array([[4, 5, 3, 0], [4, 4, 4, 3], [3, 0, 0, 0]], "int32")
        return [words, annotations, state, targets]
    mask = (np.arange(5)[None] < np.array([5, 3, 1])[:, None]).astype("float32")
    return [words[:, 0], annotations, state, mask]


def _window_inputs():
    """Graves window inputs: K = 2 Gaussians over 5 characters of 4 ids, row 1 with 3 real characters."""
    rng = np.random.default_rng(2)
    params = rng.normal(0, 0.5, (3, 6)).astype("float32")
    kappa = rng.uniform(0, 3, (3, 2)).astype("float32")
    chars = np.eye(4, dtype="float32")[rng.integers(1, 4, (3, 5))]
    mask = (np.arange(5)[None] < np.array([5, 3, 1])[:, None]).astype("float32")
    return [params, kappa, chars, mask]


def _affine_theta():
    angle, (sx, sy), (tx, ty) = 0.2, (0.9, 1.0), (0.1, 0.0)
    cos, sin = np.cos(angle), np.sin(angle)
    theta = np.array([cos * sx, -sin * sy, tx, sin * sx, cos * sy, ty])
    return np.tile(theta, (2, 1)).astype("float32")


def _images(seed, shape):
    return np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype("float32")


def _sampler_inputs():
    rng = np.random.default_rng(8)
    images = rng.uniform(0.0, 1.0, (2, 9, 8, 3)).astype("float32")
    grid = rng.uniform(-1.2, 1.2, (2, 5, 6, 2)).astype("float32")
    return [images, grid]


def _roi_inputs(count=3):
    """Features (2, 9, 8, 3) and ``count`` boxes per image from [-0.3, 1.3]: partly outside, some flipped."""
    rng = np.random.default_rng(12)
    features = rng.normal(size=(2, 9, 8, 3)).astype("float32")
    boxes = rng.uniform(-0.3, 1.3, (2, count, 4)).astype("float32")
    return [features, boxes]


def _unpooling_inputs(reference=False):
    rng = np.random.default_rng(4)
    pooled = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    switches = rng.integers(0, 4, size=(2, 3, 4, 5)).astype("int32")
    return [pooled, switches] + ([np.zeros((2, 7, 9, 1), "float32")] if reference else [])


def _custom_localization():
    return keras.Sequential(
        [keras.layers.Conv2D(4, 3, strides=2, activation="relu"), keras.layers.GlobalAveragePooling2D()],
        name="custom_loc",
    )


def _filterbank_inputs(n, channels=None):
    """[image or patch, Fx, Fy, gamma] for a 7 x 9 image and an N x N glimpse (batch 2)."""
    from keras_segattn.layers import GaussianFilterbank

    rng = np.random.default_rng(3)
    params = np.array([[0.1, -0.2, 0.3, -0.1, 0.2], [-0.5, 0.4, -0.3, 0.2, -0.1]], "float32")
    fx, fy, gamma = (np.asarray(t) for t in GaussianFilterbank(n, (7, 9))(params))
    return fx, fy, gamma, (lambda *shape: rng.normal(size=(2, *shape) + ((channels,) if channels else ())).astype("float32"))


def _read_inputs(channels=None):
    fx, fy, gamma, normal = _filterbank_inputs(3, channels)
    return [normal(7, 9), fx, fy, gamma]


def _write_inputs(channels=None):
    fx, fy, gamma, normal = _filterbank_inputs(3, channels)
    return [normal(3, 3), fx, fy, gamma]


def _case(case_id, factory, make_inputs, **kwargs):
    return pytest.param(factory, make_inputs, kwargs, id=case_id)


# ------------------------------------------------------------------- table
# name in layers.__all__ -> [cases]; kwargs go to check_layer. The first case
# of a layer also runs the compiled fit step (see _sweep), so it is the
# layer's richest one. An opt-out of a check (xla=False, fit=False,
# mixed_precision=False) carries its reason here.
CASES = {
    "AffineGridGenerator": [
        _case("flat", lambda: AffineGridGenerator((5, 6)), _affine_theta, expected_output_shapes=[(2, 5, 6, 2)]),
        _case(
            "matrix",
            lambda: AffineGridGenerator((5, 6), align_corners=False),
            lambda: _affine_theta().reshape(2, 2, 3),
            expected_output_shapes=[(2, 5, 6, 2)],
        ),
    ],
    "AttentionGRUDecoder": [
        _case(
            f"sequence_{attention}",
            lambda attention=attention: AttentionGRUDecoder(8, attention=attention),
            _decoder_inputs,
            grad_wrt_inputs=[0, 1, 2],
            expected_output_shapes=[(3, 4, 8), (3, 4, 6), (3, 4, 5)],
        )
        for attention in ("luong", "bahdanau")
    ]
    + [
        _case(
            "single_step",
            lambda: AttentionGRUDecoder(8),
            lambda: _decoder_inputs(single_step=True),
            grad_wrt_inputs=[0, 1, 2],
            expected_output_shapes=[(3, 8), (3, 6), (3, 5)],
        )
    ],
    "AttentionLSTMDecoder": [
        _case(
            f"sequence_{attention}",
            lambda attention=attention: AttentionLSTMDecoder(8, 9, attention=attention, attention_units=7, seed=0),
            _caption_decoder_inputs,
            grad_wrt_inputs=[0, 1, 2],
            expected_output_shapes=[(3, 4, 9), (3, 4, 5), (3, 4, 8)],
        )
        for attention in ("soft", "hard", "none")
    ]
    + [
        _case(
            "single_step",
            lambda: AttentionLSTMDecoder(8, 9, attention_units=7),
            lambda: _caption_decoder_inputs(single_step=True),
            grad_wrt_inputs=[0, 1, 2],
            expected_output_shapes=[(3, 9), (3, 16), (3, 5)],
        )
    ],
    "BahdanauAttention": [
        _case(
            f"steps_{steps}",
            lambda: BahdanauAttention(6),
            lambda steps=steps: _attention_inputs(steps),
            grad_wrt_inputs=[0, 1],
            expected_output_shapes=[(3, 4) if steps is None else (3, steps, 4), (3, 6) if steps is None else (3, steps, 6)],
        )
        for steps in (3, None)
    ],
    "BilinearSampler": [
        _case(
            padding,
            lambda padding=padding: BilinearSampler(padding=padding),
            _sampler_inputs,
            expected_output_shapes=[(2, 5, 6, 3)],
        )
        for padding in ("zeros", "border")
    ],
    "BilinearUpsampling2D": [
        _case(
            "crop_to_reference",
            lambda: BilinearUpsampling2D(4),
            lambda: [_normal(0, (2, 3, 4, 5)), _normal(1, (2, 10, 15, 1))],
            grad_wrt_inputs=[0],  # the reference only lends its size
            expected_output_shapes=[(2, 10, 15, 5)],
        ),
        _case("factor_2", lambda: BilinearUpsampling2D(2), lambda: _normal(0, (2, 3, 4, 5)), expected_output_shapes=[(2, 6, 8, 5)]),
    ],
    "ConstantPlanes": [
        _case(
            "zeros",
            lambda: ConstantPlanes(4),
            lambda: _normal(0, (2, 5, 6, 3)),
            grad_wrt_inputs=[],  # only the input's shape is read: no gradient path exists
            fit=False,  # no weights and no gradient path: nothing a fit step could move
            expected_output_shapes=[(2, 5, 6, 4)],
        )
    ],
    "DilatedMaxPooling2D": [
        _case("dilation_4", lambda: DilatedMaxPooling2D(2, dilation_rate=4), lambda: _normal(0, (2, 11, 9, 3)), expected_output_shapes=[(2, 7, 5, 3)])
    ],
    "GravesAttentionWindow": [
        _case("k2", lambda: GravesAttentionWindow(2), _window_inputs, grad_wrt_inputs=[0, 1, 2],
              expected_output_shapes=[(3, 4), (3, 2), (3, 5)])
    ],
    "GaussianFilterbank": [
        _case("n3", lambda: GaussianFilterbank(3, (7, 9)), lambda: _normal(0, (2, 5)),
              expected_output_shapes=[(2, 3, 9), (2, 3, 7), (2, 1)])
    ],
    "GaussianRead": [
        _case("channels", lambda: GaussianRead(), lambda: _read_inputs(2), grad_wrt_inputs=[0, 1, 2, 3],
              expected_output_shapes=[(2, 3, 3, 2)]),
        _case("grey", lambda: GaussianRead(), _read_inputs, expected_output_shapes=[(2, 3, 3)]),
    ],
    "GaussianWrite": [
        _case("channels", lambda: GaussianWrite(), lambda: _write_inputs(2), grad_wrt_inputs=[0, 1, 2, 3],
              expected_output_shapes=[(2, 7, 9, 2)]),
        _case("grey", lambda: GaussianWrite(), _write_inputs, expected_output_shapes=[(2, 7, 9)]),
    ],
    "MixtureDensityOutput": [
        _case("m3", lambda: MixtureDensityOutput(3), lambda: _normal(0, (2, 4, 8)), expected_output_shapes=[(2, 4, 19)])
    ],
    "ImagePyramid": [
        _case(
            "laplacian",
            lambda: ImagePyramid(3),
            lambda: _normal(0, (2, 15, 12, 3)),
            expected_output_shapes=[(2, 15, 12, 3), (2, 8, 6, 3), (2, 4, 3, 3)],
        ),
        _case("gaussian", lambda: ImagePyramid(2, mode="gaussian"), lambda: _normal(0, (2, 8, 8, 2)), expected_output_shapes=[(2, 8, 8, 2), (2, 4, 4, 2)]),
    ],
    "BilinearUpsampling2DTranspose": [
        _case(
            "bias",
            lambda: BilinearUpsampling2DTranspose(4, 3, use_bias=True),
            lambda: _normal(0, (2, 5, 6, 3)),
            expected_output_shapes=[(2, 15, 18, 4)],
        ),
        _case(
            "no_bias",
            lambda: BilinearUpsampling2DTranspose(3, 2),
            lambda: _normal(0, (2, 5, 6, 3)),
            expected_output_shapes=[(2, 10, 12, 3)],
        ),
    ],
    "CropToReference": [
        _case(
            "crop",
            lambda: CropToReference(),
            lambda: [_normal(1, (2, 64, 48, 3)), _normal(2, (2, 50, 37, 3))],
            grad_wrt_inputs=[0],  # the reference only lends its size
            expected_output_shapes=[(2, 50, 37, 3)],
        )
    ],
    "LuongAttention": [
        _case(
            f"{score}_steps_{steps}",
            lambda score=score: LuongAttention(score, units=5 if score == "concat" else None),
            lambda steps=steps: _attention_inputs(steps),
            grad_wrt_inputs=[0, 1],
            expected_output_shapes=[(3, 4) if steps is None else (3, steps, 4), (3, 6) if steps is None else (3, steps, 6)],
        )
        for score in ("concat", "general", "dot")
        for steps in (3, None)
    ],
    "MatmulConv2D": [
        _case(
            "same_7x7",
            lambda: MatmulConv2D(4, 7, padding="same", activation="relu"),
            lambda: _normal(6, (2, 7, 7, 3)),
            expected_output_shapes=[(2, 7, 7, 4)],
        ),
        _case(
            "valid_2x3",
            lambda: MatmulConv2D(4, (2, 3)),
            lambda: _normal(7, (2, 5, 6, 3)),
            expected_output_shapes=[(2, 4, 4, 4)],
        ),
    ],
    "MatmulConv2DTranspose": [
        _case(
            "from_1x1",
            lambda: MatmulConv2DTranspose(4, 3),
            lambda: _normal(4, (2, 1, 1, 5)),
            expected_output_shapes=[(2, 3, 3, 4)],
        ),
        _case(
            "from_3x2",
            lambda: MatmulConv2DTranspose(4, (2, 3), activation="relu"),
            lambda: _normal(5, (2, 3, 2, 5)),
            expected_output_shapes=[(2, 4, 4, 4)],
        ),
    ],
    "MaxPoolingWithArgmax2D": [
        _case(
            "pool",
            lambda: MaxPoolingWithArgmax2D(2),
            lambda: _normal(3, (2, 6, 8, 3)),
            expected_output_shapes=[(2, 3, 4, 3)] * 2,
        )
    ],
    "MaxUnpooling2D": [
        _case(
            "reference",
            lambda: MaxUnpooling2D(2),
            lambda: _unpooling_inputs(reference=True),
            grad_wrt_inputs=[0],  # the reference only lends its size
            expected_output_shapes=[(2, 7, 9, 5)],
        ),
        _case("switches", lambda: MaxUnpooling2D(2), _unpooling_inputs, expected_output_shapes=[(2, 6, 8, 5)]),
    ],
    "Maxout": [_case("pieces_2", lambda: Maxout(2), lambda: _normal(0, (2, 3, 8)), expected_output_shapes=[(2, 3, 4)])],
    "PadToMultiple": [
        _case("pad", lambda: PadToMultiple(16), lambda: _normal(1, (2, 50, 37, 3)), expected_output_shapes=[(2, 64, 48, 3)])
    ],
    "RoIWarp": [
        _case("boxes_3", lambda: RoIWarp((5, 4)), _roi_inputs, expected_output_shapes=[(2, 3, 5, 4, 3)]),
        _case(
            "row_fill",
            lambda: RoIWarp((1, 6), extrapolation_value=-1.0),
            lambda: _roi_inputs(count=2),
            expected_output_shapes=[(2, 2, 1, 6, 3)],
        ),
    ],
    "ScaledResidual": [
        _case(
            "scale_0.17",
            lambda: ScaledResidual(0.17),
            lambda: [_normal(0, (2, 5, 6, 4)), _normal(1, (2, 5, 6, 4))],
            expected_output_shapes=[(2, 5, 6, 4)],
        )
    ],
    "ProjectiveGridGenerator": [
        _case(
            "projective",
            lambda: ProjectiveGridGenerator((4, 7)),
            lambda: np.tile(np.array([1, 0.1, 0, 0, 1, 0, 0.05, 0], "float32"), (2, 1)),
            expected_output_shapes=[(2, 4, 7, 2)],
        )
    ],
    "SpatialTransformer": [
        _case(
            case_id,
            lambda kwargs=kwargs: SpatialTransformer(
                (12, 10),
                **{k: _custom_localization() if k == "localization" else v for k, v in kwargs.items()},
            ),
            lambda: _images(9, (2, 16, 14, 3)),
            expected_output_shapes=expected,
        )
        for case_id, kwargs, expected in [
            (  # first: multi-output, and a small localisation net keeps the fit step's compile short
                "custom_localization_border",
                {"localization": "custom", "padding": "border", "return_grid": True},
                [(2, 12, 10, 3), (2, 12, 10, 2)],
            ),
            ("affine", {}, [(2, 12, 10, 3)]),
            ("projective_theta", {"transform": "projective", "return_theta": True}, [(2, 12, 10, 3), (2, 8)]),
            (
                "tps_theta_grid",
                {"transform": "tps", "control_grid": (3, 3), "return_theta": True, "return_grid": True},
                [(2, 12, 10, 3), (2, 18), (2, 12, 10, 2)],
            ),
        ]
    ],
    "ThinPlateSplineGridGenerator": [
        _case(
            "tps",
            lambda: ThinPlateSplineGridGenerator((6, 5), control_grid=(3, 3)),
            lambda: np.tile(ThinPlateSplineGridGenerator((6, 5), control_grid=(3, 3)).identity_theta() * 0.9, (2, 1)),
            expected_output_shapes=[(2, 6, 5, 2)],
        )
    ],
}


def _is_layer_class(obj):
    return isinstance(obj, type) and issubclass(obj, keras.layers.Layer)


def _sweep():
    for name in layers.__all__:
        cases = CASES.get(name) or [pytest.param(None, None, None, id="NO_CASE")]
        for i, case in enumerate(cases):
            factory, make_inputs, kwargs = case.values
            if i:
                # The compiled fit step runs on each layer's first case only:
                # XLA-compiling a train step costs 0.5-4 s a case on 2 cores,
                # and the variants share its graph up to an argument.
                kwargs = {"fit": False, **kwargs}
            yield pytest.param(name, factory, make_inputs, kwargs, id=f"{name}-{case.id}")


# ------------------------------------------------------------------- sweep
@pytest.mark.parametrize("name,factory,make_inputs,kwargs", list(_sweep()))
def test_public_layer_passes_check_layer(name, factory, make_inputs, kwargs, tmp_path):
    obj = getattr(layers, name)
    if not _is_layer_class(obj):
        pytest.skip(f"keras_segattn.layers.{name} is not a Layer class")
    if factory is None:
        pytest.fail(
            f"public layer keras_segattn.layers.{name} has no check_layer case: add one to CASES in tests/test_layers_sweep.py"
        )
    layer = check_layer(factory, make_inputs(), tmp_path=tmp_path, **kwargs)
    assert type(layer) is obj, f"case for {name} builds a {type(layer).__name__}"


def test_cases_name_public_layers_only():
    stale = sorted(set(CASES) - set(layers.__all__))
    assert not stale, f"CASES names layers that keras_segattn.layers.__all__ does not export: {stale}"


# ------------------------------------------------- the checks can fail
class _WeightInCallWithBuild(keras.layers.Layer):
    """Wrong: build() creates nothing; call() adds the weight."""

    def build(self, input_shape):
        pass

    def call(self, x):
        if not hasattr(self, "gain"):
            self.gain = self.add_weight(name="gain", shape=(), initializer="ones")
        return x * self.gain


class _WeightInCallNoBuild(keras.layers.Layer):
    """Wrong: no build(); Keras would trace call() to create the weight."""

    def call(self, x):
        if not hasattr(self, "gain"):
            self.gain = self.add_weight(name="gain", shape=(), initializer="ones")
        return x * self.gain


@pytest.mark.parametrize("cls", [_WeightInCallWithBuild, _WeightInCallNoBuild])
def test_check_layer_catches_weights_created_in_call(cls, tmp_path):
    with pytest.raises(AssertionError, match="call\\(\\) creates? weights"):
        check_layer(cls, _normal(0, (2, 3)), tmp_path=tmp_path)
