"""COCO captions pipeline, offline: tfds.testing.mock_data fakes coco_captions from the builder's feature spec.

The mock (``MockPolicy.USE_CODE``: the tfds wheel ships no metadata files, so
the builder class gives the features) is deterministic: random images of 5 to
49 pixels a side and 5 to 49 captions per image, each 10 to 19 characters of
``" abcdefghij"`` (one to four "words").
"""

import re
import string

import numpy as np
import pytest
import tensorflow as tf

from keras_segattn.data import (
    caption_vectorizer,
    caption_vocabulary,
    captioning_pipeline,
    coco_captions,
    encode_captions,
)


def _mock(num_examples):
    import tensorflow_datasets as tfds

    return tfds.testing.mock_data(num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE)


def _texts(example):
    return [t.decode() for t in example["captions"]["text"]]


def _reference(text, vocabulary, max_length):
    """NumPy twin of encode_captions: neuraltalk2's standardisation, the module's truncation."""
    words = text.lower().translate(str.maketrans("", "", string.punctuation)).split()
    ids = {word: index + 2 for index, word in enumerate(vocabulary)}
    row = [2, *(ids.get(word, 1) for word in words[: max_length - 1]), 3]
    return row + [0] * (max_length + 1 - len(row))


def _check_rows(captions, max_length):
    """Every row is [start] ... [end] 0...: one [end], no padding before it, nothing after it."""
    assert captions.shape[1] == max_length + 1
    assert (captions[:, 0] == 2).all()
    assert ((captions == 3).sum(axis=1) == 1).all()
    for row in captions:
        end = int(np.argmax(row == 3))
        assert (row[1:end] != 0).all() and (row[1:end] != 2).all() and (row[end + 1 :] == 0).all()


def test_batches_match_a_numpy_reference():
    max_length = 3  # two words + [end]: the mock's one-to-four-word captions are cut or not
    with _mock(5):
        raw = list(coco_captions("train").as_numpy_iterator())
        train = coco_captions("train")
        vocabulary = caption_vocabulary(train.map(lambda ex: ex["captions"]["text"]), max_tokens=12)
        batches = list(
            captioning_pipeline(
                train, vocabulary=vocabulary, image_size=(40, 48), max_length=max_length, batch_size=2
            ).as_numpy_iterator()
        )
    assert len(vocabulary) == 10 and vocabulary[:2] == ["[start]", "[end]"]
    assert [inputs[0].shape for inputs, _ in batches] == [(2, 40, 48, 3), (2, 40, 48, 3), (1, 40, 48, 3)]
    images = np.concatenate([inputs[0] for inputs, _ in batches])
    captions = np.concatenate([inputs[1] for inputs, _ in batches])
    targets = np.concatenate([t for _, t in batches])
    assert images.dtype == np.float32 and captions.dtype == np.int32 and targets.dtype == np.int32
    assert captions.shape == (5, max_length + 1) and targets.shape == (5, max_length)
    np.testing.assert_array_equal(targets, captions[:, 1:])
    assert 0.0 <= images.min() and images.max() <= 255.0
    _check_rows(captions, max_length)
    for example, image, caption in zip(raw, images, captions):
        want = tf.image.resize(example["image"].astype("float32"), (40, 48), "bilinear").numpy()
        np.testing.assert_allclose(image, want, atol=1e-3)
        # The first caption, tokenised like the reference (unknown words 1, cut to max_length - 1 words).
        assert caption.tolist() == _reference(_texts(example)[0], vocabulary, max_length)
    # Not vacuous: the mock's first captions include cut and whole ones, known and unknown words.
    lengths = [len(_texts(example)[0].split()) for example in raw]
    assert max(lengths) > max_length - 1 >= min(lengths)
    assert (captions == 1).any() and (captions >= 4).any()


