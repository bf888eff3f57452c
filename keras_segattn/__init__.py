"""keras_segattn: the segmentation and attention architectures of CS231n lecture 13 in Keras 3.

Example:
    >>> import keras_segattn as ksa
    >>> model = ksa.build_model("fcn8s_tiny", num_classes=4)
    >>> "fcn8s" in ksa.list_models()
    True
"""

__version__ = "0.1.0"

from keras_segattn import _tf_logs  # noqa: E402

if _tf_logs.running_the_cli():
    _tf_logs.filter_tensorflow_logs()  # before TensorFlow is imported below

# Importing the package registers every serialisable class (layers, metrics,
# the model families' own layers), so `keras.saving.load_model` works after
# `import keras_segattn`; importing `models` once runs every family's
# registration (the registry itself imports no model).
from keras_segattn import layers, models, tasks, training  # noqa: E402
from keras_segattn.registry import build_model, get_spec, list_models, register_model  # noqa: E402

__all__ = [
    "build_model",
    "list_models",
    "get_spec",
    "register_model",
    "layers",
    "models",
    "tasks",
    "training",
    "__version__",
]
