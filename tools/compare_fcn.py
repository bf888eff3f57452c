"""FCN-32s vs FCN-16s vs FCN-8s on the embedded shapes data, same budget.

Each tiny variant is trained with the library's recipe (same data, epochs,
batch size, learning rate, seeds) and evaluated on 1000 held-out images.
Writes tools/results/fcn_comparison.json and the table between the fcn
markers in README.md.

    .venv/bin/python tools/compare_fcn.py [--epochs 12] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
from _common import replace_readme_section, write_result  # noqa: E402

import keras_segattn as ksa  # noqa: E402
from keras_segattn.training import evaluate_segmentation, train_segmentation  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train-examples", type=int, default=8000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--models", nargs="+", default=["fcn32s_tiny", "fcn16s_tiny", "fcn8s_tiny"])
    parser.add_argument("--no-readme", dest="readme", action="store_false", help="do not rewrite README.md")
    args = parser.parse_args()

    runs = []
    for seed in args.seeds:
        for name in args.models:
            keras.utils.set_random_seed(seed)
            model = ksa.build_model(name)
            start = time.perf_counter()
            model, _ = train_segmentation(
                model, num_classes=4, train_examples=args.train_examples, epochs=args.epochs, seed=seed, verbose=0
            )
            seconds = time.perf_counter() - start
            metrics, _ = evaluate_segmentation(model, "synthetic", 1000, seed=0)
            run = {"model": name, "seed": seed, "parameters": model.count_params(), "train_seconds": round(seconds, 1), **metrics}
            print(run, flush=True)
            runs.append(run)

    summary = {}
    for name in args.models:
        values = [r["mean_iou"] for r in runs if r["model"] == name]
        summary[name] = {
            "mean_iou_mean": statistics.mean(values),
            "mean_iou_min": min(values),
            "mean_iou_max": max(values),
            "seeds": len(values),
        }
    path = write_result(
        "fcn_comparison",
        {"settings": vars(args), "runs": runs, "summary": summary},
    )
    total_minutes = sum(r["train_seconds"] for r in runs) / 60
    lines = [
        "### FCN-32s vs FCN-16s vs FCN-8s (same budget)",
        "",
        f"`tools/compare_fcn.py`: each tiny FCN trained with the library's recipe on "
        f"{args.train_examples:,} embedded shapes images x {args.epochs} epochs, seeds "
        f"{', '.join(map(str, args.seeds))}, evaluated on the same 1,000 held-out images "
        f"({total_minutes:.0f} min of training in all). The paper's reference models on "
        "seg11valid (VOC): 63.6 / 65.0 / 65.5 mean IU.",
        "",
        "| model | parameters | held-out mIoU (mean) | per seed | paper (seg11valid) |",
        "|---|---|---|---|---|",
    ]
    paper = {"fcn32s_tiny": "63.6", "fcn16s_tiny": "65.0", "fcn8s_tiny": "65.5"}
    for name in args.models:
        s = summary[name]
        params = next(r["parameters"] for r in runs if r["model"] == name)
        per_seed = ", ".join(f"{r['mean_iou']:.3f}" for r in runs if r["model"] == name)
        lines.append(
            f"| `{name}` | {params:,} | {s['mean_iou_mean']:.3f} | {per_seed} | {paper.get(name, '-')} |"
        )
    ranking = sorted(args.models, key=lambda n: -summary[n]["mean_iou_mean"])
    lines += ["", "Measured ranking: " + " > ".join(f"`{n}`" for n in ranking) + " (the paper: 8s > 16s > 32s)."]
    table = "\n".join(lines)
    print(table)
    if args.readme:
        replace_readme_section("fcn", table)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