def test_all_captions_gives_one_example_per_caption():
    max_length = 4
    with _mock(3):
        raw = list(coco_captions("val").as_numpy_iterator())
        vocabulary = caption_vocabulary([text for example in raw for text in _texts(example)])
        ds = captioning_pipeline(
            coco_captions("val"), vocabulary=vocabulary, image_size=16, max_length=max_length, batch_size=8,
            all_captions=True,
        )
        batches = list(ds.as_numpy_iterator())
    images = np.concatenate([inputs[0] for inputs, _ in batches])
    captions = np.concatenate([inputs[1] for inputs, _ in batches])
    targets = np.concatenate([t for _, t in batches])
    counts = [len(_texts(example)) for example in raw]
    assert len(captions) == sum(counts) > len(raw)
    assert all(inputs[1].shape[0] == 8 for inputs, _ in batches[:-1])
    np.testing.assert_array_equal(targets, captions[:, 1:])
    _check_rows(captions, max_length)
    want = [_reference(text, vocabulary, max_length) for example in raw for text in _texts(example)]
    assert captions.tolist() == want
    # Each caption comes with its own image.
    owner = np.repeat(np.arange(len(raw)), counts)
    for index, example in enumerate(raw):
        resized = tf.image.resize(example["image"].astype("float32"), (16, 16)).numpy()
        np.testing.assert_allclose(images[owner == index], np.broadcast_to(resized, (counts[index], 16, 16, 3)),
                                   atol=1e-3)


def test_shuffle_is_seeded_and_keeps_every_example():
    def captions(**kwargs):
        with _mock(3):
            train = coco_captions("train")
            vocabulary = caption_vocabulary(train.map(lambda ex: ex["captions"]["text"]))
            ds = captioning_pipeline(train, vocabulary=vocabulary, image_size=8, max_length=5, batch_size=16,
                                     all_captions=True, **kwargs)
            return np.concatenate([inputs[1] for inputs, _ in ds.as_numpy_iterator()])

    ordered = captions()
    first, again, other = captions(shuffle=100, seed=1), captions(shuffle=100, seed=1), captions(shuffle=100, seed=2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, ordered) and not np.array_equal(first, other)
    assert sorted(map(tuple, first.tolist())) == sorted(map(tuple, ordered.tolist()))


def test_encode_captions_of_hand_written_text():
    vocabulary = ["[start]", "[end]", "a", "man", "riding", "wave", "on", "surfboard"]
    text = "A man riding a wave, on a SURFBOARD."  # 8 words: ids 4 5 6 4 7 8 4 9
    np.testing.assert_array_equal(
        encode_captions(text, vocabulary=vocabulary, max_length=10), [2, 4, 5, 6, 4, 7, 8, 4, 9, 3, 0]
    )
    # Exactly max_length - 1 words fit whole; one more cuts the last word, never [end].
    np.testing.assert_array_equal(encode_captions(text, vocabulary=vocabulary, max_length=9),
                                  [2, 4, 5, 6, 4, 7, 8, 4, 9, 3])
    np.testing.assert_array_equal(encode_captions(text, vocabulary=vocabulary, max_length=8),
                                  [2, 4, 5, 6, 4, 7, 8, 4, 3])
    np.testing.assert_array_equal(encode_captions(text, vocabulary=vocabulary, max_length=1), [2, 3])
    # Unknown words are 1; "[start]" in the text is the plain word "start", unknown too; empty text is [start] [end].
    out = encode_captions(["A zebra's T-shirt", "[start] wave", ""], vocabulary=vocabulary, max_length=4)
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(out, [[2, 4, 1, 1, 3], [2, 1, 7, 3, 0], [2, 3, 0, 0, 0]])
    # A vectorizer is reused as is and gives the same ids.
    np.testing.assert_array_equal(
        encode_captions(["A zebra's T-shirt", "[start] wave", ""], vocabulary=caption_vectorizer(vocabulary),
                        max_length=4),
        out,
    )


def test_caption_vocabulary_orders_by_frequency_and_caps_the_id_space():
    texts = ["A dog runs.", "A dog sleeps on grass", "a DOG, a cat", "the cat"]
    vocabulary = caption_vocabulary(texts)
    # a x4, dog x3, cat x2, then the single words in reverse alphabetical order (TextVectorization's tie-break).
    assert vocabulary == ["[start]", "[end]", "a", "dog", "cat", "the", "sleeps", "runs", "on", "grass"]
    assert all(type(token) is str for token in vocabulary)
    assert caption_vocabulary(texts, max_tokens=7) == ["[start]", "[end]", "a", "dog", "cat"]
    # A dataset of strings or of batches gives the same list.
    assert caption_vocabulary(tf.data.Dataset.from_tensor_slices(texts)) == vocabulary
    assert caption_vocabulary(tf.data.Dataset.from_tensor_slices(texts).batch(3)) == vocabulary
    # Ids are index + 2: the most frequent word is 4.
    np.testing.assert_array_equal(encode_captions("a dog", vocabulary=vocabulary, max_length=3), [2, 4, 5, 3])


