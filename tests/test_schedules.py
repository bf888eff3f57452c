"""Learning-rate schedules against their formulas."""

import numpy as np
import pytest

from keras_segattn.training import learning_rate_schedule


def test_poly_is_the_poly_policy():
    schedule = learning_rate_schedule("poly", 0.01, 1000)
    for step in (0, 250, 500, 999):
        # float32 arithmetic: ~1e-5 relative near the end
        np.testing.assert_allclose(float(schedule(step)), 0.01 * (1 - step / 1000) ** 0.9, rtol=1e-4)


def test_step_divides_by_ten_at_half_and_three_quarters():
    schedule = learning_rate_schedule("step", 0.1, 100)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 50, 51, 75, 76, 99)], [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_cosine_warms_up_then_decays_to_zero():
    schedule = learning_rate_schedule("cosine", 0.002, 200)  # 10 warm-up steps
    values = np.array([float(schedule(s)) for s in range(201)])
    np.testing.assert_allclose(values[10], 0.002, rtol=1e-6)
    assert np.all(np.diff(values[:11]) > 0) and np.all(np.diff(values[10:]) <= 1e-12)
    np.testing.assert_allclose(values[105], 0.002 * 0.5 * (1 + np.cos(np.pi * 95 / 190)), rtol=1e-5)
    assert values[200] == pytest.approx(0.0, abs=1e-9)


def test_constant_and_errors():
    assert learning_rate_schedule("constant", 0.1, 10) == 0.1
    with pytest.raises(ValueError, match="learning_rate_schedule: name must be one of 'cosine', 'poly', 'step', 'constant', received 'exp'"):
        learning_rate_schedule("exp", 0.1, 10)
    with pytest.raises(ValueError, match="learning_rate_schedule: total_steps must be a positive int, received 0"):
        learning_rate_schedule("poly", 0.1, 0)
