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


def plot_classification(images, logits, path, *, labels=None, class_names=None, title=None):
    """Save a row of images titled with their predicted class and probability to ``path`` (PNG).

    Args:
        images: ``(N, H, W, 1 or 3)`` raw pixels in [0, 255].
        logits: ``(N, C)`` class scores (softmax is applied here).
        labels: optional ``(N,)`` true classes (shown as "true k").

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_classification
        >>> path = os.path.join(tempfile.mkdtemp(), "cls.png")
        >>> plot_classification(np.zeros((2, 8, 8, 1)), np.eye(2), path) == path
        True
    """
    plt = _pyplot()
    images = np.asarray(images, dtype=float)
    logits = np.asarray(logits, dtype=float)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(1.8 * n, 2.1), squeeze=False)
    for i in range(n):
        ax = axes[0, i]
        image = np.clip(images[i], 0, 255).astype(np.uint8)
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        k = int(probabilities[i].argmax())
        name = class_names[k] if class_names else str(k)
        text = f"{name} ({probabilities[i, k]:.2f})"
        if labels is not None:
            text += f"\ntrue {labels[i]}"
        ax.set_title(text, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_alignment(alignment, source_tokens, target_tokens, path, *, title=None):
    """Save attention alignment heatmap(s) to ``path`` (PNG): rows are output tokens, columns source tokens.

    The lecture's picture of soft attention for translation (Bahdanau et al.,
    ICLR 2015, figure 3): cell ``(i, j)`` is the weight ``alpha_ij`` of source
    token ``j`` when emitting output token ``i`` (white 0, black 1).

    Args:
        alignment: ``(len(target_tokens), len(source_tokens))``, or a list of
            such matrices (one panel each, side by side).
        source_tokens, target_tokens: token lists (or lists of lists).
        path: output PNG path.
        title: a title, or a list of panel titles.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_alignment
        >>> path = os.path.join(tempfile.mkdtemp(), "alignment.png")
        >>> plot_alignment(np.eye(3), ["mi", "gato", "negro"], ["my", "black", "cat"], path) == path
        True
    """
    plt = _pyplot()
    single = not isinstance(alignment, (list, tuple))
    alignments = [alignment] if single else list(alignment)
    sources = [source_tokens] if single else list(source_tokens)
    targets = [target_tokens] if single else list(target_tokens)
    titles = [title] if single or title is None or isinstance(title, str) else list(title)
    if len(sources) != len(alignments) or len(targets) != len(alignments):
        raise ValueError(
            f"plot_alignment: got {len(alignments)} alignment(s) but {len(sources)} source and "
            f"{len(targets)} target token list(s)."
        )
    matrices = []
    for a, s, t in zip(alignments, sources, targets):
        a = np.asarray(a, dtype=float)
        if a.shape != (len(t), len(s)):
            raise ValueError(
                f"plot_alignment: alignment shape {a.shape} must be (len(target_tokens), len(source_tokens)) "
                f"= ({len(t)}, {len(s)})."
            )
        matrices.append(a)
    widths = [max(2.0, 0.45 * len(s) + 1.2) for s in sources]
    height = max(2.0, 0.4 * max(len(t) for t in targets) + 1.4)
    fig, axes = plt.subplots(1, len(matrices), figsize=(sum(widths), height), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for i, (a, s, t) in enumerate(zip(matrices, sources, targets)):
        ax = axes[0, i]
        ax.imshow(a, cmap="gray_r", vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest")
        ax.set_xticks(range(len(s)))
        ax.set_xticklabels(s, rotation=60, ha="right")
        ax.set_yticks(range(len(t)))
        ax.set_yticklabels(t)
        ax.tick_params(length=0)
        panel_title = title if single else (titles[i] if i < len(titles) else None)
        if panel_title:
            import textwrap

            ax.set_title("\n".join(textwrap.wrap(panel_title, max(16, int(widths[i] * 9)))), fontsize=9)
    if not single and isinstance(title, str):
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_spatial_transformer(
    images,
    transformed,
    path,
    *,
    grids=None,
    labels=None,
    predictions=None,
    align_corners: bool = True,
    title: str | None = None,
):
    """Save a PNG of inputs (top row) and what a spatial transformer made of them (bottom row).

    Args:
        images: ``(N, H, W, C)`` inputs, raw in [0, 255] (C = 1 or 3).
        transformed: ``(N, h, w, C)`` transformer outputs, in [0, 1] (as
            ``with_transformer_outputs`` returns them) or [0, 255].
        path: output PNG path.
        grids: optional ``(N, h, w, 2)`` sampling grids (normalised ``(x, y)``);
            the outline of each grid is drawn on its input: the region the
            network attends to.
        labels, predictions: optional ``(N,)`` ints shown above the inputs.
        align_corners: the grid's coordinate convention (for the outline).
        title: figure title.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_spatial_transformer
        >>> path = os.path.join(tempfile.mkdtemp(), "st.png")
        >>> plot_spatial_transformer(np.zeros((2, 8, 8, 1)), np.zeros((2, 6, 6, 1)), path) == path
        True
    """
    plt = _pyplot()
    images = np.asarray(images, dtype=np.float64)
    transformed = np.asarray(transformed, dtype=np.float64)
    if transformed.size and transformed.max() <= 1.0 + 1e-6:
        transformed = transformed * 255.0
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 2.9), squeeze=False)

    def show(ax, image):
        image = np.clip(image, 0, 255)
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image.astype(np.uint8), interpolation="nearest")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])

    for i in range(n):
        show(axes[0, i], images[i])
        show(axes[1, i], transformed[i])
        if grids is not None:
            grid = np.asarray(grids[i], dtype=np.float64)
            h, w = images.shape[1:3]
            border = np.concatenate([grid[0, :], grid[1:, -1], grid[-1, -2::-1], grid[-2::-1, 0]])
            if align_corners:
                xs, ys = (border[:, 0] + 1) * (w - 1) / 2, (border[:, 1] + 1) * (h - 1) / 2
            else:
                xs, ys = ((border[:, 0] + 1) * w - 1) / 2, ((border[:, 1] + 1) * h - 1) / 2
            axes[0, i].plot(xs, ys, color="#ff7f0e", linewidth=1.0)
            axes[0, i].set_xlim(-0.5, w - 0.5)
            axes[0, i].set_ylim(h - 0.5, -0.5)
        caption = []
        if labels is not None:
            caption.append(f"label {int(labels[i])}")
        if predictions is not None:
            caption.append(f"pred {int(predictions[i])}")
        if caption:
            axes[0, i].set_title(", ".join(caption), fontsize=7)
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("transformed")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_caption_attention(images, tokens, attention, path, *, title=None, max_words=None):
    """Save the lecture's Show-Attend-Tell figure to ``path`` (PNG): each image, then one panel per word
    with that word's attention map upsampled over the image (Xu et al., ICML 2015, figures 2-3).

    Args:
        images: ``(N, H, W, 3)`` raw RGB in [0, 255] (or one ``(H, W, 3)`` image).
        tokens: the generated words, a list per image (or one list).
        attention: ``(len(tokens), h, w)`` maps per image (or one array);
            ``h x w`` is the annotation grid, stretched over the image.
        path: output PNG path.
        title: a figure title.
        max_words: draw at most this many words per image.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_caption_attention
        >>> path = os.path.join(tempfile.mkdtemp(), "caption.png")
        >>> plot_caption_attention(np.zeros((16, 16, 3)), ["a", "cat"], np.ones((2, 4, 4)) / 16, path) == path
        True
    """
    plt = _pyplot()
    images = np.asarray(images, dtype=float)
    single = images.ndim == 3
    if single:
        images, tokens, attention = images[None], [tokens], [attention]
    if images.ndim != 4 or len(tokens) != len(images) or len(attention) != len(images):
        raise ValueError(
            f"plot_caption_attention: need (N, H, W, 3) images with a token list and an attention array per image, "
            f"received images {images.shape}, {len(tokens)} token list(s), {len(attention)} attention array(s)."
        )
    maps = []
    for words, a in zip(tokens, attention):
        a = np.asarray(a, dtype=float)
        if a.ndim != 3 or len(a) != len(words):
            raise ValueError(
                f"plot_caption_attention: attention must be (len(tokens), h, w) = ({len(words)}, h, w), "
                f"received {a.shape}."
            )
        maps.append(a[:max_words] if max_words else a)
    columns = 1 + max((len(m) for m in maps), default=0)
    fig, axes = plt.subplots(len(images), columns, figsize=(1.5 * columns, 1.7 * len(images)), squeeze=False)
    height, width = images.shape[1:3]
    for row, (image, words, a) in enumerate(zip(images, tokens, maps)):
        shown = np.clip(image / 255.0, 0, 1)
        axes[row, 0].imshow(shown)
        axes[row, 0].set_title("image", fontsize=8)
        for t in range(len(a)):
            ax = axes[row, t + 1]
            ax.imshow(shown)
            # Each map is scaled to its own maximum (the paper's figures do the same) and smoothed over the image.
            ax.imshow(a[t], cmap="gray", alpha=0.65, vmin=0.0, vmax=max(float(a[t].max()), 1e-6),
                      extent=(0, width, height, 0), interpolation="bilinear")
            ax.set_title(words[t], fontsize=8)
        for ax in axes[row]:
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_handwriting(strokes, path, *, texts=None, phis=None, title=None, titles=None):
    """Save handwriting samples to ``path`` (PNG), each over its attention-window plot when ``phis`` is given.

    Each sample is drawn as its pen-down strokes (no lines across the pen-up
    moves; a one-point stroke is a dot), ``y`` up, equal aspect, no ticks,
    with its text as title. With ``phis``, beneath each sample is the heatmap
    of the soft window, as in the window-weights figure of Graves (2013),
    "Generating Sequences With Recurrent Neural Networks": column ``t`` is pen point
    ``t``, row ``u`` is character ``u`` of the text (first at the top, a space
    shown as ``␣``), darker = more weight ``phi(t, u)``; a legible sample
    shows a staircase from top left to bottom right.

    Args:
        strokes: a list of ``(N_i, 3)`` stroke arrays of rows
            ``(dx, dy, end_of_stroke)`` (see ``keras_segattn.training.handwriting``),
            or one such array.
        path: output PNG path.
        texts: optional text of each sample (a list of strings, or one string
            for one array): panel titles and the heatmaps' row labels.
        phis: optional ``(N_i, U_i)`` window weights per sample (or one array
            for one sample): the weight of each of the ``U_i`` characters at
            every pen point; ``U_i = len(texts[i])`` when texts are given, or
            ``len(texts[i]) + 1`` with the weight of ``[end]`` last (what
            :class:`~keras_segattn.models.handwriting_synthesis.Writer` returns).
        title: a figure title.
        titles: optional panel titles (default: the texts).

    Returns:
        ``path``.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_handwriting
        >>> path = os.path.join(tempfile.mkdtemp(), "handwriting.png")
        >>> strokes = np.array([[0, 0, 0], [1, 1, 1], [1, -1, 0], [1, 1, 1]], np.float32)
        >>> plot_handwriting(strokes, path, texts="hi", phis=np.eye(4, 2)) == path
        True
    """
    from keras_segattn.training.handwriting import _check_strokes, polylines

    plt = _pyplot()
    single = isinstance(strokes, np.ndarray) and strokes.ndim == 2
    samples = [strokes] if single else list(strokes)
    if single and isinstance(texts, str):
        texts = [texts]
    if single and phis is not None and np.ndim(phis) == 2:
        phis = [phis]
    n = len(samples)
    if n == 0:
        raise ValueError("plot_handwriting: strokes must be a non-empty list of (N, 3) arrays, received [].")
    if texts is not None and (isinstance(texts, str) or len(texts) != n):
        received = "a string" if isinstance(texts, str) else f"{len(texts)} text(s)"
        raise ValueError(f"plot_handwriting: texts must be one string per stroke array ({n}), received {received}.")
    if phis is not None and len(phis) != n:
        raise ValueError(f"plot_handwriting: phis must be one (N_i, U_i) array per stroke array ({n}), "
                         f"received {len(phis)}.")
    lines, windows = [], []
    for i, sample in enumerate(samples):
        sample = _check_strokes("plot_handwriting", "strokes" if single else f"strokes[{i}]", sample)
        lines.append(polylines(sample))
        if phis is None:
            continue
        phi = np.asarray(phis[i], dtype=float)
        units = len(texts[i]) if texts is not None else None
        if phi.ndim != 2 or len(phi) != len(sample) or (units is not None and phi.shape[1] not in (units, units + 1)):
            expected = f"({len(sample)}, {units if units is not None else 'U'})"
            expected += f" or ({len(sample)}, {units + 1}) with [end]" if units is not None else ""
            raise ValueError(f"plot_handwriting: phis[{i}] must be (len(strokes[{i}]), len(texts[{i}])) = "
                             f"{expected}, received shape {phi.shape}.")
        windows.append(phi)
    # Panel heights (inches): the writing at its aspect ratio over an 8-inch width, the window plot by characters.
    width = 8.0
    heights = []
    for i, pieces in enumerate(lines):
        points = np.concatenate(pieces)
        spans = np.ptp(points, axis=0)
        aspect = spans[1] / spans[0] if spans[0] > 0 else 1.0
        heights.append(float(np.clip(width * aspect, 0.8, 3.0)) + 0.35)
        if phis is not None:
            heights.append(float(np.clip(0.16 * windows[i].shape[1], 0.9, 4.0)) + 0.35)
    fig, axes = plt.subplots(len(heights), 1, figsize=(width, sum(heights) + (0.4 if title else 0.0)),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    rows_per_sample = 2 if phis is not None else 1
    for i, pieces in enumerate(lines):
        ax = axes[i * rows_per_sample, 0]
        for piece in pieces:
            if len(piece) == 1:
                ax.plot(piece[:, 0], piece[:, 1], "k.", markersize=2)
            else:
                ax.plot(piece[:, 0], piece[:, 1], "k-", linewidth=1.2, solid_capstyle="round")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
        if titles is not None or texts is not None:
            ax.set_title((titles or texts)[i], fontsize=9)
        if phis is None:
            continue
        ax = axes[i * rows_per_sample + 1, 0]
        phi = windows[i]
        ax.imshow(phi.T, cmap="gray_r", vmin=0.0, vmax=max(float(phi.max()), 1e-6), aspect="auto",
                  interpolation="nearest", origin="upper")
        ax.set_xlabel("pen point", fontsize=8)
        ax.tick_params(labelsize=7, length=0)
        if texts is not None:
            labels = ["␣" if ch == " " else ch for ch in texts[i]] + ["[end]"] * (phi.shape[1] - len(texts[i]))
            ax.set_yticks(range(len(labels)))
            ax.set_yticklabels(labels, fontsize=6)
        else:
            ax.set_ylabel("character", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    # Keep the first panel's title clear of the figure title (0.4 inch reserved above).
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()) if title else None)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_canvas_sequence(canvases, path, *, boxes=None, read_boxes=None, steps=None, title=None, row_titles=None):
    """DRAW's lecture figure: each row one image, each column the canvas after a step, the attention drawn on it.

    Args:
        canvases: ``(N, T, H, W, 1 or 3)`` (or ``(N, T, H, W)``) values in [0, 1].
        path: the PNG to write.
        boxes: optional ``(N, T, 3)`` write boxes: centre ``(x, y)`` in
            0-based pixels and side length (red squares).
        read_boxes: optional ``(N, T, 3)`` read boxes, drawn in green.
        steps: the step indices to show (default: all, at most 16 evenly spaced).
        title: figure title; ``row_titles``: one label per row.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_canvas_sequence
        >>> path = os.path.join(tempfile.mkdtemp(), "draw.png")
        >>> plot_canvas_sequence(np.zeros((1, 3, 8, 8, 1)), path, boxes=np.ones((1, 3, 3))) == path
        True
    """
    plt = _pyplot()
    canvases = np.asarray(canvases, dtype=float)
    if canvases.ndim == 4:
        canvases = canvases[..., None]
    if canvases.ndim != 5:
        raise ValueError(f"plot_canvas_sequence: canvases must have shape (N, T, H, W[, C]), received {canvases.shape}.")
    n, t = canvases.shape[:2]
    if steps is None:
        steps = np.unique(np.linspace(0, t - 1, min(t, 16)).round().astype(int))
    steps = [int(s) for s in steps]
    fig, axes = plt.subplots(n, len(steps), figsize=(1.1 * len(steps), 1.15 * n + (0.4 if title else 0)),
                             squeeze=False)
    for i in range(n):
        for j, s in enumerate(steps):
            ax = axes[i, j]
            image = np.clip(canvases[i, s], 0, 1)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
            for kind, color in ((read_boxes, "lime"), (boxes, "red")):
                if kind is not None:
                    x, y, side = (float(v) for v in np.asarray(kind)[i, s])
                    ax.add_patch(plt.Rectangle((x - side / 2, y - side / 2), side, side, fill=False, color=color,
                                               linewidth=1.2))
            ax.set_xlim(-0.5, image.shape[1] - 0.5)
            ax.set_ylim(image.shape[0] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t={s + 1}", fontsize=8)
        if row_titles is not None:
            axes[i, 0].set_ylabel(str(row_titles[i]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_image_grids(grids, path, *, columns=8, title=None):
    """Sample grids side by side (DRAW next to DCGAN): ``grids`` maps a caption to ``(N, H, W[, C])`` in [0, 1].

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.visualize import plot_image_grids
        >>> path = os.path.join(tempfile.mkdtemp(), "grids.png")
        >>> plot_image_grids({"a": np.zeros((4, 8, 8, 1)), "b": np.ones((4, 8, 8))}, path, columns=2) == path
        True
    """
    plt = _pyplot()
    tiles = []
    for caption, images in grids.items():
        images = np.asarray(images, dtype=float)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3:
            raise ValueError(f"plot_image_grids: {caption!r} must have shape (N, H, W[, 1]), received {images.shape}.")
        rows = -(-len(images) // columns)
        h, w = images.shape[1:]
        sheet = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1))
        for k, image in enumerate(images):
            r, c = divmod(k, columns)
            sheet[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = np.clip(image, 0, 1)
        tiles.append((caption, sheet))
    aspect = max(sheet.shape[0] / sheet.shape[1] for _, sheet in tiles)
    fig, axes = plt.subplots(1, len(tiles), figsize=(3.2 * len(tiles), 3.2 * aspect + 0.7), squeeze=False)
    for ax, (caption, sheet) in zip(axes[0], tiles):
        ax.imshow(sheet, cmap="gray", vmin=0, vmax=1)
        ax.set_title(caption, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ----------------------------------------------------------------- instance segmentation
INSTANCE_ALPHA = 0.45  # opacity of an instance's colour over its mask


def _instance_rows(where, argument, instances, height, width, score_threshold):
    """The rows of one image's ``instances`` to draw: ``[(box, class, score or None, mask bool (H, W)), ...]``.

    Detections (with ``"scores"``) are drawn when their class is > 0, their index is
    below ``"num_detections"`` (if given) and their score >= ``score_threshold``;
    targets (no scores) draw every non-padding row. Masks are shown where >= 0.5.
    """
    from keras_segattn.validation import message

    keys = ("boxes", "classes", "masks")
    if not isinstance(instances, dict) or any(k not in instances for k in keys):
        shown = f"a dict with keys {sorted(map(str, instances))}" if isinstance(instances, dict) else repr(instances)
        raise ValueError(f'{where}: {argument} must be a dict with "boxes" (D, 4), "classes" (D,), "masks" (D, H, W) '
                         f'and, for detections, "scores" (D,), received {shown}.')
    boxes = np.asarray(instances["boxes"], dtype=float)
    classes = np.asarray(instances["classes"])
    masks = np.asarray(instances["masks"], dtype=float)
    if masks.ndim != 3 or masks.shape[1:] != (height, width):
        raise ValueError(message(where, f'{argument}["masks"]', f"of shape (D, H, W) = (D, {height}, {width}) like "
                                 "the image (one image's instances: index a batch first)", f"shape {masks.shape}"))
    d = masks.shape[0]
    scores = instances.get("scores")
    scores = None if scores is None else np.asarray(scores, dtype=float)
    for key, value, shape in (("boxes", boxes, (d, 4)), ("classes", classes, (d,)), ("scores", scores, (d,))):
        if value is not None and value.shape != shape:
            raise ValueError(message(where, f'{argument}["{key}"]', f"of shape {shape} like the masks",
                                     f"shape {value.shape}"))
    count = int(np.asarray(instances.get("num_detections", d)))
    rows = []
    for j in range(min(count, d)):
        if classes[j] <= 0 or (scores is not None and not scores[j] >= score_threshold):
            continue
        rows.append((boxes[j], int(classes[j]), None if scores is None else float(scores[j]), masks[j] >= 0.5))
    return rows


def _draw_instances(ax, image, rows, class_names):
    """``image`` with each row's mask tinted in its colour, its box and a "class score" label on ``ax``."""
    from matplotlib.patches import Rectangle

    height, width = image.shape[:2]
    palette = _pyplot().get_cmap("tab10")
    shown = np.clip(np.asarray(image, dtype=float), 0, 255) / 255.0
    colours = [np.array(palette(k % palette.N)[:3]) for k in range(len(rows))]
    for (_, _, _, mask), colour in zip(rows, colours):
        shown[mask] = (1 - INSTANCE_ALPHA) * shown[mask] + INSTANCE_ALPHA * colour
    ax.imshow(shown, interpolation="nearest")
    for (box, cls, score, _), colour in zip(rows, colours):
        y1, x1, y2, x2 = np.clip(box, 0, 1) * [height, width, height, width]
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.5))
        name = class_names[cls - 1] if class_names and cls <= len(class_names) else str(cls)
        text = name if score is None else f"{name} {score:.2f}"
        ax.text(x1 - 0.5, y1 - 0.5, text, fontsize=7, color="white", va="top", ha="left", clip_on=True,
                bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "edgecolor": "none"})
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])


