"""Input-validation sweep of the Python API: every registered model and every public layer.

The entry points are enumerated, not listed: every name of ``keras_segattn.list_models()``
(through ``build_model``) and every name of ``keras_segattn.layers.__all__``. Each gets
invalid inputs made from its own signature (bool where an int is expected, negative and
zero sizes, NaN/Inf for floats, unknown strings for enum-like arguments, wrong types,
input shapes of the wrong rank or with 0 channels) plus the cases of ``EXTRA_*`` below,
and each must raise ``ValueError``/``TypeError`` whose message names the argument, shows
the received value and says what is expected, before any TensorFlow op runs. A few
call-time cases (``LAYER_CALL_CASES``, ``MODEL_CALL_CASES``: wrong rank, one channel into
an RGB model, an empty image) hold layers and built models to the same standard. Valid
but unusual inputs (NumPy integers for counts, lists for tuples, ``name=``) must be accepted.

A model or layer with no invalid case fails the sweep, so a new one is covered or
noticed. ``test_sweep_summary`` prints the counts the README quotes (run with ``-s``).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
import warnings

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn import layers
from keras_segattn.registry import get_spec

# ----------------------------------------------------------------- outcome checks
# Fragments of messages written by TensorFlow, Keras or Python itself rather than by
# this library's checks: a message holding one is "unclear" even if it names the argument.
INTERNAL_FRAGMENTS = (
    "Invalid value for argument `",
    "Exception encountered when calling",
    "Arguments received by",
    "{{function_node",
    "indices[",
    "Biases must be",
    "Incompatible shapes",
    "got an unexpected keyword",
    "got multiple values",
    "unsupported operand",
    "NoneType",
    "has no attribute",
    "not supported between instances",
    "invalid literal for",
    "object is not iterable",
    "object cannot be interpreted",
    "must be real number",
    "Could not interpret",
    "list index out of range",
    "division by zero",
)


def _received_shown(text: str, value) -> bool:
    """The message shows ``value`` (its repr), or, for a sequence, the offending item after 'received'."""
    if repr(value) in text:
        return True
    if isinstance(value, (tuple, list)):
        return any(f"received {item!r}" in text for item in value)
    return False


def classify(error: BaseException | None, argument: str, value, shown: str | None = None) -> str:
    """'ok', 'silent' (nothing raised) or 'unclear: <why>' for one invalid input."""
    if error is None:
        return "silent"
    text = str(error)
    if not isinstance(error, (ValueError, TypeError)):
        return f"unclear: {type(error).__name__} is not ValueError/TypeError"
    internal = [f for f in INTERNAL_FRAGMENTS if f in text]
    if internal:
        return f"unclear: internal message ({internal[0]!r})"
    if argument not in text:
        return f"unclear: does not name {argument!r}"
    if not (shown in text if shown is not None else _received_shown(text, value)):
        return f"unclear: does not show the received value {value if shown is None else shown!r}"
    if "must" not in text and "expect" not in text.lower():
        return "unclear: does not say what is expected"
    return "ok"


@dataclasses.dataclass
class Case:
    entry: str  # "model:<name>" or "layer:<name>"
    argument: str
    value: object
    run: object  # () -> anything; raises on invalid input
    valid: bool = False  # a valid-but-unusual input that must be accepted
    shown: object = None  # what the message must show, when not `value`

    @property
    def id(self):
        return f"{self.entry}[{self.argument}={self.value!r}]"


# ----------------------------------------------------------------- generic invalid values
NAN, INF = float("nan"), float("inf")
# Arguments that are free text (names, paths, initializer identifiers Keras resolves).
FREE_TEXT = {"name", "backbone_weights", "kernel_initializer"}


def _invalid_values(argument: str, default):
    """Invalid values derived from a parameter's default (its type)."""
    if argument in FREE_TEXT or argument in {"dtype", "trainable", "autocast"}:
        return [5] if argument == "backbone_weights" else []
    if argument in ("input_shape", "image_shape"):
        h, w, c = default
        h, w = h or 32, w or 32
        return [(h, w), (h, w, 0), (0, w, c), (h, w, c, 1), "abc", (h, -w, c), (h, 2.5, c), (h, w, True)]
    if isinstance(default, bool):
        return ["yes", None]
    if isinstance(default, int):
        return [True, -1, 2.5, "2", None] if default != 0 else [True, -1, 2.5, "2"]
    if isinstance(default, float):
        return [NAN, INF, -INF, "0.5", True, None]
    if isinstance(default, str):
        return ["no_such_value", 3, None]
    if isinstance(default, tuple) and default and all(isinstance(v, int) and not isinstance(v, bool) for v in default):
        n = len(default)
        return [(), "ab", (-1,) * n, (True,) * n, (2.5,) * n, 7]
    if isinstance(default, tuple) and default and all(isinstance(v, float) for v in default):
        n = len(default)
        return [(NAN,) * n, (INF,) * n, ("x",) * n]
    return []


