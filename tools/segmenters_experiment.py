"""Classic segmenters vs FCN-8s and DeconvNet on the embedded shapes data, and the
dense / sliding-window speed ratio of the patch classifier.

1. Speed: ``patch_classifier_tiny`` labels the same image (a) the naive way,
   classifying the patch around every pixel (batched, :func:`sliding_window_predict`)
   and (b) densely with the same weights (dilated pools and convolutions, one
   forward pass); both in the same process, medians of ``--repeats`` runs after
   a warm-up; the two label maps are checked to agree.
2. Learning: every tiny segmenter trained with the library's recipe
   (:func:`keras_segattn.training.train_segmentation`: AdamW, warm-up + cosine,
   flips/turns, the same seeded batch stream), the same budget (train images x
   epochs, batch size, learning rate), evaluated on the same held-out images.
   ``recurrent_cnn_tiny`` is trained twice: with the recipe (loss on the last
   iteration) and with deep supervision (a loss on every iteration, the paper's
   recipe, :func:`compile_deep_supervision`) on the same stream.

Writes tools/results/segmenters_experiment.json and segmenters_experiment.png.

    .venv/bin/python tools/segmenters_experiment.py [--epochs 5] [--train-examples 2000]
"""

from __future__ import annotations

import argparse
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


def train_deep_supervision(name, args, seed):
    """``name`` with all_iterations=True, a loss on every iteration, the recipe's stream and schedule."""
    from keras_segattn.data import segmentation_pipeline, segmentation_stream
    from keras_segattn.training import segmentation_data

    keras.utils.set_random_seed(seed)
    multi = ksa.build_model(name, all_iterations=True)
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
    single = ksa.build_model(name)
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
                ksa.build_model(name), num_classes=4, train_examples=args.train_examples, epochs=args.epochs,
                batch_size=args.batch_size, learning_rate=args.learning_rate, seed=seed, verbose=0,
            )
        else:
            model = train_deep_supervision(name, args, seed)
        seconds = time.perf_counter() - start
        metrics, _ = evaluate_segmentation(model, "synthetic", args.test_examples, seed=0)
        run = {
            "model": name, "training": how, "seed": seed, "parameters": model.count_params(),
            "train_seconds": round(seconds, 1), **metrics,
        }
        print(run, flush=True)
        runs.append(run)
    return runs


def plot(speed_rows, runs, path):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [r["model"].replace("_tiny", "") + ("\n(deep sup.)" if r["training"] != "recipe" else "") for r in runs]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--test-examples", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--patch-batch", type=int, default=4096)
    parser.add_argument("--skip-learning", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    speed_rows = speed(args.sizes, args.repeats, args.patch_batch)
    runs = [] if args.skip_learning else learning(args)
    budget = {
        "train_examples": args.train_examples, "epochs": args.epochs, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate, "image_size": 64, "num_classes": 4, "seed": args.seed,
        "test_examples": args.test_examples, "recipe": "train_segmentation (AdamW, warm-up + cosine, flips/turns)",
    }
    results_dir = os.path.join(os.path.dirname(__file__), "results")
    png = os.path.join(results_dir, "segmenters_experiment.png")
    plot(speed_rows, runs, png)
    path = write_result(
        "segmenters_experiment",
        {
            "command": "tools/segmenters_experiment.py " + " ".join(sys.argv[1:]),
            "speed": speed_rows, "budget": budget, "runs": runs,
            "total_seconds": round(time.perf_counter() - start, 1),
        },
    )
    print("wrote", path, "and", png)


if __name__ == "__main__":
    main()
