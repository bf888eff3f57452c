"""Corrupt user files: every reader names the file and raises, or skips, counts and reports it.

Readers of the user's own files: ``segmentation_files`` / ``segmentation_from_directory``
(images + masks) and ``iam_ondb_lines`` (IAM-OnDB stroke XML). The library reads no
TFRecord file itself (its real datasets come through tensorflow_datasets), so no
TFRecord case is tested here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_segattn.data import (
    CorruptFileError,
    CorruptFiles,
    iam_ondb_lines,
    segmentation_files,
    segmentation_from_directory,
)

RNG = np.random.RandomState(0)


def _image(path, size=(32, 40)):
    Image.fromarray(RNG.randint(0, 256, (*size, 3)).astype("uint8")).save(path, quality=95)
    return str(path)


def _mask(path, size=(32, 40), value=None):
    data = RNG.randint(0, 3, size) if value is None else np.full(size, value)
    Image.fromarray(data.astype("uint8")).save(path)
    return str(path)


def _truncated(path, source):
    data = open(source, "rb").read()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


@pytest.fixture
def files(tmp_path):
    good = [_image(tmp_path / f"good{i}.png") for i in range(2)]
    masks = [_mask(tmp_path / f"good{i}_mask.png", value=i + 1) for i in range(2)]
    text = tmp_path / "text.png"
    text.write_text("this is not a PNG")
    big_jpeg = _image(tmp_path / "big.jpg", size=(64, 64))
    return {
        "good": good,
        "masks": masks,
        "text": str(text),
        "png_truncated": _truncated(tmp_path / "cut.png", good[0]),
        "jpeg_truncated": _truncated(tmp_path / "cut.jpg", big_jpeg),
        "small_mask": _mask(tmp_path / "small_mask.png", size=(16, 40)),
        "mask_64": _mask(tmp_path / "mask64.png", size=(64, 64)),
    }


def test_good_files_read_as_float_images_and_int_labels(files):
    ds = segmentation_files(files["good"], files["masks"])
    pairs = list(ds)
    assert len(pairs) == 2 and ds.corrupt_files.count == 0
    image, label = pairs[1]
    assert image.dtype == tf.float32 and image.shape == (32, 40, 3) and label.dtype == tf.int32
    assert np.array_equal(image.numpy(), np.asarray(Image.open(files["good"][1]), np.float32))
    assert set(np.unique(label.numpy())) == {2}


def test_resized_with_image_size(files):
    image, label = next(iter(segmentation_files(files["good"], files["masks"], image_size=(16, 20))))
    assert image.shape == (16, 20, 3) and label.shape == (16, 20)


@pytest.mark.parametrize(
    "kind, pair, reason",
    [
        ("text", lambda f: (f["text"], f["masks"][0]), "not an image"),
        ("missing", lambda f: (f["good"][0] + ".gone.png", f["masks"][0]), "does not exist"),
        ("mask size", lambda f: (f["good"][0], f["small_mask"]), "the mask is 16x40 (HxW) but its image"),
    ],
)
def test_raise_mode_names_the_file_when_the_dataset_is_made(files, kind, pair, reason):
    image, mask = pair(files)
    with pytest.raises(CorruptFileError, match="on_corrupt='skip'") as info:
        segmentation_files([files["good"][1], image], [files["masks"][1], mask])
    bad = mask if kind == "mask size" else image
    assert repr(bad) in str(info.value) and reason in str(info.value)
    assert info.value.path == bad and isinstance(info.value, ValueError)


@pytest.mark.parametrize("kind", ["png_truncated", "jpeg_truncated"])
def test_raise_mode_names_a_truncated_file_when_it_is_decoded(files, kind):
    mask = files["masks"][0] if kind == "png_truncated" else files["mask_64"]
    ds = segmentation_files([files["good"][1], files[kind]], [files["masks"][1], mask])
    iterator = iter(ds)
    next(iterator)  # the good pair comes first
    with pytest.raises(tf.errors.OpError) as info:
        next(iterator)
    text = str(info.value)
    assert "CorruptFileError" in text and repr(files[kind]) in text and "truncated" in text


def test_skip_mode_counts_reports_and_yields_only_good_pairs(files):
    images = [files["good"][0], files["text"], files["png_truncated"], files["good"][1], files["jpeg_truncated"],
              files["good"][0]]
    masks = [files["masks"][0], files["masks"][0], files["masks"][0], files["masks"][1], files["mask_64"],
             files["small_mask"]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = segmentation_files(images, masks, on_corrupt="skip")
        # Found from the headers at once: the text file and the wrong-size mask.
        assert ds.corrupt_files.count == 2
        pairs = list(ds)
        pairs_again = list(ds)  # a second epoch: the same pairs, no new report
    labels = [int(label.numpy()[0, 0]) for _, label in pairs]
    assert labels == [1, 2] and len(pairs_again) == 2
    corrupt = ds.corrupt_files
    assert corrupt.count == 4
    assert set(corrupt.paths) == {files["text"], files["small_mask"], files["png_truncated"], files["jpeg_truncated"]}
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning) and "skipped" in str(w.message)]
    assert len(messages) == 2  # once when made, once after the first pass that found more
    assert messages[0].startswith("segmentation_files: skipped 2 of 6") and repr(files["text"]) in messages[0]
    assert messages[1].startswith("segmentation_files: skipped 4 of 6") and "truncated" in messages[1]


def test_skip_mode_with_every_pair_corrupt_raises(files):
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="every one of the 1 image/mask pairs is corrupt"):
        segmentation_files([files["text"]], [files["masks"][0]], on_corrupt="skip")


def test_a_counter_can_be_shared(files):
    corrupt = CorruptFiles()
    with pytest.warns(UserWarning):
        segmentation_files([files["good"][0], files["text"]], files["masks"], on_corrupt="skip", corrupt=corrupt)
    assert corrupt.count == 1 and "not an image" in corrupt.reasons[files["text"]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="on_corrupt must be one of 'raise', 'skip', received 'ignore'"):
        segmentation_files(["a.png"], ["a_mask.png"], on_corrupt="ignore")
    with pytest.raises(ValueError, match=r"masks must be one path per image \(2 images\), received shape \(1,\)"):
        segmentation_files(["a.png", "b.png"], ["a_mask.png"])


def test_directory_pairs_by_name_and_reports_a_missing_mask(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for name in ("a", "b", "c"):
        _image(images / f"{name}.jpg")
    _mask(masks / "a.png", value=1)
    _mask(masks / "b.png", value=2)
    (images / "notes.txt").write_text("ignored: not an image extension")
    with pytest.raises(CorruptFileError, match=r"c\.jpg.*no mask named 'c'"):
        segmentation_from_directory(images, masks)
    with pytest.warns(UserWarning, match="segmentation_from_directory: skipped 1 of 3"):
        ds = segmentation_from_directory(images, masks, on_corrupt="skip")
    assert [int(label.numpy()[0, 0]) for _, label in ds] == [1, 2]
    assert ds.corrupt_files.paths == [str(images / "c.jpg")]


# --- IAM-OnDB stroke files -------------------------------------------------------------

_XML = ('<WhiteboardCaptureSession><StrokeSet><Stroke><Point x="1" y="5"/><Point x="2" y="3"/>'
        '</Stroke></StrokeSet></WhiteboardCaptureSession>')


def _iam(tmp_path):
    strokes = tmp_path / "lineStrokes" / "a01" / "a01-000"
    texts = tmp_path / "ascii" / "a01" / "a01-000"
    strokes.mkdir(parents=True), texts.mkdir(parents=True)
    (strokes / "a01-000u-01.xml").write_text(_XML)
    (strokes / "a01-000u-02.xml").write_text(_XML[: len(_XML) // 2])  # truncated XML
    (strokes / "a01-000u-03.xml").write_text(_XML)
    (texts / "a01-000u.txt").write_text("CSR:\n\nline one\nline two\nline three\n")
    return tmp_path, strokes / "a01-000u-02.xml"


def test_iam_ondb_truncated_xml_raises_naming_the_file(tmp_path):
    root, bad = _iam(tmp_path)
    with pytest.raises(ValueError, match="a01-000u-02.xml"):
        iam_ondb_lines(root)


def test_iam_ondb_truncated_xml_skipped_and_counted(tmp_path):
    root, bad = _iam(tmp_path)
    corrupt = CorruptFiles()
    with pytest.warns(UserWarning, match=r"skipped 1 corrupt file\(s\).*a01-000u-02\.xml"):
        lines = iam_ondb_lines(root, on_corrupt="skip", corrupt=corrupt)
    assert [text for text, _ in lines] == ["line one", "line three"]
    assert corrupt.paths == [str(bad)] and "well-formed XML" in corrupt.reasons[str(bad)]


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_predict_reader_names_a_truncated_image(tmp_path, suffix):
    from keras_segattn.tasks.segmentation import read_image

    good = _image(tmp_path / f"good{suffix}")
    assert read_image(good).shape == (32, 40, 3)
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(open(good, "rb").read()[:200])
    with pytest.raises(ValueError, match=rf"predict: image '.*bad\{suffix}' cannot be decoded"):
        read_image(str(bad))