# Arguments whose default is None: what they must refuse.
NONE_DEFAULT_INVALID = {
    "seed": ["x", 1.5, True],
    "backbone_weights": [5],
    "output_size": [(0, 4), "ab", (True, 4)],
    "feature_endpoint": ["no_such_endpoint", 5],
    "max_text_length": [0, True, -3],
    "max_points": [0, True],
    "widths": [(0, 8, 8), "ab"],
    "depths": [(-1, 1, 1)],
    "fc_units": [-1, True, 2.5],
    "attention_units": [0, True, 2.5],
    "units": [0, True],
    "localization": ["conv"],
}

# Extra invalid cases per registered name (a family's names share the base builder's
# cases through EXTRA_BY_BUILDER): sizes an architecture cannot take, zero sizes, ranges.
EXTRA_BY_BUILDER = {
    "deconvnet": {"fc_units": [0], "fc_kernel": [0], "input_shape": [(65, 64, 3), (64, 64, 1)],
                  "widths": [(16, 32)], "depths": [(1, 1)], "num_classes": [0]},
    "fcn": {"num_classes": [0], "dropout": [1.5, -0.1], "input_shape": [(64, 64, 1)],
            "backbone": ["resnet50"], "widths": [(8, 8)]},
    "inception_v4": {"num_classes": [0], "dropout": [1.0, -0.5], "width_divisor": [0], "blocks": [(0, 0, 0, 0)]},
    "inception_resnet_v2": {"num_classes": [0], "dropout": [1.0], "residual_scales": [(0.1,)]},
    "multiscale_cnn": {"num_classes": [0], "scales": [0, 7], "dropout": [2.0], "hidden_units": [-1],
                       "input_shape": [(32, 32, 1)]},
    "patch_classifier": {"num_classes": [0], "patch_size": [1, 17], "dropout": [1.5], "fc_units": [0]},
    "recurrent_cnn": {"num_classes": [0], "iterations": [0], "all_iterations": [1], "input_shape": [(32, 32, 1)]},
    "digits_cnn": {"num_classes": [0], "input_shape": [(42, 42, 0), (2, 2, 1)], "dense_units": [-1]},
    "st_cnn": {"num_classes": [0], "input_shape": [(42, 42, 0)], "initial_scale": [0.0, -1.0],
               "output_size": [(0, 0)], "control_grid": [(1, 1)]},
    "bahdanau_nmt": {"source_vocab_size": [0, 1], "target_vocab_size": [0], "max_length": [0],
                     "attention": ["luong_dot"], "score": ["cosine"]},
    "dcgan": {"latent_size": [0], "image_shape": [(28, 28, 0), (7, 7, 1)], "filters": [0]},
    "draw": {"steps": [0], "read_size": [0], "write_size": [0], "latent_size": [0], "input_shape": [(28, 28, 0)]},
    "draw_classifier": {"steps": [0], "glimpse_size": [0], "num_classes": [0], "initial_glimpse": ["everything"]},
    "handwriting_synthesis": {"vocab_size": [0, 1], "units": [0], "num_layers": [0], "num_mixtures": [0],
                              "window_components": [-1], "initial_step": [0.0, -1.0]},
    "show_attend_tell": {"vocab_size": [0], "max_length": [0], "attention": ["sharp"], "units": [0],
                         "doubly_stochastic": [-1.0], "baseline_decay": [1.5], "expected_context_rate": [1.5],
                         "hard_inference": ["argmin"], "reward": ["bleu"], "expected_context_unit": ["word"]},
}

# Arguments whose documented values include None (besides those whose default is None).
OPTIONAL = {"maxout_units"}

# Paper configurations build models of up to 250M parameters: their invalid cases are the
# ones every builder checks first, so nothing large is built even if a check went missing.
PAPER_ARGUMENTS = ("num_classes", "vocab_size", "source_vocab_size", "latent_size", "steps", "input_shape")


