"""keras_segattn: the segmentation and attention architectures of CS231n lecture 13 in Keras 3.

Example:
    >>> import keras_segattn as ksa
    >>> model = ksa.build_model("fcn8s_tiny", num_classes=4)
    >>> "fcn8s" in ksa.list_models()
    True
"""

__version__ = "0.1.0"

# Importing the package registers every serialisable class (layers, metrics),
# so `keras.saving.load_model` works after `import keras_segattn`.
from keras_segattn import layers, training  # noqa: E402
from keras_segattn.registry import build_model, list_models, register_model  # noqa: E402

__all__ = ["build_model", "list_models", "register_model", "layers", "training", "__version__"]
