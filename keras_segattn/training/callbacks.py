"""Callbacks."""

from __future__ import annotations

import math
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
        from keras_segattn.validation import check_number

        check_number("TimeLimit", "seconds", seconds, minimum=0, exclusive_minimum=True)
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


class NonFiniteLossError(RuntimeError):
    """Training hit a NaN or infinite loss; raised by :class:`StopOnNonFinite`.

    Attributes:
        step: the optimizer's global step whose update produced the loss (its
            ``iterations`` after that step, the numbering of
            :class:`~keras_segattn.training.Backup`).
        epoch, batch: 0-based epoch and batch-in-epoch indices of that step.
        loss: the non-finite value (``nan``, ``inf`` or ``-inf``).
    """

    def __init__(self, message, *, step, epoch, batch, loss):
        super().__init__(message)
        self.step, self.epoch, self.batch, self.loss = step, epoch, batch, loss


class NonFiniteWeightsError(RuntimeError):
    """A backup was about to save non-finite weights; raised by :class:`~keras_segattn.training.Backup`.

    Attributes:
        step: the optimizer's global step that would have been saved.
        variable: path of the first variable holding a NaN or infinity.
    """

    def __init__(self, message, *, step, variable):
        super().__init__(message)
        self.step, self.variable = step, variable


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop training at the first non-finite loss, before later callbacks save anything.

    The training step that produced a NaN/inf loss has already applied its
    (non-finite) update, so the weights are lost from that step on. This
    callback raises :class:`NonFiniteLossError` from ``on_train_batch_end``
    naming the global step, epoch and batch; callbacks listed **after** it
    (``ModelCheckpoint``, :class:`~keras_segattn.training.Backup`) never run
    for that step and ``on_train_end`` is not called, so the last checkpoint
    or backup on disk holds the weights of an earlier, finite step. Put it
    first in the callback list (the library's recipes do).

    ``keras.callbacks.TerminateOnNaN`` only sets ``stop_training`` by default
    (later callbacks still run for that batch, and ``on_train_end`` too), and
    its error does not say where the run broke.

    The loss checked is Keras' running mean over the epoch, which becomes
    non-finite at the first non-finite batch. With ``steps_per_execution=k``
    callbacks run every ``k`` steps, so the step named is the last of those
    ``k``.

    Example:
        >>> from keras_segattn.training import StopOnNonFinite
        >>> StopOnNonFinite().batch_offset
        0
    """

    def __init__(self):
        super().__init__()
        # fit_resumable starts a resumed fit() mid-epoch; it sets this so the
        # reported batch is the index within the whole epoch.
        self.batch_offset = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isfinite(loss):
            return
        step = int(self.model.optimizer.iterations.numpy())
        batch = self.batch_offset + batch
        raise NonFiniteLossError(
            f"training stopped: the loss became non-finite ({loss}) at step {step} "
            f"(epoch index {self._epoch}, batch index {batch}); the weights are non-finite "
            f"from this step on, and no callback after StopOnNonFinite (checkpoint, backup) "
            f"ran for it, so nothing was saved after step {step - 1}.",
            step=step,
            epoch=self._epoch,
            batch=batch,
            loss=loss,
        )