def _model_cases(name: str) -> list[Case]:
    spec = get_spec(name)
    params = spec.parameters()
    defaults = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    defaults.update(spec.defaults)
    extra = EXTRA_BY_BUILDER.get(spec.builder.__name__, {})
    cases = []
    for argument, default in defaults.items():
        if not spec.tiny and argument not in PAPER_ARGUMENTS:
            continue
        values = NONE_DEFAULT_INVALID.get(argument, []) if default is None else _invalid_values(argument, default)
        if params[argument].default is None or argument in OPTIONAL:
            values = [v for v in values if v is not None]  # None is the builder's own default: valid
        values = list(values) + list(extra.get(argument, []))
        if not spec.tiny:
            values = values[:2]
        for value in values:
            cases.append(Case(f"model:{name}", argument, value, _builder_call(name, argument, value)))
    return cases


def _builder_call(name, argument, value):
    return lambda: ksa.build_model(name, **{argument: value})


# ----------------------------------------------------------------- layers
# Required constructor arguments of each public layer (a new layer needs a row here).
LAYER_REQUIRED = {
    "AffineGridGenerator": {"output_size": (4, 5)},
    "AttentionGRUDecoder": {"units": 4},
    "AttentionLSTMDecoder": {"units": 4, "vocab_size": 7},
    "BahdanauAttention": {"units": 4},
    "BilinearSampler": {},
    "BilinearUpsampling2D": {"factor": 2},
    "BilinearUpsampling2DTranspose": {"filters": 2, "factor": 2},
    "ConstantPlanes": {"channels": 2},
    "CropToReference": {},
    "DilatedMaxPooling2D": {},
    "GaussianFilterbank": {"glimpse_size": 3, "image_size": (7, 9)},
    "GaussianRead": {},
    "GaussianWrite": {},
    "GravesAttentionWindow": {"num_components": 2},
    "ImagePyramid": {},
    "LuongAttention": {},
    "MatmulConv2D": {"filters": 2, "kernel_size": 3},
    "MatmulConv2DTranspose": {"filters": 2, "kernel_size": 3},
    "MaxPoolingWithArgmax2D": {},
    "MaxUnpooling2D": {},
    "Maxout": {},
    "MixtureDensityOutput": {"num_mixtures": 2},
    "PadToMultiple": {"multiple": 4},
    "ProjectiveGridGenerator": {"output_size": (4, 5)},
    "RoIWarp": {"output_size": (4, 5)},
    "ScaledResidual": {"scale": 0.1},
    "SpatialTransformer": {"output_size": (4, 5)},
    "ThinPlateSplineGridGenerator": {"output_size": (4, 5)},
}

EXTRA_LAYER = {
    "AttentionLSTMDecoder": {"vocab_size": [0], "baseline_decay": [1.5], "expected_context_rate": [-0.1]},
    "AttentionGRUDecoder": {"attention": ["dot"], "score": ["cosine"]},
    "BilinearUpsampling2D": {"factor": [0]},
    "BilinearUpsampling2DTranspose": {"factor": [0], "filters": [0]},
    "ConstantPlanes": {"channels": [0]},
    "DilatedMaxPooling2D": {"pool_size": [0], "dilation_rate": [0]},
    "GaussianFilterbank": {"glimpse_size": [0], "image_size": [(0, 9), (7,)]},
    "GravesAttentionWindow": {"num_components": [0], "max_log": [-1.0]},
    "ImagePyramid": {"levels": [0], "mode": ["pyramid"]},
    "LuongAttention": {"score": ["cosine"]},
    # pool_size 1 crashed in space_to_depth at call time (found by tests/test_layer_properties.py).
    "MaxPoolingWithArgmax2D": {"pool_size": [0, 1, (2, 0)], "padding": ["causal"]},
    "MatmulConv2D": {"strides": [2], "padding": ["causal"], "dilation_rate": [2], "groups": [2]},
    "MatmulConv2DTranspose": {"strides": [2], "padding": ["same"], "dilation_rate": [2]},
    "MaxUnpooling2D": {"pool_size": [0, 1]},
    "Maxout": {"pieces": [0]},
    "MixtureDensityOutput": {"num_mixtures": [0]},
    "PadToMultiple": {"multiple": [0]},
    "SpatialTransformer": {"transform": ["similarity"], "padding": ["reflect"], "control_grid": [(1, 1)]},
    "ThinPlateSplineGridGenerator": {"control_grid": [(1, 1)]},
    "BilinearSampler": {"padding": ["reflect"]},
    "RoIWarp": {"output_size": [(0, 4), (4,)]},
}


