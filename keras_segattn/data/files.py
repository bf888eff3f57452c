"""Segmentation data from the user's own image and mask files, with corrupt files reported.

:func:`segmentation_files` reads ``(image, mask)`` file pairs (PNG, JPEG, BMP,
... anything Pillow opens) and :func:`segmentation_from_directory` pairs the
files of two folders by name. A pair is **corrupt** when a file is missing,
is not an image (a text file named ``.png``), stops early (a truncated PNG or
JPEG), or when the mask's size differs from the image's. What happens then is
the ``on_corrupt`` option:

- ``"raise"`` (default): :class:`CorruptFileError` (a ``ValueError``) naming
  the file and what is wrong with it. Missing files, non-images and size
  mismatches are found when the dataset is made (only the file headers are
  read, so this is quick); a truncated file is found when its pixels are
  decoded, during iteration, and the error then reaches the caller wrapped in
  TensorFlow's error (``tf.errors.InvalidArgumentError`` or
  ``UnknownError``) whose message holds the same text.
- ``"skip"``: the pair is left out, counted in a :class:`CorruptFiles`
  (``dataset.corrupt_files``, or the one passed as ``corrupt=``) and reported
  by a ``UserWarning`` giving the count and the first few file names (once
  when the dataset is made, once after the first pass over the data that
  found more). The model never sees a corrupt pair.

Nothing here reads TFRecord files: the library's real datasets
(:func:`~keras_segattn.data.oxford_iiit_pet`, ``scene_parse150``, ...) come
through ``tensorflow_datasets``, which reads and checks its own records
(a truncated record raises ``tf.errors.DataLossError`` when read).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_segattn.validation import check_choice, check_int_pair, message

__all__ = ["ON_CORRUPT", "CorruptFileError", "CorruptFiles", "segmentation_files", "segmentation_from_directory"]

ON_CORRUPT = ("raise", "skip")
#: the file extensions :func:`segmentation_from_directory` lists (lower case)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_SHOWN = 3  # file names a warning lists


class CorruptFileError(ValueError):
    """A data file that cannot be used: ``path`` names it, ``reason`` says why."""

    def __init__(self, text, *, path, reason):
        super().__init__(text)
        self.path = path
        self.reason = reason


class CorruptFiles:
    """The corrupt files a reader skipped: ``count``, ``paths`` and ``reasons`` (path -> why), in order found.

    Example:
        >>> from keras_segattn.data.files import CorruptFiles
        >>> corrupt = CorruptFiles()
        >>> corrupt.add("a.png", "not an image")
        True
        >>> corrupt.count, corrupt.paths
        (1, ['a.png'])
    """

    def __init__(self):
        self.reasons: dict[str, str] = {}

    @property
    def count(self) -> int:
        return len(self.reasons)

    @property
    def paths(self) -> list[str]:
        return list(self.reasons)

    def add(self, path, reason) -> bool:
        """Record ``path``; ``False`` if it was already recorded."""
        path = os.fspath(path)
        if path in self.reasons:
            return False
        self.reasons[path] = reason
        return True

    def summary(self, where: str, total: int, start: int = 0) -> str:
        """The warning text for the files recorded from index ``start`` on."""
        found = list(self.reasons.items())[start:]
        shown = "; ".join(f"{p!r} ({r})" for p, r in found[:_SHOWN])
        more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        return (
            f"{where}: skipped {len(found)} of {total} image/mask pairs with a corrupt file "
            f"(on_corrupt='skip'): {shown}{more}. Their list is the dataset's corrupt_files.reasons."
        )

    def __repr__(self):
        return f"CorruptFiles(count={self.count}, paths={self.paths[:_SHOWN]}{'...' if self.count > _SHOWN else ''})"


def _header(path):
    """``(size (W, H), mode)`` from the file's header, or raise ``_Bad`` saying why."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise _Bad(path, "the file does not exist")
    try:
        with Image.open(path) as image:
            return image.size, image.mode
    except UnidentifiedImageError:
        raise _Bad(path, "not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise _Bad(path, f"unreadable image header ({error})") from None


def _decode(path, kind):
    """The pixels of ``path``: float32 ``(H, W, 3)`` RGB for images, int32 ``(H, W)`` for masks."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a truncated file raises here
            if kind == "image":
                return np.asarray(image.convert("RGB"), np.float32)
            if image.mode not in ("P", "L", "I", "I;16", "1"):
                image = image.getchannel(0)  # an RGB(A) mask: class ids in its first channel
            return np.asarray(image, np.int32)
    except (OSError, SyntaxError, ValueError) as error:
        raise _Bad(path, f"the {kind} data does not decode ({error})") from None


class _Bad(Exception):
    def __init__(self, path, reason):
        super().__init__(reason)
        self.path, self.reason = os.fspath(path), reason


def _error(where, bad: _Bad) -> CorruptFileError:
    return CorruptFileError(
        f"{where}: corrupt data file {bad.path!r}: {bad.reason}. Fix or remove it, or pass "
        "on_corrupt='skip' to leave such pairs out (they are counted and reported).",
        path=bad.path,
        reason=bad.reason,
    )


def segmentation_files(
    images,
    masks,
    *,
    image_size=None,
    on_corrupt: str = "raise",
    corrupt: CorruptFiles | None = None,
) -> tf.data.Dataset:
    """``(image float32 (H, W, 3) in [0, 255], label int32 (H, W))`` pairs read from image and mask files.

    Args:
        images: paths of the images (any format Pillow reads; grey images
            become RGB).
        masks: paths of the masks, one per image, the same size as it: a
            single-channel or palette PNG whose values are the class ids
            (an RGB mask's first channel is used).
        image_size: ``None`` (each pair keeps its size; batch with
            ``batch_size=1`` or resize) or ``(height, width)``: images are
            resized bilinearly, masks by nearest neighbour.
        on_corrupt: ``"raise"`` or ``"skip"`` (see the module's docstring).
        corrupt: a :class:`CorruptFiles` to record skipped files in (a new one
            by default); the dataset's ``corrupt_files`` attribute is it.

    Raises:
        ValueError: bad arguments (lists of different lengths, empty, an
            unknown ``on_corrupt``).
        CorruptFileError: with ``on_corrupt="raise"``, a missing file, a
            non-image or a mask whose size differs from its image (found
            here); a truncated file is reported during iteration.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> from keras_segattn.data import segmentation_files
        >>> folder = tempfile.TemporaryDirectory()
        >>> Image.fromarray(np.zeros((4, 6, 3), "uint8")).save(f"{folder.name}/a.png")
        >>> Image.fromarray(np.ones((4, 6), "uint8")).save(f"{folder.name}/a_mask.png")
        >>> with open(f"{folder.name}/b.png", "w") as fh:
        ...     _ = fh.write("not a picture")
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     ds = segmentation_files([f"{folder.name}/a.png", f"{folder.name}/b.png"],
        ...                             [f"{folder.name}/a_mask.png", f"{folder.name}/a_mask.png"], on_corrupt="skip")
        >>> [(tuple(x.shape), int(y.numpy().max())) for x, y in ds], ds.corrupt_files.count
        ([((4, 6, 3), 1)], 1)
        >>> folder.cleanup()
    """
    return _segmentation_files("segmentation_files", images, masks, image_size, on_corrupt, corrupt, 0)


def _segmentation_files(where, images, masks, image_size, on_corrupt, corrupt, skipped_before):
    check_choice(where, "on_corrupt", on_corrupt, ON_CORRUPT)
    if image_size is not None:
        image_size = check_int_pair(where, "image_size", image_size)
    images = [os.fspath(p) for p in (images if not isinstance(images, (str, os.PathLike)) else [images])]
    masks = [os.fspath(p) for p in (masks if not isinstance(masks, (str, os.PathLike)) else [masks])]
    if not images:
        raise ValueError(message(where, "images", "at least one image path", images))
    if len(images) != len(masks):
        raise ValueError(
            message(where, "masks", f"one path per image ({len(images)} images)", f"shape ({len(masks)},)")
        )
    corrupt = CorruptFiles() if corrupt is None else corrupt
    start = corrupt.count - skipped_before  # this dataset's entries in a shared counter
    skip = on_corrupt == "skip"

    # Quick checks from the headers: missing files, non-images, mask sizes.
    pairs = []
    for image_path, mask_path in zip(images, masks):
        try:
            image_hw, _ = _header(image_path)
            mask_hw, _ = _header(mask_path)
            if image_hw != mask_hw:
                raise _Bad(
                    mask_path,
                    f"the mask is {mask_hw[1]}x{mask_hw[0]} (HxW) but its image {image_path!r} is "
                    f"{image_hw[1]}x{image_hw[0]}",
                )
        except _Bad as bad:
            if not skip:
                raise _error(where, bad) from None
            corrupt.add(bad.path, bad.reason)
            continue
        pairs.append((image_path, mask_path))
    total = len(images) + skipped_before
    if corrupt.count > start:
        warnings.warn(corrupt.summary(where, total, start), UserWarning, stacklevel=3)
    if not pairs:
        raise ValueError(f"{where}: every one of the {total} image/mask pairs is corrupt; nothing to read. " + repr(corrupt))

    reported = [corrupt.count]

    def generate():
        for image_path, mask_path in pairs:
            try:
                image, mask = _decode(image_path, "image"), _decode(mask_path, "mask")
            except _Bad as bad:
                if not skip:
                    raise _error(where, bad) from None
                corrupt.add(bad.path, bad.reason)
                continue
            yield image, mask
        if corrupt.count > reported[0]:
            reported[0] = corrupt.count
            warnings.warn(corrupt.summary(where, total, start), UserWarning, stacklevel=2)

    ds = tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec((None, None, 3), tf.float32),
            tf.TensorSpec((None, None), tf.int32),
        ),
    )
    if image_size is not None:
        height, width = image_size

        def resize(image, mask):
            image = tf.image.resize(image, (height, width), "bilinear")
            mask = tf.image.resize(mask[..., None], (height, width), "nearest")[..., 0]
            return tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0), (height, width, 3)), tf.ensure_shape(
                mask, (height, width)
            )

        ds = ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE)
    ds.corrupt_files = corrupt
    return ds


def segmentation_from_directory(
    image_dir,
    mask_dir,
    *,
    image_size=None,
    on_corrupt: str = "raise",
    corrupt: CorruptFiles | None = None,
) -> tf.data.Dataset:
    """:func:`segmentation_files` for the images of ``image_dir`` and the masks of ``mask_dir``, paired by name.

    The mask of ``image_dir/x.jpg`` is the file of ``mask_dir`` named ``x``
    with any image extension (``x.png``). Files are read in sorted name order.
    An image without a mask is a corrupt pair (``"raise"``: an error naming
    it; ``"skip"``: counted and reported); masks without an image are ignored.
    """
    where = "segmentation_from_directory"
    check_choice(where, "on_corrupt", on_corrupt, ON_CORRUPT)
    if image_size is not None:
        check_int_pair(where, "image_size", image_size)
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    for argument, folder in (("image_dir", image_dir), ("mask_dir", mask_dir)):
        if not folder.is_dir():
            raise ValueError(message(where, argument, "an existing folder", str(folder)))

    def listing(folder):
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

    masks_by_stem = {}
    for path in listing(mask_dir):
        masks_by_stem.setdefault(path.stem, path)
    image_files = listing(image_dir)
    if not image_files:
        raise ValueError(
            message(where, "image_dir", f"a folder holding image files ({', '.join(IMAGE_EXTENSIONS)})", str(image_dir))
        )
    corrupt = CorruptFiles() if corrupt is None else corrupt
    images, masks = [], []
    for path in image_files:
        mask = masks_by_stem.get(path.stem)
        if mask is None:
            bad = _Bad(path, f"no mask named {path.stem!r} (any image extension) in {str(mask_dir)!r}")
            if on_corrupt == "raise":
                raise _error(where, bad)
            corrupt.add(bad.path, bad.reason)
            continue
        images.append(path)
        masks.append(mask)
    if not images:
        raise ValueError(f"{where}: no image in {str(image_dir)!r} has a mask in {str(mask_dir)!r}. " + repr(corrupt))
    return _segmentation_files(where, images, masks, image_size, on_corrupt, corrupt, len(image_files) - len(images))
