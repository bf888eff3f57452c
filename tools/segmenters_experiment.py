"""Classic segmenters vs FCN-8s and DeconvNet on the embedded shapes data, and the
dense / sliding-window speed ratio of the patch classifier.

1. Speed: ``patch_classifier_tiny`` labels the same image (a) the naive way,
   classifying the patch around every pixel (batched, :func:`sliding_window_predict`)
   and (b) densely with the same weights (dilated pools and convolutions, one
   forward pass); both in the same process, medians of ``--repeats`` runs after
   a warm-up; the two label maps are checked to agree.
2. Learning: the five semantic segmentation models trained with the library's
   recipe (:func:`keras_segattn.training.train_segmentation`: the
   SemanticSegmentation task's compile, AdamW, warm-up + cosine, flips/turns,
   the same seeded batch stream), the same budget (train images x epochs,
   batch size, learning rate), evaluated on the same held-out images.
   ``recurrent_cnn_tiny`` is trained twice: with the recipe (loss on the last
   iteration) and with deep supervision (a loss on every iteration, the paper's
   recipe, :func:`compile_deep_supervision`) on the same stream and schedule.

   The registered classic tiny variants (1.6k-4.0k parameters, sized for the
   test suite) learnt nothing but background in this script's earlier run
   (commit a6fff7f: 2,000 images x 5 epochs of batch 32, background-only mIoU
   0.226 for all three), so the
   table builds them with the widths in ``TABLE_OVERRIDES`` (same builders,
   same registered names; the parameter count is in the table). FCN-8s and
   DeconvNet tiny are built as registered. ``--registered-widths`` trains the
   registered variants instead.

Writes tools/results/segmenters_experiment.json and segmenters_experiment.png and
prints the README's Markdown tables.

    nice -n 5 .venv/bin/python tools/segmenters_experiment.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import write_result  # noqa: E402

import keras_segattn as ksa  # noqa: E402
from keras_segattn.models.patch_classifier import patch_network, sliding_window_predict  # noqa: E402
from keras_segattn.models.recurrent_cnn import compile_deep_supervision, iteration_targets  # noqa: E402
from keras_segattn.training import evaluate_segmentation, train_segmentation  # noqa: E402

MODELS = ["patch_classifier_tiny", "multiscale_cnn_tiny", "recurrent_cnn_tiny", "fcn8s_tiny", "deconvnet_tiny"]

# Widths for the learning table (the registered tiny variants are sized for the tests).
TABLE_OVERRIDES = {
    # 3 stages: 38 px patches cover nearly all of the largest (28 px) shapes; 3x3 fc at dilation 8.
    "patch_classifier_tiny": dict(patch_size=38, widths=(16, 32, 32), depths=(1, 1, 1), fc_units=32),
    # Farabet's 3-stage extractor (stride 4) at a quarter of the paper's widths, 5x5.
    "multiscale_cnn_tiny": dict(widths=(16, 32, 64), kernel_size=5),
    # f: 3 stages (stride 4), 5x5, 3 iterations.
    "recurrent_cnn_tiny": dict(widths=(16, 32, 64), kernel_size=5),
}


def _median_seconds(fn, repeats):
    fn()  # warm-up (tracing, allocation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(sizes, repeats, batch_size):
    keras.utils.set_random_seed(0)
    model = ksa.build_model("patch_classifier_tiny")
    network = patch_network(model)
    dense_fn = tf.function(lambda x: model(x, training=False))
    rows = []
    for size in sizes:
        image = np.random.default_rng(size).uniform(0, 255, (1, size, size, 3)).astype("float32")
        dense = np.asarray(dense_fn(image))
        sliding = sliding_window_predict(model, image, batch_size=batch_size, network=network)
        agree = float((dense.argmax(-1) == sliding.argmax(-1)).mean())
        max_err = float(np.abs(dense - sliding).max() / max(np.abs(dense).max(), 1e-12))
        t_dense = _median_seconds(lambda image=image: np.asarray(dense_fn(image)), repeats)
        t_sliding = _median_seconds(
            lambda image=image: sliding_window_predict(model, image, batch_size=batch_size, network=network), repeats
        )
        row = {
            "image": f"{size}x{size}",
            "patches": size * size,
            "patch_size": int(network.inputs[0].shape[1]),
            "sliding_seconds": round(t_sliding, 4),
            "dense_seconds": round(t_dense, 4),
            "speedup_dense_over_sliding": round(t_sliding / t_dense, 1),
            "label_agreement": agree,
            "max_relative_difference": max_err,
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def overrides_for(name, args):
    return {} if args.registered_widths else TABLE_OVERRIDES.get(name, {})


def train_deep_supervision(name, args, seed):
    """``name`` with all_iterations=True, a loss on every iteration, the recipe's stream and schedule."""
    from keras_segattn.data import segmentation_pipeline, segmentation_stream
    from keras_segattn.training import segmentation_data

    keras.utils.set_random_seed(seed)
    multi = ksa.build_model(name, all_iterations=True, **overrides_for(name, args))
    iterations = len(multi.outputs)
    steps = max(1, args.train_examples // args.batch_size)
    common = dict(image_size=64, num_classes=4, seed=seed)
    train = segmentation_data("synthetic", split="train", num_examples=args.train_examples, **common)
    stream = segmentation_stream(train, args.batch_size, epochs=args.epochs, num_classes=4, seed=seed)
    val = segmentation_pipeline(
        segmentation_data("synthetic", split="validation", num_examples=500, **common), args.batch_size, num_classes=4
    )
    compile_deep_supervision(multi, total_steps=steps * args.epochs, learning_rate=args.learning_rate)
    multi.fit(
        iteration_targets(stream, iterations), steps_per_epoch=steps, epochs=args.epochs,
        validation_data=iteration_targets(val, iterations), verbose=0,
    )
    single = ksa.build_model(name, **overrides_for(name, args))
    single.set_weights(multi.get_weights())
    return single


def learning(args):
    runs = []
    plans = [(name, "recipe") for name in args.models]
    if "recurrent_cnn_tiny" in args.models:
        plans.insert(args.models.index("recurrent_cnn_tiny") + 1, ("recurrent_cnn_tiny", "deep supervision"))
    for name, how in plans:
        seed = args.seed
        start = time.perf_counter()
        if how == "recipe":
            keras.utils.set_random_seed(seed)
            model, _ = train_segmentation(
                ksa.build_model(name, **overrides_for(name, args)), num_classes=4, train_examples=args.train_examples, epochs=args.epochs,
                batch_size=args.batch_size, learning_rate=args.learning_rate, seed=seed, verbose=0,
            )
        else:
            model = train_deep_supervision(name, args, seed)
        seconds = time.perf_counter() - start
        metrics, _ = evaluate_segmentation(model, "synthetic", args.test_examples, seed=0)
        run = {
            "model": name, "training": how, "seed": seed, "overrides": overrides_for(name, args),
            "parameters": model.count_params(),
            "train_seconds": round(seconds, 1), **metrics,
        }
        print(run, flush=True)
        runs.append(run)
    return runs


def plot(speed_rows, runs, path):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [
        r["model"].replace("_tiny", "") + f"\n{r['parameters'] / 1000:.0f}k params"
        + ("\n(deep sup.)" if r["training"] != "recipe" else "")
        for r in runs
    ]
    ax1.bar(range(len(runs)), [r["mean_iou"] for r in runs], color="tab:blue")
    ax1.set_xticks(range(len(runs)), labels, fontsize=7)
    ax1.set_ylabel("held-out mIoU")
    ax1.set_ylim(0, 1)
    ax1.set_title("same budget, embedded shapes (64x64)")
    for i, r in enumerate(runs):
        ax1.text(i, r["mean_iou"] + 0.02, f"{r['mean_iou']:.3f}", ha="center", fontsize=7)
    if speed_rows:
        ax2.bar([r["image"] for r in speed_rows], [r["speedup_dense_over_sliding"] for r in speed_rows], color="tab:green")
        ax2.set_ylabel("dense speed / sliding-window speed")
        ax2.set_title("patch_classifier_tiny: same weights, same label map")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt_config(run):
    if not run.get("overrides"):
        return "as registered"
    parts = []
    for key, value in run["overrides"].items():
        value = "/".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value
        parts.append(f"{key} {value}")
    return ", ".join(parts)


def markdown(result):
    """The README's text: budget, machine and versions, the speed table and the learning table."""
    m, b = result["machine"], result["budget"]
    lines = [
        f"`{result['command']}` ({result['total_seconds'] / 60:.1f} min in all). Machine: {m['cores']} cores of "
        f"{m['cpu']}, no GPU, Python {m['python']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}; shared with "
        "another engineer's jobs, so wall times are upper bounds and only ratios from the same run compare.",
        "",
    ]
    if result["speed"]:
        r0 = result["speed"][0]
        agree = min(r["label_agreement"] for r in result["speed"])
        diff = max(r["max_relative_difference"] for r in result["speed"])
        lines += [
            f"**Dense vs sliding window** (`patch_classifier_tiny`, {r0['patch_size']}x{r0['patch_size']} patches; same "
            f"image, same weights, medians of {result['repeats']} runs after a warm-up; label agreement {agree:.3f}, "
            f"max relative difference {diff:.1e}):",
            "",
            "| image | patches | sliding window (a) | dense (b) | speed ratio (b)/(a) |",
            "|---|---|---|---|---|",
        ]
        for r in result["speed"]:
            lines.append(
                f"| {r['image']} | {r['patches']:,} | {1000 * r['sliding_seconds']:.1f} ms | "
                f"{1000 * r['dense_seconds']:.1f} ms | **{r['speedup_dense_over_sliding']:.0f}x** |"
            )
        lines.append("")
    if result["runs"]:
        lines += [
            f"**Learning** (the same budget for every model: {b['train_examples']:,} embedded {b['image_size']}x"
            f"{b['image_size']} shapes images x {b['epochs']} epochs = {b['steps']:,} steps of batch {b['batch_size']}, "
            f"{b['recipe']}, peak learning rate {b['learning_rate']:g}, seed {b['seed']}; held-out mIoU and pixel "
            f"accuracy on the same {b['test_examples']} test images, {b['num_classes']} classes incl. background):",
            "",
            "| model | configuration (build_model overrides) | parameters | training | held-out mIoU | pixel accuracy | train time |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted(result["runs"], key=lambda r: -r["mean_iou"]):
            lines.append(
                f"| `{r['model']}` | {_fmt_config(r)} | {r['parameters']:,} | {r['training']} | {r['mean_iou']:.3f} | "
                f"{r['pixel_accuracy']:.3f} | {r['train_seconds']:.0f} s |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-examples", type=int, default=6000)
    parser.add_argument("--test-examples", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--registered-widths", action="store_true",
                        help="train the registered tiny variants, not TABLE_OVERRIDES' widths")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--patch-batch", type=int, default=4096)
    parser.add_argument("--skip-learning", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    speed_rows = speed(args.sizes, args.repeats, args.patch_batch)
    runs = [] if args.skip_learning else learning(args)
    steps = max(1, args.train_examples // args.batch_size) * args.epochs
    budget = {
        "train_examples": args.train_examples, "epochs": args.epochs, "batch_size": args.batch_size,
        "steps": steps, "learning_rate": args.learning_rate, "image_size": 64, "num_classes": 4, "seed": args.seed,
        "test_examples": args.test_examples,
        "recipe": "train_segmentation (AdamW, 5% warm-up + cosine, flips/turns)",
    }
    results_dir = os.path.join(os.path.dirname(__file__), "results")
    png = os.path.join(results_dir, "segmenters_experiment.png")
    plot(speed_rows, runs, png)
    payload = {
        "command": "tools/segmenters_experiment.py " + " ".join(sys.argv[1:]),
        "speed": speed_rows, "repeats": args.repeats, "budget": budget, "runs": runs,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    path = write_result("segmenters_experiment", payload)
    print("wrote", path, "and", png)
    with open(path) as fh:
        print(markdown(json.load(fh)))


if __name__ == "__main__":
    main()