def _z(*shape, dtype="float32"):
    return np.zeros(shape, dtype)


# Call-time invalid inputs: (layer factory, inputs, argument the message names, what it must show).
LAYER_CALL_CASES = {
    "CropToReference": [(lambda: layers.CropToReference(), lambda: [_z(2, 8, 8), _z(2, 6, 6, 1)], "x", "(2, 8, 8)")],
    "GaussianRead": [
        (lambda: layers.GaussianRead(), lambda: [_z(2, 7, 9), _z(2, 3, 9)], "inputs", "[(2, 7, 9), (2, 3, 9)]")
    ],
    "GaussianWrite": [
        (lambda: layers.GaussianWrite(), lambda: [_z(2, 3, 3), _z(2, 3, 9)], "inputs", "[(2, 3, 3), (2, 3, 9)]")
    ],
    "MaxUnpooling2D": [
        (lambda: layers.MaxUnpooling2D(), lambda: [_z(2, 3, 4), _z(2, 3, 4, dtype="int32")], "pooled", "(2, 3, 4)")
    ],
    "PadToMultiple": [(lambda: layers.PadToMultiple(4), lambda: _z(2, 8, 8), "inputs", "(2, 8, 8)")],
    "BilinearSampler": [(lambda: layers.BilinearSampler(), lambda: [_z(2, 5, 5, 1), _z(2, 4, 4, 3)], "grid", "(2, 4, 4, 3)")],
    "MaxPoolingWithArgmax2D": [(lambda: layers.MaxPoolingWithArgmax2D(), lambda: _z(2, 4, 4), "inputs", "(2, 4, 4)")],
    "RoIWarp": [
        (lambda: layers.RoIWarp((3, 3)), lambda: [_z(2, 6, 6, 1), _z(2, 5, 3)], "boxes", "(2, 5, 3)"),
        (lambda: layers.RoIWarp((3, 3)), lambda: [_z(2, 6, 6), _z(2, 5, 4)], "features", "(2, 6, 6)"),
        (lambda: layers.RoIWarp((3, 3)), lambda: [_z(2, 6, 6, 1), _z(3, 5, 4)], "boxes", "(3, 5, 4)"),
    ],
}


def _layer_cases(name: str) -> list[Case]:
    cls = getattr(layers, name)
    required = LAYER_REQUIRED.get(name)
    if required is None:
        return []
    params = inspect.signature(cls.__init__).parameters
    defaults = {
        k: p.default
        for k, p in params.items()
        if p.default is not inspect.Parameter.empty and k not in FREE_TEXT and p.kind is p.POSITIONAL_OR_KEYWORD
    }
    defaults.update(required)
    extra = EXTRA_LAYER.get(name, {})
    cases = []
    for argument, default in defaults.items():
        values = NONE_DEFAULT_INVALID.get(argument, []) if default is None else _invalid_values(argument, default)
        for value in list(values) + list(extra.get(argument, [])):
            kwargs = {**required, argument: value}
            cases.append(Case(f"layer:{name}", argument, value, (lambda c=cls, k=kwargs: c(**k))))
    for factory, make_inputs, argument, shown in LAYER_CALL_CASES.get(name, []):
        cases.append(
            Case(f"layer:{name}", argument, "call", (lambda f=factory, m=make_inputs: f()(m())), shown=shown)
        )
    return cases


# Call-time inputs of built models (a few tiny ones: building costs time).
def _call_case(name, shape, fill=0, argument="input 'image'", shown=None, model_cache={}):  # noqa: B006
    # model_cache: one model per name for the whole sweep.
    dtype = "int32" if isinstance(fill, int) and argument != "input 'image'" else "float32"

    def run():
        if name not in model_cache:
            model_cache[name] = ksa.build_model(name)
        return model_cache[name](np.full(shape, fill, dtype))

    return Case(f"model:{name}", argument, "call", run, shown=shown or f"received shape {shape}")


MODEL_CALL_CASES = [
    _call_case("fcn8s_tiny", (1, 32, 32, 1)),  # one channel into an RGB model (was broadcast silently)
    _call_case("fcn8s_tiny", (1, 0, 0, 3)),  # empty image (was "Biases must be 1D" / "Incompatible shapes")
    _call_case("fcn8s_tiny", (32, 32, 3)),  # no batch dimension
    _call_case("digits_cnn_tiny", (1, 40, 40, 1)),  # a fixed-size model at another size
    # token ids beyond the vocabulary (was TF's "indices[0,0] = 9999 is not in [0, 246)") or
    # negative (Keras' lookup wrapped -1 round to the last word, silently)
    _call_case("bahdanau_nmt_tiny", (1, 2, 14), 9999, "input 'tokens'", "received 9999"),
    _call_case("bahdanau_nmt_tiny", (1, 2, 14), -1, "input 'tokens'", "received -1"),
]


