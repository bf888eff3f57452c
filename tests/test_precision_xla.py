"""XLA x mixed precision: one fit step of every registered tiny model under each policy."""

import keras
import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.training import precision_policy
from tests.helpers import compile_for_task, sample_batch


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", ksa.list_models("*_tiny"))
def test_xla_fit_step_under_mixed_precision(name, precision):
    with precision_policy(precision):
        model = ksa.build_model(name)
    assert keras.config.dtype_policy().name == "float32"  # restored
    compute = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[precision]
    assert any(layer.compute_dtype == compute for layer in model.layers)
    for output in model.outputs:
        if "int" not in output.dtype:  # integer outputs (detected classes, counts) are exact
            assert output.dtype == "float32", f"{name}: head must stay float32 under {precision}"
    x, y = sample_batch(model, batch_size=2)
    compile_for_task(model, jit_compile=True)
    if precision == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    before = [w.numpy().copy() for w in model.trainable_weights]
    # Dynamic loss scaling (mixed_float16) skips a step whose scaled gradients
    # overflow and halves the scale (Keras starts at 2**15): deep BatchNorm nets
    # (Inception: unscaled gradients up to ~1.4e3 on a batch of 2, so scales above
    # 2**5 overflow) skip their first steps. A skipped step must show as a halved
    # scale; the weights must move by the time the scale reaches 1 (16 steps).
    for _ in range(16):
        scale = None
        if precision == "mixed_float16":  # the scale variable exists once the optimizer is built
            optimizer = model.optimizer
            scale = float(optimizer.dynamic_scale.numpy()) if optimizer.built else float(optimizer.initial_scale)
        history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        if any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)):
            break
        assert scale is not None, f"{name}: a {precision} step changed no weight"
        assert float(model.optimizer.dynamic_scale.numpy()) == scale / 2, f"{name}: skipped step without halving the loss scale"
    else:
        raise AssertionError(f"{name}: no {precision} step changed a weight in 16 steps")
    assert all(np.all(np.isfinite(o)) for o in keras.tree.flatten(model.predict(x, verbose=0)))


def test_unknown_precision():
    with pytest.raises(ValueError, match="precision must be one of float32, mixed_float16, mixed_bfloat16; received 'fp8'"):
        with precision_policy("fp8"):
            pass
