"""DRAW with and without attention, DCGAN, on the embedded binarised digits (the DRAW and DCGAN papers' comparisons).

For each seed it trains, with the same data, batch size, number of steps and
learning-rate schedule:

- ``draw`` (Gaussian read/write attention) and ``draw_no_attention`` (whole
  images read and written) at the sizes below (``--set`` changes them), and
  reports the negative variational bound on held-out digits (nats per 28x28
  image; DRAW's table 2 reports 80.97 with attention and 87.40 without on
  binarised MNIST -- our digits are scikit-learn's 8x8 digits drawn
  MNIST-style, so only the direction compares);
- ``dcgan_tiny`` (no likelihood: a GAN defines none), and scores samples of
  all three with a digit classifier trained on the real digits: its mean
  confidence (max softmax) and the share of the 10 classes it sees
  (the classifier's view of quality and diversity; real test digits give
  the reference row).

Figures: tools/results/draw_canvases.png (DRAW reconstructing test digits
and drawing from the prior, the canvas after every step with the read box
in green and the write box in red) and tools/results/draw_samples.png (DRAW,
DRAW without attention and DCGAN samples side by side, with real digits).
Writes tools/results/draw_experiment.json and prints Markdown tables.

    PYTHONPATH=. .venv/bin/python tools/draw_experiment.py                    # ~75 min on 2 cores
    PYTHONPATH=. .venv/bin/python tools/draw_experiment.py --steps 300 --seeds 0 --output draw_quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tools._common import parse_override, write_result  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
#: the DRAW variants: registered name and overrides (16 glimpses of the paper's 2x2 read / 5x5 write
#: with 128-unit LSTMs: the paper's 64 steps of 256 units do not fit a CPU budget)
DRAW_SIZES = dict(steps=16, read_size=2, write_size=5, encoder_units=128, decoder_units=128, latent_size=20)
VARIANTS = {
    "draw": ("draw_tiny", {}),
    "draw_no_attention": ("draw_no_attention_tiny", {}),
    # wider glimpses than the paper's MNIST 2x2 / 5x5: more of the image per step at 16 steps
    "draw_wide_glimpses": ("draw_tiny", {"read_size": 5, "write_size": 9}),
}
PAPER = {"draw": 80.97, "draw_no_attention": 87.40, "draw_wide_glimpses": 80.97}


def binarized(split, count, seed):
    from keras_segattn.data.binarized_digits import binarized_digits_arrays

    return binarized_digits_arrays(split, count, seed=seed)


def train_draw(name, overrides, seed, args, train):
    import keras
    import tensorflow as tf

    from keras_segattn import build_model
    from keras_segattn.tasks import get_task

    keras.utils.set_random_seed(seed)
    model = build_model(name, **{**DRAW_SIZES, **args.sizes, **overrides, "seed": seed})
    task = get_task("image_generation")
    task.compile(model, learning_rate=args.learning_rate, total_steps=args.steps, jit_compile=True)
    ds = tf.data.Dataset.from_tensor_slices((train, train)).shuffle(len(train), seed=seed).repeat()
    start = time.perf_counter()
    model.fit(ds.batch(args.batch_size), steps_per_epoch=args.steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    metrics = task.evaluate(model, examples=args.test_examples, seed=0, samples=args.bound_samples)
    return model, {"train_seconds": seconds, "parameters": int(model.count_params()), **metrics}


def train_gan(seed, args, train):
    import keras
    import tensorflow as tf

    from keras_segattn import build_model
    from keras_segattn.tasks import get_task

    keras.utils.set_random_seed(seed)
    model = build_model("dcgan_tiny")
    task = get_task("adversarial_generation")
    task.compile(model, jit_compile=True)
    latent = model.inputs[0].shape[1]
    ds = tf.data.Dataset.from_tensor_slices(train).shuffle(len(train), seed=seed).repeat().batch(args.batch_size)
    ds = ds.map(lambda real: (tf.random.normal((tf.shape(real)[0], latent), seed=seed), real))
    start = time.perf_counter()
    history = model.fit(ds, steps_per_epoch=args.gan_steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    return model, {"train_seconds": seconds, "parameters": int(model.count_params()),
                   "final_d_loss": float(history.history["d_loss"][-1]),
                   "final_g_loss": float(history.history["g_loss"][-1]),
                   **task.evaluate(model, examples=args.test_examples, seed=0)}


def train_scorer(args):
    """digits_cnn_tiny at 28x28 on the real binarised digits: the judge of samples."""
    from keras_segattn.training.classification import train_on_distorted_digits

    x, y = binarized("train", 20000, 100)
    xt, yt = binarized("test", 2000, 101)
    result = train_on_distorted_digits("digits_cnn_tiny", epochs=4, batch_size=64, learning_rate=2e-3, seed=0,
                                       data=((x * 255.0, y), (xt * 255.0, yt)), input_shape=(28, 28, 1))
    return result.pop("model"), result


def score(scorer, images):
    logits = scorer.predict(np.asarray(images, np.float32) * 255.0, batch_size=256, verbose=0)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    counts = np.bincount(p.argmax(-1), minlength=10) / len(p)
    return {"confidence": float(p.max(-1).mean()), "classes_seen": int((counts >= 0.02).sum()),
            "class_entropy_bits": float(-(counts[counts > 0] * np.log2(counts[counts > 0])).sum())}


def summary(values):
    return {"values": values, "mean": statistics.mean(values),
            "half_range": (max(values) - min(values)) / 2 if len(values) > 1 else 0.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=3000, help="DRAW training steps")
    parser.add_argument("--gan-steps", type=int, default=3000, help="DCGAN training steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--train-examples", type=int, default=20000)
    parser.add_argument("--test-examples", type=int, default=1000)
    parser.add_argument("--bound-samples", type=int, default=2, help="posterior draws averaged per test image")
    parser.add_argument("--samples", type=int, default=500, help="generated images scored per model")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS) + ["dcgan"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a DRAW size override")
    parser.add_argument("--output", default="draw_experiment")
    parser.add_argument("--no-figures", action="store_true", help="leave the figures of an earlier run in place")
    args = parser.parse_args(argv)
    args.sizes = dict(parse_override(s) for s in args.set)

    from keras_segattn.models.draw import draw_trace, generate
    from keras_segattn.visualize import plot_canvas_sequence, plot_image_grids

    train, _ = binarized("train", args.train_examples, 0)
    test, _ = binarized("test", 16, 0)
    scorer, scorer_report = train_scorer(args)
    real = binarized("test", args.samples, 5)[0]
    rows = {"real test digits": score(scorer, real)}
    print(f"scorer: digits_cnn_tiny test error {scorer_report['test_error']:.2f}%", flush=True)
    runs, grids, kept = [], {"real digits": real[:32]}, {}
    for seed in args.seeds:
        for variant in args.variants:
            if variant == "dcgan":
                model, report = train_gan(seed, args, train)
                samples = model.predict(np.random.default_rng(seed).standard_normal(
                    (args.samples, model.inputs[0].shape[1])).astype(np.float32), verbose=0)
            else:
                name, overrides = VARIANTS[variant]
                model, report = train_draw(name, overrides, seed, args, train)
                samples = generate(model, args.samples, seed=seed)["images"]
            report.update(score(scorer, samples))
            runs.append({"variant": variant, "seed": seed, **report})
            print(f"  seed {seed} {variant:<18} " + ", ".join(
                f"{k} {v:.3f}" for k, v in report.items() if isinstance(v, float)), flush=True)
            if seed == args.seeds[0]:
                grids[variant] = samples[:32]
                kept[variant] = model
    table = {}
    for variant in args.variants:
        mine = [r for r in runs if r["variant"] == variant]
        keys = ["nll_bound", "reconstruction", "kl", "confidence", "classes_seen", "train_seconds"]
        table[variant] = {k: summary([r[k] for r in mine]) for k in keys if k in mine[0]}

    os.makedirs(RESULTS, exist_ok=True)
    figures = {}
    if "draw" in kept and not args.no_figures:
        trace = draw_trace(kept["draw"], test[:4])
        prior = generate(kept["draw"], 2, seed=0)
        canvases = np.concatenate([trace["canvases"], prior["canvases"]])
        write = np.concatenate([trace["write_boxes"], prior["write_boxes"]])
        read = np.concatenate([trace["read_boxes"], np.full_like(prior["write_boxes"], np.nan)])
        figures["canvases"] = plot_canvas_sequence(
            canvases, os.path.join(RESULTS, "draw_canvases.png"), boxes=write, read_boxes=read,
            row_titles=["test digit"] * 4 + ["prior sample"] * 2,
            title="DRAW: the canvas after every step (read box green, write box red)")
    names = {"real digits": "real test digits", "draw": "DRAW (attention)", "draw_no_attention": "DRAW, no attention",
             "draw_wide_glimpses": "DRAW (5x5 read, 9x9 write)", "dcgan": "DCGAN"}
    if not args.no_figures:
        figures["samples"] = plot_image_grids({names[k]: v for k, v in grids.items()},
                                              os.path.join(RESULTS, "draw_samples.png"), columns=8)
    settings = {k: v for k, v in vars(args).items()}
    path = write_result(args.output, {"settings": settings, "draw_sizes": {**DRAW_SIZES, **args.sizes},
                                      "paper_nll": PAPER, "scorer": scorer_report, "real": rows,
                                      "runs": runs, "table": table, "figures": figures})
    print(markdown(table, rows, args))
    print("wrote", path)


def markdown(table, rows, args):
    def cell(entry, fmt="{:.1f}"):
        return "–" if entry is None else (fmt.format(entry["mean"]) + (
            f" ± {fmt.format(entry['half_range'])}" if len(entry["values"]) > 1 else ""))

    lines = ["| model | NLL bound (nats / image) | paper (MNIST) | classifier confidence | classes seen | train s |",
             "|---|---|---|---|---|---|"]
    for variant, entry in table.items():
        lines.append(f"| {variant} | {cell(entry.get('nll_bound'))} | {PAPER.get(variant, 'no likelihood')} | "
                     f"{cell(entry.get('confidence'), '{:.3f}')} | {cell(entry.get('classes_seen'), '{:.1f}')} | "
                     f"{cell(entry.get('train_seconds'), '{:.0f}')} |")
    real = rows["real test digits"]
    lines.append(f"| real test digits | – | – | {real['confidence']:.3f} | {real['classes_seen']} | – |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