# Decoding options of the inference helpers (int() once turned beam_width=True into 1).
def _translator_case(argument, value, cache={}):  # noqa: B006 - one Translator for the whole sweep
    def run():
        from keras_segattn.models.bahdanau_nmt import Translator

        if "t" not in cache:
            cache["t"] = Translator(ksa.build_model("bahdanau_nmt_tiny"))
        with warnings.catch_warnings():  # the words are not in the tiny vocabulary: [UNK] is fine here
            warnings.simplefilter("ignore")
            return cache["t"].translate(["a b"], **{argument: value})

    return Case("helper:Translator.translate", argument, value, run)


HELPER_CASES = [
    _translator_case(argument, value)
    for argument, values in {
        "beam_width": [True, 0, 2.5, "2"],
        "length_penalty": [NAN, -1.0, "0.5"],
        "max_steps": [0, True],
    }.items()
    for value in values
]


# ----------------------------------------------------------------- valid but unusual
def _expect_name(model, name):
    assert model.name == name, model.name
    return model


VALID_MODEL_CASES = [
    Case("model:fcn8s_tiny", "num_classes", np.int64(4), lambda: ksa.build_model("fcn8s_tiny", num_classes=np.int64(4)), True),
    Case("model:fcn8s_tiny", "name", "x", lambda: _expect_name(ksa.build_model("fcn8s_tiny", name="x"), "x"), True),
    Case(
        "model:deconvnet_tiny",
        "input_shape",
        [np.int64(32), np.int32(32), 3],
        lambda: ksa.build_model(
            "deconvnet_tiny", input_shape=[np.int64(32), np.int32(32), 3], num_classes=np.int32(2), fc_units=np.int64(8)
        ),
        True,
    ),
    Case(
        "model:patch_classifier_tiny",
        "dropout",
        np.float32(0.25),
        lambda: ksa.build_model("patch_classifier_tiny", dropout=np.float32(0.25), widths=[4, 8], depths=[1, 1]),
        True,
    ),
    Case(
        "model:digits_cnn_tiny",
        "num_classes",
        np.uint8(3),
        lambda: _expect_name(ksa.build_model("digits_cnn_tiny", num_classes=np.uint8(3), name="digits"), "digits"),
        True,
    ),
]

VALID_LAYER_CASES = [
    Case("layer:MaxUnpooling2D", "pool_size", np.int64(2), lambda: layers.MaxUnpooling2D(np.int64(2)), True),
    Case("layer:AffineGridGenerator", "output_size", [np.int32(4), 5], lambda: layers.AffineGridGenerator([np.int32(4), 5]), True),
    Case("layer:ScaledResidual", "scale", 1, lambda: layers.ScaledResidual(1), True),
    Case("layer:ScaledResidual", "scale", np.float32(0.5), lambda: layers.ScaledResidual(np.float32(0.5)), True),
    Case("layer:BahdanauAttention", "units", np.int16(3), lambda: layers.BahdanauAttention(np.int16(3)), True),
    Case("layer:GaussianFilterbank", "image_size", [7, np.int64(9)], lambda: layers.GaussianFilterbank(np.int64(3), [7, np.int64(9)]), True),
    Case("layer:ConstantPlanes", "value", np.float64(1.5), lambda: layers.ConstantPlanes(np.int64(2), value=np.float64(1.5)), True),
    Case("layer:BilinearSampler", "align_corners", np.bool_(False), lambda: layers.BilinearSampler(align_corners=np.bool_(False)), True),
    Case("layer:RoIWarp", "extrapolation_value", np.float32(-1), lambda: layers.RoIWarp([np.int64(3), 4], extrapolation_value=np.float32(-1)), True),
]


# ----------------------------------------------------------------- the sweep
@dataclasses.dataclass
class Outcome:
    case: Case
    result: str  # "ok" | "silent" | "unclear: ..." | "rejected: ..."
    seconds: float
    weights_built: int = 0  # weights created before the error (the checks came late)


