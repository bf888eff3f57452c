"""Learning-rate schedules used by the papers (all Keras' own schedule classes)."""

from __future__ import annotations

import keras

from keras_segattn.validation import check_choice, check_number, check_positive_int

SCHEDULES = ("cosine", "poly", "step", "constant")


def check_learning_rate(where: str, learning_rate):
    """``learning_rate`` as a finite float > 0, or a Keras schedule object unchanged.

    A NaN or negative rate would train without an error (the weights become
    NaN, or climb the loss), so every recipe checks it before compiling.
    """
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    return float(check_number(where, "learning_rate", learning_rate, minimum=0, exclusive_minimum=True))


def learning_rate_schedule(name: str, learning_rate: float, total_steps: int, warmup_steps: int | None = None):
    """A schedule by name, over ``total_steps`` optimizer steps.

    * ``"cosine"``: linear warm-up (5% of the steps by default) then cosine decay to 0.
    * ``"poly"``: ``lr * (1 - step / total) ** 0.9`` (the "poly" policy of the
      DeepLab/FCN-era segmentation work).
    * ``"step"``: ``lr``, divided by 10 at 50% and again at 75% of training
      (the step policy of the Caffe solvers of FCN and DeconvNet).
    * ``"constant"``: ``lr`` throughout (FCN's fixed-rate SGD).

    Example:
        >>> from keras_segattn.training import learning_rate_schedule
        >>> s = learning_rate_schedule("step", 0.1, 100)
        >>> [round(float(s(i)), 4) for i in (0, 60, 90)]
        [0.1, 0.01, 0.001]
    """
    check_choice("learning_rate_schedule", "name", name, SCHEDULES)
    learning_rate = check_learning_rate("learning_rate_schedule", learning_rate)
    total_steps = check_positive_int("learning_rate_schedule", "total_steps", total_steps)
    if warmup_steps is not None:
        from keras_segattn.validation import check_int

        warmup_steps = check_int("learning_rate_schedule", "warmup_steps", warmup_steps, minimum=0, maximum=total_steps)
    if name == "constant":
        return learning_rate
    if name == "poly":
        return keras.optimizers.schedules.PolynomialDecay(learning_rate, total_steps, end_learning_rate=0.0, power=0.9)
    if name == "step":
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [total_steps // 2, (3 * total_steps) // 4], [learning_rate, learning_rate / 10, learning_rate / 100]
        )
    warmup = min(total_steps // 2, max(1, total_steps // 20)) if warmup_steps is None else warmup_steps
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )
