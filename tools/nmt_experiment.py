"""Train bahdanau_nmt_tiny on the embedded Spanish -> English corpus; report held-out BLEU and exact match.

Greedy and beam search on held-out test pairs (never seen in training: the
splits are disjoint by source sentence), per kind (numbers, dates,
sentences), plus the fraction of held-out monotone pairs whose argmax
alignment is monotone. Writes tools/results/nmt_experiment.json, an alignment
picture (tools/results/nmt_alignment.png), optionally the trained translator,
and prints a Markdown table.

    PYTHONPATH=. python tools/nmt_experiment.py                 # defaults below
    PYTHONPATH=. python tools/nmt_experiment.py --save saved_models/nmt_tiny
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tools._common import write_result  # noqa: E402

EXAMPLES = [
    "mi gato es el mejor",
    "el doce de mayo de dos mil veintiuno",
    "mis dos perros negros no están en la casa",
]


def monotone_fraction(translations):
    """Fraction of translations whose argmax alignment (output tokens before [end]) never moves left."""
    ok = []
    for t in translations:
        rows = t.alignment[: len(t.tokens) - (1 if t.tokens and t.tokens[-1] == "[end]" else 0)]
        if len(rows) == 0:
            continue
        argmax = rows.argmax(-1)
        ok.append(bool(np.all(np.diff(argmax) >= 0)))
    return float(np.mean(ok)) if ok else 0.0


def train(args):
    import keras_segattn as ksa
    from keras_segattn.data.translation import spanish_english_arrays
    from keras_segattn.training import TimeLimit
    from keras_segattn.training.recipes import warmup_cosine
    from keras_segattn.training.translation import compile_translation

    keras.utils.set_random_seed(args.seed)
    model = ksa.build_model("bahdanau_nmt_tiny")
    x, y, _ = spanish_english_arrays("train", args.train_examples, seed=args.seed)
    xv, yv, _ = spanish_english_arrays("validation", 1000, seed=args.seed)
    steps = args.epochs * math.ceil(len(x) / args.batch_size)
    compile_translation(model, learning_rate=warmup_cosine(args.learning_rate, steps), jit_compile=False)
    limit = TimeLimit(args.time_limit)
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(xv, yv),
        callbacks=[limit],
        verbose=2 if args.verbose else 0,
    )
    seconds = time.perf_counter() - start
    return model, {
        "train_examples": len(x),
        "epochs_run": len(history.history["loss"]),
        "steps_planned": steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seconds": round(seconds, 1),
        "stopped_by_time_limit": limit.stopped_early,
        "final_loss": float(history.history["loss"][-1]),
        "val_token_accuracy": float(history.history["val_logits_token_accuracy"][-1]),
    }


def evaluate(model, args):
    from keras_segattn.data.translation import KINDS, is_monotone, kind_of, spanish_english_pairs
    from keras_segattn.models.bahdanau_nmt import Translator
    from keras_segattn.training.translation import corpus_bleu, exact_match

    translator = Translator(model)
    pairs = spanish_english_pairs("test", args.test_examples, seed=args.seed)
    references = [p[1] for p in pairs]
    kinds = [kind_of(*p) for p in pairs]
    rows = {}
    for label, beam, penalty in (("greedy", 1, 0.0), (f"beam {args.beam_width}", args.beam_width, args.length_penalty)):
        start = time.perf_counter()
        out = translator.translate([p[0] for p in pairs], beam_width=beam, length_penalty=penalty)
        seconds = time.perf_counter() - start
        hypotheses = [t.text for t in out]
        row = {
            "beam_width": beam,
            "length_penalty": penalty,
            "bleu": corpus_bleu(hypotheses, references),
            "exact_match": exact_match(hypotheses, references),
            "seconds": round(seconds, 2),
        }
        for kind in KINDS:
            idx = [i for i, k in enumerate(kinds) if k == kind]
            row[f"exact_match_{kind}"] = exact_match([hypotheses[i] for i in idx], [references[i] for i in idx])
        monotone = [t for t, p in zip(out, pairs) if is_monotone(*p)]
        row["monotone_pairs"] = len(monotone)
        row["monotone_alignment"] = monotone_fraction(monotone)
        row["errors"] = [
            {"source": p[0], "reference": p[1], "output": h} for p, h in zip(pairs, hypotheses) if h != p[1]
        ][:20]
        rows[label] = row
    return translator, rows


def picture(translator, path):
    from keras_segattn.visualize import plot_alignment

    results = translator.translate(EXAMPLES, beam_width=3)
    plot_alignment(
        [r.alignment for r in results],
        [r.source_tokens for r in results],
        [r.tokens for r in results],
        path,
        title=[f"{r.source} -> {r.text}" for r in results],
    )
    return [{"source": r.source, "output": r.text} for r in results]


def summarize_export(manifest, directory, seconds):
    """Sizes and parity numbers of an exported translator, for the results file."""
    out = {"directory": directory, "seconds": round(seconds, 1), "decoding": manifest["decoding"], "formats": {}}
    for fmt, report in manifest["parity"].items():
        entry = {"passed": report["passed"]}
        if fmt == "savedmodel":
            entry.update(
                identical_translations=f"{report['identical_translations']}/{report['sentences']}",
                decode_loop_identical=f"{report['decode_loop']['identical_sentences']}/{report['decode_loop']['sentences']}",
            )
        else:
            for piece in ("encoder", "decoder_step"):
                entry[f"{piece}_max_relative_error"] = max(o["relative_error"] for o in report[piece]["outputs"].values())
                path = os.path.join(directory, manifest["files"][fmt][piece])
                entry[f"{piece}_bytes"] = os.path.getsize(path)
            entry["decode_loop_identical"] = {
                k: f"{v['identical_sentences']}/{v['sentences']}" for k, v in report["decode_loop"].items()
            }
            entry["decode_loop_alignment_max_abs_error"] = max(
                v["alignment_max_abs_error"] for v in report["decode_loop"].values()
            )
        out["formats"][fmt] = entry
    return out


def table(payload):
    lines = [
        "| decoding | exact match | BLEU (0-100) | numbers | dates | sentences | monotone alignment | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, row in payload["results"].items():
        lines.append(
            f"| {label} | {100 * row['exact_match']:.1f}% | {row['bleu']:.2f} | "
            f"{100 * row['exact_match_numbers']:.1f}% | {100 * row['exact_match_dates']:.1f}% | "
            f"{100 * row['exact_match_sentences']:.1f}% | {100 * row['monotone_alignment']:.1f}% "
            f"of {row['monotone_pairs']} | {row['seconds']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-examples", type=int, default=48000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--time-limit", type=float, default=600, help="training wall-time budget (seconds)")
    parser.add_argument("--test-examples", type=int, default=3000)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="directory for the trained Translator (model.keras + vocabularies)")
    parser.add_argument(
        "--export", default=None, help="also export the trained translator there (SavedModel, TFLite, ONNX; parity-checked)"
    )
    parser.add_argument("--picture", default=os.path.join("tools", "results", "nmt_alignment.png"))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    model, training = train(args)
    translator, results = evaluate(model, args)
    examples = picture(translator, args.picture)
    if args.save:
        translator.save(args.save)
    exported = None
    if args.export:
        from keras_segattn.export.seq2seq import export_translator

        start = time.perf_counter()
        # A rerun replaces its own earlier export (never anything else: see export_translator).
        manifest = export_translator(
            translator, args.export, beam_width=args.beam_width, length_penalty=args.length_penalty, overwrite=True
        )
        exported = summarize_export(manifest, args.export, time.perf_counter() - start)
    payload = {
        "model": "bahdanau_nmt_tiny",
        "parameters": int(model.count_params()),
        "command": "PYTHONPATH=. python tools/nmt_experiment.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": {
            "corpus": "embedded Spanish -> English (numbers, dates, sentences; 1/3 each)",
            "test_examples": args.test_examples,
            "seed": args.seed,
        },
        "training": training,
        "results": results,
        "examples": examples,
        "picture": args.picture,
        "export": exported,
    }
    path = write_result("nmt_experiment", payload)
    print(table(payload))
    print(f"\ntraining: {training}\nexamples: {examples}\nexport: {exported}\nwrote {path} and {args.picture}")
    return payload


if __name__ == "__main__":
    main()
