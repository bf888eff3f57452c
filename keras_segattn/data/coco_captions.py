"""COCO captions (Karpathy & Li splits) through tensorflow_datasets, for the Show-Attend-Tell captioner.

Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014, with the
splits of Karpathy & Fei-Fei, "Deep Visual-Semantic Alignments for Generating
Image Descriptions", CVPR 2015, the ones Show, Attend and Tell reports on:
``train`` (82 783 images), ``val`` and ``test`` (5 000 each) and ``restval``
(30 504; ``"train+restval"`` is the usual 113k-image training set). Every
image has about five human captions. The tensorflow_datasets name is
``coco_captions``; each example is a dict with ``image`` (uint8 ``(h, w, 3)``)
and ``captions`` (``{"text": (n,) string, "id": (n,) int64}``) among COCO's
detection features. Needs the prepared dataset in ``data_dir`` (``tfds build
coco_captions`` or ``download=True``, where a network exists); tested offline
with ``tfds.testing.mock_data``.

Text handling follows neuraltalk2's preprocessing (Karpathy's captioning
code): lower-case, delete ASCII punctuation (``"T-shirt's"`` -> ``"tshirts"``),
split on whitespace, which is ``keras.layers.TextVectorization``'s
``"lower_and_strip_punctuation"``. The translation data's ``standardize``
does not fit: it splits numbers into digits and punctuation into separate
tokens.

Token ids follow the embedded captioning data
(:mod:`keras_segattn.data.shape_captions`): 0 padding, 1 ``[UNK]`` (any word
outside the vocabulary), 2 ``[start]``, 3 ``[end]``, then the words of
:func:`caption_vocabulary` by decreasing frequency. A caption is encoded as
``[start] w_1 ... w_n [end]``, 0-padded to ``max_length + 1`` ids; the model's
targets are ``caption[1:]``, ``max_length`` decoder steps.

Truncation: a caption longer than ``max_length - 1`` words keeps its first
``max_length - 1`` words and still ends with ``[end]``, so every encoded
caption holds exactly one ``[end]`` and the model always learns where to
stop (as :func:`~keras_segattn.data.translation.translation_pipeline` does
with ``drop_long=False``). COCO captions average about 10 words, so the
paper's ``max_length=20`` cuts few.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_segattn.data.translation import END_ID, END_TOKEN, PAD_ID, START_ID, START_TOKEN
from keras_segattn.validation import (
    check_bool,
    check_int,
    check_optional_int,
    check_positive_int,
    is_int,
    message,
)

__all__ = [
    "SPLITS",
    "STANDARDIZE",
    "coco_captions",
    "caption_vocabulary",
    "caption_vectorizer",
    "encode_captions",
    "captioning_pipeline",
]

#: The Karpathy & Li splits of the ``coco_captions`` builder.
SPLITS = ("train", "val", "test", "restval")
#: ``TextVectorization``'s standardisation: lower-case, delete ``string.punctuation`` (as neuraltalk2).
STANDARDIZE = "lower_and_strip_punctuation"
_OOV_TOKEN = "[UNK]"


def _check_split(where, split):
    # Accepts tfds slicing and unions ("train[:10%]", "train+restval"). tfds' mock accepts
    # any name, so without this check a typo ("validation") would pass the tests and fail
    # only on the real data.
    parts = split.split("+") if isinstance(split, str) else [None]
    if not all(isinstance(p, str) and p.split("[")[0].strip() in SPLITS for p in parts):
        expected = "'train', 'val', 'test' or 'restval' (tfds slicing and unions such as 'train+restval' work)"
        raise ValueError(message(where, "split", expected, split))
    return split


def coco_captions(
    split: str = "train",
    *,
    data_dir: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """The ``coco_captions`` examples of ``split``, as ``tfds.load`` returns them.

    Each element is a dict with ``image`` uint8 ``(h, w, 3)`` (sizes vary,
    about 640 x 480) and ``captions`` ``{"text": (n,) string, "id": (n,)
    int64}`` (n is 5 for most images), plus COCO's ``objects`` and
    ``image/filename``, ``image/id``. Feed it to :func:`captioning_pipeline`.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"restval"``, with tfds
            slicing and unions (``"train[:1000]"``, ``"train+restval"``).
        data_dir: where the prepared dataset lies (``None``: tfds' default,
            ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        download: download and prepare the dataset first if needed (COCO
            2014 and the Karpathy splits: about 38 GiB to download).

    Raises:
        FileNotFoundError: the dataset is not prepared in ``data_dir`` and
            ``download`` is ``False``; the message says how to prepare it.

    Example (needs the prepared dataset or ``tfds.testing.mock_data``):
        >>> import tensorflow_datasets as tfds
        >>> from keras_segattn.data import coco_captions
        >>> with tfds.testing.mock_data(num_examples=2):
        ...     example = next(iter(coco_captions("val")))
        >>> example["image"].dtype.name, example["image"].shape.rank, example["captions"]["text"].dtype.name
        ('uint8', 3, 'string')
    """
    where = "coco_captions"
    _check_split(where, split)
    download = check_bool(where, "download", download)
    import tensorflow_datasets as tfds

    try:
        return tfds.load("coco_captions", split=split, data_dir=data_dir, download=download)
    except AssertionError as error:
        # tfds reports missing data as an AssertionError ("could not find data in ...")
        # that does not say how to build the dataset outside Python.
        if "could not find data" not in str(error):
            raise
        place = repr(data_dir) if data_dir else "the default data_dir ($TFDS_DATA_DIR or ~/tensorflow_datasets)"
        raise FileNotFoundError(
            f"{where}: the dataset is not prepared in {place}. Prepare it once with "
            f"`tfds build coco_captions{f' --data_dir={data_dir}' if data_dir else ''}` or call "
            f"coco_captions(..., download=True) (COCO 2014: about 38 GiB to download). tfds said: {error}"
        ) from error


# -------------------------------------------------------------------- text
def _check_texts(where, texts):
    if isinstance(texts, tf.data.Dataset):
        spec = texts.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string:
            raise ValueError(message(where, "texts", "a tf.data.Dataset of strings", spec))
        # TextVectorization.adapt reads a dataset batch by batch.
        return texts.batch(1024) if spec.shape.rank == 0 else texts
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__len__"):
        raise ValueError(message(where, "texts", "a list, an array or a tf.data.Dataset of strings", texts))
    return texts


def caption_vocabulary(texts, *, max_tokens: int = 10000) -> list[str]:
    """The decoder's tokens learnt from ``texts``: ``[start]``, ``[end]``, then words by decreasing frequency.

    A ``keras.layers.TextVectorization`` (standardised as the module says) is
    adapted on ``texts``; ties in frequency are broken by reverse
    alphabetical order, so the result is deterministic. The list holds
    neither the padding ``""`` nor ``[UNK]`` (ids 0 and 1), so token ``i`` of
    the list has id ``i + 2`` and a model needs ``vocab_size = len(vocabulary)
    + 2``.

    Args:
        texts: captions: a list or array of strings, or a ``tf.data.Dataset``
            of strings (scalars or batches), e.g. every caption of the
            training split: ``coco_captions("train").map(lambda ex:
            ex["captions"]["text"])`` (``tfds.load("coco_captions", ...,
            decoders={"image": tfds.decode.SkipDecoding()})`` spares the
            JPEG decoding in this pass).
        max_tokens: the size of the id space, as ``TextVectorization``'s:
            padding, ``[UNK]``, ``[start]``, ``[end]`` and at most
            ``max_tokens - 4`` words (Show, Attend and Tell: 10 000).

    Returns:
        A list of at most ``max_tokens - 2`` strings.

    Example:
        >>> from keras_segattn.data import caption_vocabulary
        >>> caption_vocabulary(["A dog runs.", "a dog sleeps", "A cat."])
        ['[start]', '[end]', 'a', 'dog', 'sleeps', 'runs', 'cat']
        >>> caption_vocabulary(["A dog runs.", "a dog sleeps", "A cat."], max_tokens=6)
        ['[start]', '[end]', 'a', 'dog']
    """
    where = "caption_vocabulary"
    max_tokens = check_int(where, "max_tokens", max_tokens, minimum=5)
    texts = _check_texts(where, texts)
    # Two ids of the budget are [start] and [end], which never occur in standardised text
    # (the brackets are punctuation), so the adapted layer gets the rest.
    layer = keras.layers.TextVectorization(max_tokens=max_tokens - 2, standardize=STANDARDIZE, split="whitespace")
    layer.adapt(texts)
    words = [str(word) for word in layer.get_vocabulary()[2:]]  # plain str, not np.str_
    if not words:
        shown = texts if isinstance(texts, (list, tuple)) and len(texts) <= 3 else f"{len(texts)} texts without a word"
        raise ValueError(message(where, "texts", "captions holding at least one word", shown))
    return [START_TOKEN, END_TOKEN, *words]


def _check_vocabulary(where, vocabulary):
    expected = (
        f"a list of distinct tokens starting with {START_TOKEN!r}, {END_TOKEN!r} (without '' and "
        f"{_OOV_TOKEN!r}, which are ids 0 and 1), as caption_vocabulary returns"
    )
    if isinstance(vocabulary, (str, bytes)) or not hasattr(vocabulary, "__iter__"):
        raise ValueError(message(where, "vocabulary", expected, vocabulary))
    tokens = list(vocabulary)
    shown = tokens if len(tokens) <= 6 else [*tokens[:4], "...", f"{len(tokens)} tokens"]
    if (
        tokens[:2] != [START_TOKEN, END_TOKEN]
        or not all(isinstance(t, str) for t in tokens)
        or "" in tokens
        or _OOV_TOKEN in tokens
        or len(set(tokens)) != len(tokens)
    ):
        raise ValueError(message(where, "vocabulary", expected, shown))
    return tokens


def caption_vectorizer(vocabulary, *, name: str | None = None):
    """A ``keras.layers.TextVectorization`` mapping captions to ragged word ids with ``vocabulary``.

    The module's standardisation, whitespace split, ``[UNK]`` (1) for words
    outside ``vocabulary``, no ``[start]`` or ``[end]`` added (see
    :func:`encode_captions`). ``vocabulary`` is a list as
    :func:`caption_vocabulary` returns.

    Example:
        >>> from keras_segattn.data import caption_vectorizer
        >>> caption_vectorizer(["[start]", "[end]", "a", "dog"])(["A dog, a CAT."]).to_list()
        [[4, 5, 4, 1]]
    """
    return keras.layers.TextVectorization(
        standardize=STANDARDIZE,
        split="whitespace",
        output_mode="int",
        ragged=True,
        vocabulary=_check_vocabulary("caption_vectorizer", vocabulary),
        name=name,
    )


def _encode(vectorizer, texts, max_length):
    """``(n,)`` strings -> ``(n, max_length + 1)`` int32 ``[start] words [end]`` rows (the module's truncation)."""
    words = vectorizer(texts)[:, : max_length - 1]
    count = words.nrows()
    start = tf.fill([count, 1], tf.cast(START_ID, words.dtype))
    end = tf.fill([count, 1], tf.cast(END_ID, words.dtype))
    rows = tf.concat([start, words, end], axis=1)
    return tf.cast(rows.to_tensor(default_value=PAD_ID, shape=[None, max_length + 1]), tf.int32)


def encode_captions(texts, *, vocabulary, max_length: int):
    """Captions -> int32 ids ``[start] w_1 ... w_n [end]``, 0-padded to ``max_length + 1``.

    Words outside the vocabulary become ``[UNK]`` (1). A caption of more than
    ``max_length - 1`` words keeps its first ``max_length - 1`` and its
    ``[end]``: every row holds exactly one ``[end]`` (3), and ``row[1:]``, the
    model's targets, fits ``max_length`` decoder steps.

    Args:
        texts: a string (-> shape ``(max_length + 1,)``) or a list, array or
            1-D string tensor of ``n`` captions (-> ``(n, max_length + 1)``).
        vocabulary: a token list as :func:`caption_vocabulary` returns, or a
            layer made by :func:`caption_vectorizer` (reused as is).
        max_length: decoder steps, the words plus ``[end]`` (>= 1).

    Returns:
        An int32 ``tf.Tensor``.

    Example:
        >>> from keras_segattn.data import encode_captions
        >>> vocabulary = ["[start]", "[end]", "a", "dog", "on", "grass"]
        >>> encode_captions("A dog, on the grass.", vocabulary=vocabulary, max_length=7).numpy().tolist()
        [2, 4, 5, 6, 1, 7, 3, 0]
        >>> encode_captions(["A dog on the grass"], vocabulary=vocabulary, max_length=3).numpy().tolist()
        [[2, 4, 5, 3]]
    """
    where = "encode_captions"
    max_length = check_positive_int(where, "max_length", max_length)
    if not isinstance(vocabulary, keras.layers.TextVectorization):
        vocabulary = caption_vectorizer(_check_vocabulary(where, vocabulary))
    try:
        texts = tf.convert_to_tensor(texts, tf.string)
    except (TypeError, ValueError):
        raise ValueError(message(where, "texts", "a string or a 1-D list of strings", texts)) from None
    if texts.shape.rank == 0:
        return _encode(vocabulary, texts[None], max_length)[0]
    if texts.shape.rank != 1:
        raise ValueError(message(where, "texts", "a string or a 1-D list of strings", f"shape {tuple(texts.shape)}"))
    return _encode(vocabulary, texts, max_length)


# ---------------------------------------------------------------- pipeline
def _check_image_size(where, image_size):
    size = (image_size, image_size) if is_int(image_size) else image_size
    try:
        height, width = size
    except (TypeError, ValueError):
        height = width = None
    if not (is_int(height) and is_int(width) and height >= 1 and width >= 1):
        raise ValueError(message(where, "image_size", "an int or a (height, width) pair of positive ints", image_size))
    return int(height), int(width)


def _check_examples(where, dataset):
    spec = getattr(dataset, "element_spec", None)
    ok = (
        isinstance(dataset, tf.data.Dataset)
        and isinstance(spec, dict)
        and isinstance(spec.get("image"), tf.TensorSpec)
        and isinstance(spec.get("captions"), dict)
        and isinstance(spec["captions"].get("text"), tf.TensorSpec)
    )
    if not ok:
        expected = "a tf.data.Dataset of coco_captions examples (dicts with 'image' and 'captions': {'text': ...})"
        raise ValueError(message(where, "dataset", expected, spec if spec is not None else dataset))


def captioning_pipeline(
    dataset: tf.data.Dataset,
    *,
    vocabulary,
    image_size=(224, 224),
    max_length: int = 20,
    batch_size: int = 32,
    shuffle: int | None = None,
    seed: int = 0,
    all_captions: bool = False,
) -> tf.data.Dataset:
    """Batches of ``((image, caption), targets)`` for a ``show_attend_tell`` model, from ``coco_captions`` examples.

    - ``image``: float32 ``(B, H, W, 3)``, raw RGB in [0, 255], resized
      bilinearly to ``image_size`` (the aspect ratio is not kept: the model
      takes one size; Show, Attend and Tell used 224 x 224 for VGG);
    - ``caption``: int32 ``(B, max_length + 1)``, ``[start] words [end]``
      0-padded, encoded by :func:`encode_captions` (its truncation rule:
      over-long captions keep ``max_length - 1`` words and their ``[end]``);
    - ``targets``: int32 ``(B, max_length)``, ``caption[:, 1:]``.

    Args:
        dataset: ``coco_captions`` examples, e.g. :func:`coco_captions`'s
            result (dicts with ``image`` and ``captions["text"]``).
        vocabulary: the decoder's tokens (:func:`caption_vocabulary` of the
            training captions); the model's ``vocab_size`` is
            ``len(vocabulary) + 2``.
        image_size: an int or ``(height, width)``.
        max_length: decoder steps ``T``, the words plus ``[end]`` (the
            model's ``max_length``).
        batch_size: examples per batch; the last batch may be smaller.
        shuffle: ``None`` (keep the order) or a shuffle buffer size in
            examples, reshuffled every epoch from ``seed``. Shuffling happens
            after ``all_captions`` expands an image, so its captions spread
            over batches; each example holds a resized float image, so a
            buffer of ``n`` examples takes ``n * H * W * 12`` bytes.
        seed: the shuffling seed.
        all_captions: ``False``: one example per image, its first caption
            (evaluation: compare the decoded caption with every reference of
            the raw example). ``True``: one example per caption (training, as
            the paper: about five per image, the image repeated).

    Returns:
        A batched, prefetched ``tf.data.Dataset``; images without any caption
        yield nothing.

    Example (needs the prepared dataset or ``tfds.testing.mock_data``):
        >>> import tensorflow_datasets as tfds
        >>> from keras_segattn.data import caption_vocabulary, captioning_pipeline, coco_captions
        >>> with tfds.testing.mock_data(num_examples=4):
        ...     train = coco_captions("train")
        ...     vocabulary = caption_vocabulary(train.map(lambda ex: ex["captions"]["text"]))
        ...     batches = captioning_pipeline(train, vocabulary=vocabulary, image_size=64, max_length=6,
        ...                                   batch_size=2)
        ...     (images, captions), targets = next(iter(batches))
        >>> tuple(images.shape), tuple(captions.shape), tuple(targets.shape)
        ((2, 64, 64, 3), (2, 7), (2, 6))

    Training on COCO with the paper's settings (needs the prepared dataset)::

        import keras_segattn as ksa
        from keras_segattn.data import caption_vocabulary, captioning_pipeline, coco_captions

        train = coco_captions("train+restval")
        vocabulary = caption_vocabulary(train.map(lambda ex: ex["captions"]["text"]))
        batches = captioning_pipeline(train, vocabulary=vocabulary, all_captions=True, shuffle=2048)
        model = ksa.build_model("show_attend_tell", vocab_size=len(vocabulary) + 2, max_length=20)
    """
    where = "captioning_pipeline"
    _check_examples(where, dataset)
    height, width = _check_image_size(where, image_size)
    max_length = check_positive_int(where, "max_length", max_length)
    batch_size = check_positive_int(where, "batch_size", batch_size)
    shuffle = check_optional_int(where, "shuffle", shuffle, minimum=1)
    seed = check_int(where, "seed", seed, minimum=0)
    all_captions = check_bool(where, "all_captions", all_captions)
    vectorizer = caption_vectorizer(_check_vocabulary(where, vocabulary))

    def expand(example):
        image = tf.image.resize(tf.cast(example["image"], tf.float32), (height, width), "bilinear")
        texts = example["captions"]["text"]
        if not all_captions:
            texts = texts[:1]
        captions = _encode(vectorizer, texts, max_length)
        # One (image, caption) row per caption; unbatch() below makes them examples.
        images = tf.broadcast_to(image[None], [tf.shape(captions)[0], height, width, 3])
        return images, captions

    ds = dataset.map(expand, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda images, captions: ((images, captions), captions[:, 1:]))
    return ds.prefetch(tf.data.AUTOTUNE)
