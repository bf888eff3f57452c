"""The ``captioning`` task: an image and a caption in, next-word logits and attention out."""

from __future__ import annotations

import numpy as np

from keras_segattn.tasks import Translation, register_task

__all__ = ["Captioning"]


class Captioning(Translation):
    """Image captioning with attention (Show, Attend and Tell).

    The model is the teacher-forced training graph: ``[image (B, H, W, 3),
    caption (B, T + 1)]`` -> ``[logits (B, T, V), attention (B, T, L)]``.
    Embedded data: the generated shape captions
    (:mod:`keras_segattn.data.shape_captions`; the board is ``4 x 4`` cells
    of the model's image size). Recipe: the translator's (Adam with gradient
    clipping, word cross-entropy ignoring padding, token accuracy); the
    decoder adds its doubly stochastic penalty and, for hard attention, the
    REINFORCE surrogate. Export gate: argmax-word agreement and the drops of
    word accuracy and exact match. Evaluation decodes captions (greedy or
    beam search): BLEU-1..4 (0-100) and attention localisation per word type.

    The loss, compile recipe and export gate are the translator's (inherited:
    the same next-token logits and attention outputs); data, quick training,
    evaluation, plot and ``predict`` are captioning's own.
    """

    name = "captioning"
    gate_metric = "exact_match"
    description = "[image (B, H, W, 3), caption ids (B, T+1)] -> next-word logits (B, T, V) and attention (B, T, L)"

    GRID = 4  # the embedded boards' columns (and rows)

    def _board(self, model):
        from keras_segattn.data.shape_captions import VOCABULARY, caption_length

        image = model.inputs[0].shape
        steps = int(model.inputs[1].shape[-1]) - 1
        vocab = int(model.get_layer("word_embedding").input_dim)
        size = image[1]
        problems = []
        if size is None or size != image[2] or size % self.GRID or size // self.GRID < 8:
            problems.append(f"square images whose side is a multiple of {self.GRID} and >= {8 * self.GRID} "
                            f"(has {tuple(image[1:])})")
        if steps < caption_length(self.GRID) + 1:
            problems.append(f"max_length >= {caption_length(self.GRID) + 1} (has {steps})")
        if vocab < len(VOCABULARY) + 2:
            problems.append(f"vocab_size >= {len(VOCABULARY) + 2} (has {vocab})")
        if problems:
            raise ValueError(
                f"default data: model {model.name!r} does not fit the embedded shape captions: it needs "
                + "; ".join(problems) + ". Build it with those sizes or pass data explicitly."
            )
        return {"grid": self.GRID, "cell": size // self.GRID, "max_length": steps}

    def arrays(self, model, split="test", count=32, seed=0) -> dict:
        """The embedded shape captions at ``model``'s sizes (images, captions, boxes, words)."""
        from keras_segattn.data.shape_captions import shape_captions_arrays

        return shape_captions_arrays(split, count, seed=seed, **self._board(model))

    def data(self, model, split="test", count=32, seed=0):
        data = self.arrays(model, split, count, seed)
        return [data["images"].astype(np.float32), data["captions"]], data["captions"][:, 1:]

    def quick_fit(self, model, seed=0):
        return super().quick_fit(model, seed, examples=256, batch_size=32, learning_rate=3e-3)

    def evaluate(self, model, *, examples=500, seed=0, beam_width=None, **options):
        """Decode ``examples`` held-out boards: BLEU-1..4 (0-100), exact match (0-1) and attention localisation."""
        from keras_segattn.data.shape_captions import VOCABULARY, WORD_TYPES
        from keras_segattn.models.show_attend_tell.captioner import Captioner
        from keras_segattn.training.captioning import attention_localisation, bleu_scores
        from keras_segattn.training.translation import exact_match

        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"captioning evaluation: unsupported option(s) {unknown} for this task.")
        data = self.arrays(model, "test", examples, seed)
        captioner = Captioner(model)
        decoded = captioner.decode(data["images"], beam_width=beam_width or 1)
        hypotheses = [
            " ".join(captioner.tokens[t] for t in tokens[:length] if t != 3)
            for tokens, length in zip(decoded["tokens"], decoded["length"])
        ]
        references = [" ".join(words) for words in data["words"]]
        ids = {word: index + 2 for index, word in enumerate(VOCABULARY)}
        decoder = model.get_layer("decoder")
        report = bleu_scores(hypotheses, references)
        report["exact_match"] = exact_match(hypotheses, references)
        report["localisation"] = attention_localisation(
            decoded["alignment"], decoded["tokens"], data["captions"][:, 1:], data["boxes"],
            {ids[w]: t for w, t in WORD_TYPES.items()}, grid=captioner.grid,
            image_size=captioner.image_shape[:2],
            hard=decoder.attention_name == "hard" and decoder.hard_inference == "argmax",
        )
        report["examples"] = len(references)
        return report

    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        """``inputs``: images ``(N, H, W, 3)``; ``outputs``: their :class:`Caption` results."""
        from keras_segattn.visualize import plot_caption_attention

        images = np.asarray(inputs)
        captions = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return plot_caption_attention(
            images[: len(captions)], [c.tokens for c in captions], [c.attention for c in captions], path, title=title
        )

    def predict_file(self, model, source, output):
        """``source`` is an image file; prints its caption and saves the per-word attention figure."""
        from keras_segattn.models.show_attend_tell.captioner import Captioner
        from keras_segattn.tasks.segmentation import read_image

        captioner = Captioner(model)
        image = read_image(source, captioner.image_shape[:2])
        caption = captioner.caption(image[None])[0]
        self.plot(model, image[None], [caption], output)
        return {"output": output, "caption": caption.text, "tokens": caption.tokens, "score": caption.score}


register_task(Captioning)
