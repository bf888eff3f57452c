"""Translation: a packed sentence pair of token ids in, next-token logits and the alignment out."""

from __future__ import annotations

from keras_segattn.tasks.base import Task

__all__ = ["Translation"]


class Translation(Task):
    """Sequence-to-sequence translation with attention (RNNsearch).

    The model is the teacher-forced training graph: ``tokens (B, 2, L)``
    (source row, decoder-input row) -> ``[logits (B, L, V), alignment (B, L, L)]``.
    Embedded data: the generated Spanish -> English corpus
    (``keras_segattn.data.translation``). Recipe: Adam with gradient clipping,
    token cross-entropy ignoring padding, token accuracy. Export gate:
    argmax-token agreement and the drops of token accuracy and exact match.
    Evaluation and ``predict`` decode raw strings with a
    :class:`~keras_segattn.models.bahdanau_nmt.Translator`.
    """

    name = "translation"
    predict_input = "text"
    predict_input_help = "a sentence"
    gate_metric = "exact_match"
    description = "packed token ids (B, 2, L) -> next-token logits (B, L, V) and alignment (B, L, L)"

    def data(self, model, split="test", count=32, seed=0):
        from keras_segattn.data.translation import spanish_english_arrays, translation_vocabulary

        max_length = int(model.inputs[0].shape[-1])
        source, target = translation_vocabulary()
        for side, layer, needed in (
            ("source", "source_embedding", len(source) + 2),
            ("target", "target_embedding", len(target) + 2),
        ):
            size = model.get_layer(layer).input_dim
            if size < needed:
                raise ValueError(
                    f"default data: model {model.name!r} has a {side} vocabulary of {size} ids but the embedded "
                    f"Spanish -> English corpus needs {needed}; build it with {side}_vocab_size >= {needed} "
                    "or pass parity_data explicitly."
                )
        inputs, labels, _ = spanish_english_arrays(split, count, max_length=max_length, seed=seed)
        return [inputs], labels

    def loss(self):
        from keras_segattn.training.translation import translation_loss

        loss = translation_loss()

        # The model returns [logits, alignment]; only the logits carry a loss.
        def logits_loss(y_true, outputs):
            return loss(y_true, outputs[0] if isinstance(outputs, (list, tuple)) else outputs)

        return logits_loss

    def compile(self, model, *, learning_rate=2e-3, total_steps=None, jit_compile="auto"):
        from keras_segattn.training.recipes import warmup_cosine
        from keras_segattn.training.translation import compile_translation

        schedule = warmup_cosine(learning_rate, total_steps) if total_steps else learning_rate
        return compile_translation(model, learning_rate=schedule, jit_compile=jit_compile)

    def gate(self, reference, actual, labels=None, *, min_agreement=None, max_metric_drop=None):
        from keras_segattn.export.parity import compare_translation

        return compare_translation(
            reference, actual, labels=labels, min_agreement=min_agreement, max_metric_drop=max_metric_drop
        )

    def evaluate(self, model, *, examples=500, seed=0, beam_width=None, **options):
        """Greedy (or beam) decoding of ``examples`` held-out sentences: BLEU (0-100) and exact match (0-1)."""
        from keras_segattn.data.translation import spanish_english_pairs
        from keras_segattn.models.bahdanau_nmt import Translator
        from keras_segattn.training.translation import evaluate_translator

        unknown = sorted(k for k, v in options.items() if v is not None)
        if unknown:
            raise ValueError(f"translation evaluation: unsupported option(s) {unknown} for this task.")
        pairs = spanish_english_pairs("test", examples, seed=seed, max_length=int(model.inputs[0].shape[-1]))
        report = evaluate_translator(Translator(model), pairs, beam_width=beam_width or 1)
        report.pop("hypotheses")
        return report

    def plot(self, model, inputs, outputs, path, *, labels=None, title=None):
        """``inputs``: a :class:`Translation` result (or a list of them); draws their alignments."""
        from keras_segattn.visualize import plot_alignment

        results = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        return plot_alignment(
            [r.alignment for r in results],
            [r.source_tokens for r in results],
            [r.tokens for r in results],
            path,
            title=title or [r.text for r in results],
        )

    def predict_file(self, model, source, output):
        """``source`` is a sentence; prints its translation and saves the alignment picture."""
        from keras_segattn.models.bahdanau_nmt import Translator

        result = Translator(model).translate([source])[0]
        self.plot(model, result, None, output)
        return {
            "output": output,
            "translation": result.text,
            "tokens": result.tokens,
            "source_tokens": result.source_tokens,
            "alignment": [[round(float(v), 3) for v in row] for row in result.alignment],
            "unknown": result.unknown,
        }