class _CountWeights:
    """Counts ``Layer.add_weight`` calls while active: checks in a builder or a layer's
    ``__init__`` refuse an invalid argument before any weight exists (a clock would be
    flaky on a busy machine)."""

    def __init__(self):
        self.calls = 0

    def __enter__(self):
        self._saved = keras.layers.Layer.add_weight
        original, counter = self._saved, self

        def counting(layer, *args, **kwargs):
            counter.calls += 1
            return original(layer, *args, **kwargs)

        keras.layers.Layer.add_weight = counting
        return self

    def __exit__(self, *exc):
        keras.layers.Layer.add_weight = self._saved


def _run(case: Case) -> Outcome:
    start = time.perf_counter()
    error = None
    with _CountWeights() as weights:
        try:
            case.run()
        except Exception as e:  # noqa: BLE001 - every failure is classified
            error = e
    seconds = time.perf_counter() - start
    if case.valid:
        result = "ok" if error is None else f"rejected: {type(error).__name__}: {str(error)[:300]}"
    else:
        result = classify(error, case.argument, case.value, case.shown)
        if result.startswith("unclear"):
            result += f" -- {type(error).__name__}: {str(error)[:300]}"
    return Outcome(case, result, seconds, weights_built=weights.calls)


MODEL_NAMES = ksa.list_models()
LAYER_NAMES = [n for n in layers.__all__ if isinstance(getattr(layers, n), type)]


@pytest.fixture(scope="module")
def sweep():
    keras.backend.clear_session()
    cases = [c for n in MODEL_NAMES for c in _model_cases(n)] + [c for n in LAYER_NAMES for c in _layer_cases(n)]
    cases += MODEL_CALL_CASES + HELPER_CASES + VALID_MODEL_CASES + VALID_LAYER_CASES
    start = time.perf_counter()
    outcomes = [_run(c) for c in cases]
    return outcomes, time.perf_counter() - start


def _failures(outcomes, prefix):
    return [f"{o.case.id}: {o.result}" for o in outcomes if o.result.startswith(prefix)]


def test_every_model_has_invalid_cases():
    missing = [n for n in MODEL_NAMES if not any(not c.valid for c in _model_cases(n))]
    assert not missing, f"registered models without an invalid-input case (extend tests/test_api_sweep.py): {missing}"


def test_every_public_layer_has_invalid_cases():
    missing = [n for n in LAYER_NAMES if not _layer_cases(n)]
    assert not missing, (
        f"public layers without an invalid-input case (add their required arguments to LAYER_REQUIRED "
        f"and a case to EXTRA_LAYER or LAYER_CALL_CASES in tests/test_api_sweep.py): {missing}"
    )


def test_no_invalid_input_is_silently_accepted(sweep):
    silent = _failures(sweep[0], "silent")
    assert not silent, f"{len(silent)} invalid inputs accepted:\n" + "\n".join(silent)


def test_every_error_names_argument_value_and_expectation(sweep):
    unclear = _failures(sweep[0], "unclear")
    assert not unclear, f"{len(unclear)} unclear errors:\n" + "\n".join(unclear)


def test_valid_unusual_inputs_are_accepted(sweep):
    rejected = _failures(sweep[0], "rejected")
    assert not rejected, f"{len(rejected)} valid inputs rejected:\n" + "\n".join(rejected)


def test_invalid_arguments_fail_before_any_weight(sweep):
    # An invalid argument fails in the builder's or the layer's constructor checks,
    # before any weight is created (call-time and helper cases build their model first).
    late = [f"{o.case.id}: {o.weights_built} weights first" for o in sweep[0]
            if not o.case.valid and o.case.value != "call" and not o.case.entry.startswith("helper:")
            and o.weights_built]
    assert not late, "invalid arguments refused only after weights were built:\n" + "\n".join(late)


def test_sweep_summary(sweep):
    outcomes, seconds = sweep
    entries = {o.case.entry for o in outcomes}
    counts = {
        "inputs tried": len(outcomes),
        "entry points covered": len(entries),
        "models": len({e for e in entries if e.startswith("model:")}),
        "layers": len({e for e in entries if e.startswith("layer:")}),
        "helpers": len({e for e in entries if e.startswith("helper:")}),
        "unclear": len(_failures(outcomes, "unclear")),
        "silently accepted": len(_failures(outcomes, "silent")),
        "wrongly rejected": len(_failures(outcomes, "rejected")),
        "seconds": round(seconds, 1),
    }
    print("\napi sweep:", counts)
    assert counts["models"] == len(MODEL_NAMES)
    assert counts["layers"] == len(LAYER_NAMES)
    assert not math.isnan(seconds)