def _check_image(where, argument, image, rank):
    from keras_segattn.validation import message

    image = np.asarray(image, dtype=float)
    if image.ndim != rank or image.shape[-1] != 3:
        expected = "(H, W, 3)" if rank == 3 else "(N, H, W, 3)"
        raise ValueError(message(where, argument, f"RGB of shape {expected} in [0, 255]", f"shape {image.shape}"))
    return image


def _check_threshold(where, score_threshold):
    from keras_segattn.validation import check_number

    return check_number(where, "score_threshold", score_threshold, minimum=0, maximum=1)


def plot_instances(image, instances, path, *, class_names=None, score_threshold: float = 0.5, title=None):
    """Save one image with its instances (masks tinted, boxes, "class score" labels) to ``path`` (PNG).

    The picture is the image enlarged by an integer factor (to about 512 pixels on
    its longer side, never shrunk), plus a 32-pixel title band when ``title`` is given.

    Args:
        image: ``(H, W, 3)`` raw RGB in [0, 255].
        instances: one image's detections (``"boxes"`` ``(D, 4)`` normalised
            ``(y1, x1, y2, x2)``, ``"classes"`` ``(D,)``, ``"scores"`` ``(D,)``,
            ``"masks"`` ``(D, H, W)`` probabilities, optional ``"num_detections"``)
            or targets (no ``"scores"``: every row with class > 0 is drawn).
        path: output PNG path.
        class_names: names of classes 1..K (``class_names[k - 1]``).
        score_threshold: detections scoring below it are not drawn.
        title: a title above the image.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from keras_segattn.data import instance_shapes_arrays
        >>> from keras_segattn.visualize import plot_instances
        >>> images, targets = instance_shapes_arrays("test", 1, image_size=32)
        >>> path = os.path.join(tempfile.mkdtemp(), "instances.png")
        >>> plot_instances(images[0], {k: v[0] for k, v in targets.items()}, path) == path
        True
    """
    where = "plot_instances"
    image = _check_image(where, "image", image, 3)
    score_threshold = _check_threshold(where, score_threshold)
    height, width = image.shape[:2]
    rows = _instance_rows(where, "instances", instances, height, width, score_threshold)
    plt = _pyplot()
    dpi, band = 100, 32 if title else 0
    scale = max(1, int(np.ceil(512 / max(height, width))))
    w_px, h_px = width * scale, height * scale
    fig = plt.figure(figsize=(w_px / dpi, (h_px + band) / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, h_px / (h_px + band)))
    ax.set_axis_off()
    _draw_instances(ax, image, rows, class_names)
    if title:
        fig.text(0.5, 1 - band / 2 / (h_px + band), title, ha="center", va="center", fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_instance_grid(images, instances, path, *, class_names=None, score_threshold: float = 0.5, columns: int = 4,
                       titles=None, title=None):
    """Save a grid of images with their instances (as :func:`plot_instances`) to ``path`` (PNG).

    Args:
        images: ``(N, H, W, 3)`` raw RGB in [0, 255].
        instances: batched detections (``"boxes"`` ``(N, D, 4)``, ``"classes"``,
            ``"scores"`` ``(N, D)``, ``"masks"`` ``(N, D, H, W)``, optional
            ``"num_detections"`` ``(N,)``) or batched targets (no ``"scores"``).
        columns: images per row.
        titles: one title per image (e.g. "truth" / "prediction").

    Example:
        >>> import tempfile, os
        >>> from keras_segattn.data import instance_shapes_arrays
        >>> from keras_segattn.visualize import plot_instance_grid
        >>> images, targets = instance_shapes_arrays("test", 3, image_size=32)
        >>> plot_instance_grid(images, targets, os.path.join(tempfile.mkdtemp(), "grid.png"), columns=2)
        '...grid.png'
    """
    from keras_segattn.validation import check_positive_int, message

    where = "plot_instance_grid"
    images = _check_image(where, "images", images, 4)
    score_threshold = _check_threshold(where, score_threshold)
    columns = check_positive_int(where, "columns", columns)
    n, height, width = images.shape[:3]
    if not isinstance(instances, dict):
        raise ValueError(message(where, "instances", "a dict of batched arrays (N, D, ...)", instances))
    per_image = []
    for i in range(n):
        try:
            one = {k: np.asarray(v)[i] for k, v in instances.items()}
        except IndexError:
            shapes = {k: np.shape(v) for k, v in instances.items()}
            raise ValueError(message(where, "instances", f"batched arrays with {n} rows (one per image)",
                                     f"shapes {shapes}")) from None
        per_image.append(_instance_rows(where, f"instances[{i}]", one, height, width, score_threshold))
    if titles is not None and (isinstance(titles, str) or len(titles) != n):
        raise ValueError(message(where, "titles", f"None or {n} titles (one per image)", titles))
    plt = _pyplot()
    columns = min(columns, n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.4 * rows * height / width + (0.4 if title else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_axis_off()
            continue
        _draw_instances(ax, images[k], per_image[k], class_names)
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
