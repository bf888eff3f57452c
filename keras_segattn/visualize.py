"""Pictures of what the models do (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_colormap(num_classes: int):
    """A ListedColormap with black background and distinct colours per class."""
    from matplotlib.colors import ListedColormap

    base = _pyplot().get_cmap("tab10" if num_classes <= 11 else "tab20")
    colours = [(0, 0, 0, 1)] + [base(i % base.N) for i in range(num_classes - 1)]
    return ListedColormap(colours)


def plot_segmentation(
    images,
    labels,
    predictions,
    path,
    *,
    num_classes: int,
    class_names=None,
    void_label: int = 255,
    title: str | None = None,
):
    """Save a grid of image / ground truth / prediction rows to ``path`` (PNG).

    Args:
        images: ``(N, H, W, 3)`` raw RGB in [0, 255].
        labels: ``(N, H, W)`` class ids (void shown as white), or ``None``.
        predictions: ``(N, H, W)`` class ids, or logits ``(N, H, W, C)``.
        path: output PNG path.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_segmentation
        >>> path = os.path.join(tempfile.mkdtemp(), "seg.png")
        >>> plot_segmentation(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8)), np.zeros((2, 8, 8)), path, num_classes=2)
        '...seg.png'
    """
    plt = _pyplot()
    images = np.asarray(images)
    predictions = np.asarray(predictions)
    if predictions.ndim == 4:
        predictions = predictions.argmax(-1)
    rows = [("image", images)]
    if labels is not None:
        rows.append(("truth", np.asarray(labels)))
    rows.append(("prediction", predictions))
    n = len(images)
    cmap = label_colormap(num_classes)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 * n, 1.6 * len(rows)), squeeze=False)
    for r, (name, data) in enumerate(rows):
        for i in range(n):
            ax = axes[r, i]
            if name == "image":
                ax.imshow(np.clip(data[i], 0, 255).astype(np.uint8))
            else:
                shown = np.ma.masked_equal(data[i], void_label)
                ax.imshow(shown, cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(name)
    if class_names:
        from matplotlib.patches import Patch

        handles = [Patch(color=cmap(c), label=name) for c, name in enumerate(class_names)]
        fig.legend(handles=handles, loc="lower center", ncol=len(class_names), frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 if class_names else 0, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
