"""Show, Attend and Tell on the embedded shape captions: soft vs hard vs no attention, same budget.

Trains ``show_attend_tell_tiny`` variants from the same seed on the same
generated boards for the same number of steps (one CPU budget), then
decodes held-out boards greedily and reports BLEU-1..4 (sacrebleu, 0-100),
exact match and the attention localisation score per word type (the
attention mass inside the named object's box; chance = the box's share of the
image). Writes tools/results/captioning_experiment.json, the per-word
attention figure tools/results/captioning_attention.png and prints a Markdown
table.

    PYTHONPATH=. python tools/captioning_experiment.py                    # all variants
    PYTHONPATH=. python tools/captioning_experiment.py --variants soft none --steps 600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tools._common import parse_override, write_result  # noqa: E402

#: name -> build_model overrides of show_attend_tell_tiny.
VARIANTS = {
    "soft": {"attention": "soft", "doubly_stochastic": 1.0},
    "soft_lambda0": {"attention": "soft", "doubly_stochastic": 0.0},
    "hard": {"attention": "hard", "doubly_stochastic": 1.0},
    "hard_lambda0": {"attention": "hard", "doubly_stochastic": 0.0},
    # Until this variant, hard attention drew the expected context per caption; the default is now per batch.
    "hard_per_caption": {"attention": "hard", "doubly_stochastic": 1.0, "expected_context_unit": "caption"},
    # REINFORCE credits each location with the log-likelihood of the words from it on (reward-to-go).
    "hard_to_go": {"attention": "hard", "doubly_stochastic": 1.0, "reward": "to_go"},
    "none": {"attention": "none"},
}


def run(variant, args, train, test):
    import tensorflow as tf

    import keras_segattn as ksa
    from keras_segattn.tasks import get_task
    from keras_segattn.training import TimeLimit
    from keras_segattn.training.recipes import warmup_cosine

    task = get_task("captioning")
    keras.utils.set_random_seed(args.seed)
    overrides = {**dict(args.set), **VARIANTS[variant]}
    model = ksa.build_model("show_attend_tell_tiny", seed=args.seed, **overrides)
    task.compile(model, learning_rate=warmup_cosine(args.learning_rate, args.steps), jit_compile=True)
    (images, captions), targets = train
    ds = tf.data.Dataset.from_tensor_slices(((images, captions), targets))  # uint8 images: 4x less memory
    ds = ds.repeat().shuffle(10_000, seed=args.seed).batch(args.batch_size, drop_remainder=True)
    ds = ds.map(lambda x, y: ((tf.cast(x[0], tf.float32), x[1]), y)).prefetch(2)
    limit = TimeLimit(args.time_limit)
    start = time.perf_counter()
    history = model.fit(ds, steps_per_epoch=args.steps // 10, epochs=10, callbacks=[limit], verbose=2)
    seconds = time.perf_counter() - start
    report = task.evaluate(model, examples=args.test_examples, seed=args.seed)
    report.update(
        variant=variant,
        overrides=VARIANTS[variant],
        steps=int(limit.model.optimizer.iterations.numpy()),
        train_seconds=round(seconds, 1),
        stopped_by_time_limit=limit.stopped_early,
        final_loss=float(history.history["loss"][-1]),
        final_token_accuracy=float(history.history["logits_token_accuracy"][-1]),
    )
    return model, report


def figure(models, args, path):
    from keras_segattn.data.shape_captions import shape_captions_arrays
    from keras_segattn.models.show_attend_tell import Captioner
    from keras_segattn.visualize import plot_caption_attention

    data = shape_captions_arrays("test", args.figure_images, seed=args.seed + 1)
    images, tokens, maps = [], [], []
    for model in models.values():
        for caption, image in zip(Captioner(model).caption(data["images"]), data["images"]):
            images.append(image)
            tokens.append(caption.tokens)
            maps.append(caption.attention)
    plot_caption_attention(np.stack(images), tokens, maps, path,
                           title="rows: " + ", ".join(f"{v} x{args.figure_images}" for v in models))
    return path


def table(reports):
    lines = [
        "| variant | steps | train s | BLEU-1 | BLEU-4 | exact | colour-word loc. (chance) | shape-word loc. (chance) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    def cell(loc, kind):
        if kind not in loc:
            return "-"
        return f"{loc[kind]['score']:.2f} ({loc[kind]['chance']:.2f})"

    for r in reports:
        loc = r["localisation"]
        lines.append(
            f"| {r['variant']} | {r['steps']} | {r['train_seconds']:.0f} | {r['bleu1']:.1f} | {r['bleu4']:.1f} | "
            f"{r['exact_match']:.2f} | {cell(loc, 'colour')} | {cell(loc, 'shape')} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--train-examples", type=int, default=30000)
    parser.add_argument("--test-examples", type=int, default=500)
    parser.add_argument("--time-limit", type=float, default=900, help="seconds per variant (safety stop)")
    parser.add_argument("--figure-images", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], type=parse_override, metavar="KEY=VALUE",
                        help="build_model overrides for every variant, e.g. feature_endpoint=conv3")
    parser.add_argument("--output", default="captioning_experiment")
    args = parser.parse_args()

    from keras_segattn.data.shape_captions import shape_captions_arrays

    data = shape_captions_arrays("train", args.train_examples, seed=args.seed)
    train = ((data["images"], data["captions"]), data["captions"][:, 1:])
    reports, models = [], {}
    for variant in args.variants:
        model, report = run(variant, args, train, None)
        print(json.dumps({k: v for k, v in report.items() if k != "localisation"}), flush=True)
        print(json.dumps(report["localisation"]), flush=True)
        reports.append(report)
        if variant.startswith(("soft", "hard")):
            models[variant] = model
    png = os.path.join(os.path.dirname(__file__), "results", f"{args.output.replace('experiment', 'attention')}.png")
    if models:
        figure(models, args, png)
    path = write_result(args.output, {"args": vars(args), "results": reports, "figure": os.path.basename(png)})
    print(table(reports))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