def test_batches_feed_a_show_attend_tell_model():
    import keras

    import keras_segattn as ksa

    max_length = 4
    with _mock(3):
        train = coco_captions("train")
        vocabulary = caption_vocabulary(train.map(lambda ex: ex["captions"]["text"]), max_tokens=40)
        (images, captions), targets = next(iter(captioning_pipeline(
            train, vocabulary=vocabulary, image_size=64, max_length=max_length, batch_size=2)))
    model = ksa.build_model("show_attend_tell_tiny", vocab_size=len(vocabulary) + 2, max_length=max_length)
    logits = model([images, captions], training=False)[0]
    assert logits.shape == (2, max_length, len(vocabulary) + 2)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits)
    assert np.isfinite(float(loss))


def test_missing_data_says_how_to_prepare_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"coco_captions: the dataset is not prepared in .*tfds build coco_captions"
                                                r".*download=True"):
        coco_captions("train", data_dir=str(tmp_path))


def test_errors_name_argument_received_expected():
    vocabulary = ["[start]", "[end]", "a"]
    with _mock(1):
        ds = coco_captions("train")
        for split in ("train[:10%]", "train+restval", "restval", "test"):  # Karpathy's names, slicing, unions
            coco_captions(split)
    with pytest.raises(ValueError, match=r"coco_captions: split must be 'train', 'val', 'test' or 'restval' .*"
                                         r"received 'validation'\."):
        coco_captions("validation")
    for image_size in [(0, 8), (1, 2, 3), 0, "224", (8.0, 8)]:
        with pytest.raises(ValueError, match=r"captioning_pipeline: image_size must be an int or a \(height, width\) "
                                             rf"pair of positive ints, received {re.escape(repr(image_size))}\."):
            captioning_pipeline(ds, vocabulary=vocabulary, image_size=image_size)
    with pytest.raises(ValueError, match=r"captioning_pipeline: max_length must be a positive int, received 0\."):
        captioning_pipeline(ds, vocabulary=vocabulary, max_length=0)
    with pytest.raises(ValueError, match=r"captioning_pipeline: batch_size must be a positive int, received 0\."):
        captioning_pipeline(ds, vocabulary=vocabulary, batch_size=0)
    with pytest.raises(ValueError, match=r"captioning_pipeline: shuffle must be None or a positive int, received 0\."):
        captioning_pipeline(ds, vocabulary=vocabulary, shuffle=0)
    with pytest.raises(ValueError, match=r"captioning_pipeline: all_captions must be True or False, received 1\."):
        captioning_pipeline(ds, vocabulary=vocabulary, all_captions=1)
    with pytest.raises(ValueError, match=r"captioning_pipeline: vocabulary must be a list of distinct tokens starting "
                                         r"with '\[start\]', '\[end\]'.*received \[\]\."):
        captioning_pipeline(ds, vocabulary=[])
    with pytest.raises(ValueError, match=r"captioning_pipeline: vocabulary must be .*received \['a', '\[start\]'"):
        captioning_pipeline(ds, vocabulary=["a", "[start]", "[end]"])
    with pytest.raises(ValueError, match=r"captioning_pipeline: vocabulary must be .*received \['\[start\]', '\[end\]', "
                                         r"'\[UNK\]'\]\."):
        captioning_pipeline(ds, vocabulary=["[start]", "[end]", "[UNK]"])
    with pytest.raises(ValueError, match=r"captioning_pipeline: dataset must be a tf.data.Dataset of coco_captions "
                                         r"examples"):
        captioning_pipeline(tf.data.Dataset.from_tensor_slices(["a caption"]), vocabulary=vocabulary)
    with pytest.raises(ValueError, match=r"encode_captions: max_length must be a positive int, received 0\."):
        encode_captions("a", vocabulary=vocabulary, max_length=0)
    with pytest.raises(ValueError, match=r"encode_captions: vocabulary must be a list of distinct tokens"):
        encode_captions("a", vocabulary=["[start]", "[end]", "a", "a"], max_length=3)
    with pytest.raises(ValueError, match=r"caption_vocabulary: max_tokens must be an int >= 5, received 4\."):
        caption_vocabulary(["a dog"], max_tokens=4)
    with pytest.raises(ValueError, match=r"caption_vocabulary: texts must be a list, an array or a tf.data.Dataset "
                                         r"of strings, received 'a dog'\."):
        caption_vocabulary("a dog")
    with pytest.raises(ValueError, match=r"caption_vocabulary: texts must be captions holding at least one word"):
        caption_vocabulary(["...", ""])
