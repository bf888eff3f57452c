"""Callbacks."""

from __future__ import annotations

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stop training once ``seconds`` of wall time have passed (checked after each batch).

    A budget guard for demos and CI: the run ends cleanly (``on_train_end``
    runs, the model stays usable) and ``stopped_early`` tells whether it hit
    the limit. The clock starts at the first ``fit`` the callback is used in.

    Example:
        >>> from keras_segattn.training import TimeLimit
        >>> TimeLimit(600).seconds
        600
    """

    def __init__(self, seconds: float):
        super().__init__()
        if not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"TimeLimit: seconds must be a positive number, received {seconds!r}.")
        self.seconds = seconds
        self.stopped_early = False
        self._start = None

    def on_train_begin(self, logs=None):
        # The clock starts at the first fit() it sees: a resumed run that
        # calls fit() twice shares one budget.
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self._start > self.seconds:
            self.stopped_early = True
            self.model.stop_training = True
