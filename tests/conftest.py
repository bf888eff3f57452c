"""Test set-up: CPU only, quiet TensorFlow, fixed seeds, headless matplotlib."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


def _trim_heap():
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


@pytest.fixture(autouse=True)
def _free_after_test():
    # Each worker builds, XLA-compiles and drops hundreds of models; without
    # collecting their cycles and trimming glibc's heap the two workers grew to
    # 10-12 GB of RSS each by three quarters of the suite (measured) and stalled
    # a 23 GB machine.
    yield
    _trim_heap()


@pytest.fixture(scope="module", autouse=True)
def _free_after_module():
    yield
    keras.backend.clear_session()  # after the module's own fixtures are gone
    _trim_heap()
