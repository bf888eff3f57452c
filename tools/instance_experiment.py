"""Instance segmentation on the embedded shape instances: SDS, Hypercolumns and MNC, same budget.

Each tiny model is trained with its task's recipe (``Task.train``: Adam, warm-up
+ cosine, the same seeded batch stream, XLA) on the same embedded training
images, then scored with pycocotools on the same held-out test images: mask AP
at IoU 0.5 (the papers' mAP^r@0.5), 0.7 and 0.5:0.95, and box AP. Times are
wall-clock on this machine (CPU), training included.

Writes tools/results/instance_experiment.json and instance_experiment.png (the
test images with each model's detections) and prints the README's Markdown
table; ``--update-readme`` also replaces the README block.

    nice -n 5 .venv/bin/python tools/instance_experiment.py --update-readme
    .venv/bin/python tools/instance_experiment.py --models mnc_tiny --model-dir /tmp/ie   # one model now,
    .venv/bin/python tools/instance_experiment.py --model-dir /tmp/ie --update-readme      # the rest later
    .venv/bin/python tools/instance_experiment.py --smoke      # seconds: the script runs
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import replace_readme_section, write_result  # noqa: E402

import keras_segattn as ksa  # noqa: E402

#: the papers' VOC 2012 val mAP^r@0.5 (ARCHITECTURES.md), for orientation only: other data, other scale
PAPER_AP50 = {"sds": 49.7, "hypercolumns": 60.0, "mnc": 63.5}
MODELS = ["sds_tiny", "hypercolumns_tiny", "mnc_tiny"]
KEYS = ("mask_ap50", "mask_ap70", "mask_ap", "box_ap50", "box_ap")


def run(name, args):
    if args.model_dir:
        import json

        saved = os.path.join(args.model_dir, f"{name}.keras")
        record = os.path.join(args.model_dir, f"{name}.json")
        settings = {k: getattr(args, k) for k in ("train_examples", "epochs", "batch_size", "learning_rate",
                                                   "test_examples", "seed")}
        if os.path.exists(saved) and os.path.exists(record):
            with open(record) as fh:
                kept = json.load(fh)
            if kept["settings"] == settings:  # trained earlier with these settings: reuse it
                print(f"{name}: reusing {saved}", flush=True)
                return keras.saving.load_model(saved), kept["row"]
        model, row = _train(name, args)
        os.makedirs(args.model_dir, exist_ok=True)
        model.save(saved)
        with open(record, "w") as fh:
            json.dump({"settings": settings, "row": row}, fh)
        return model, row
    return _train(name, args)


def _train(name, args):
    keras.utils.set_random_seed(args.seed)
    model = ksa.build_model(name)
    task = model.task
    start = time.perf_counter()
    task.train(model, train_examples=args.train_examples, val_examples=64, epochs=args.epochs,
               batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed, jit_compile=True,
               verbose=0)
    seconds = time.perf_counter() - start
    scores = task.evaluate(model, examples=args.test_examples, seed=args.seed)
    row = {"model": name, "family": ksa.get_spec(name).family, "parameters": int(model.count_params()),
           "train_seconds": round(seconds, 1), **{k: round(float(v), 4) for k, v in scores.items()}}
    print(row, flush=True)
    return model, row


def markdown(rows, args, machine_line):
    lines = [
        f"Tiny models, {args.train_examples} embedded training images x {args.epochs} epochs (batch "
        f"{args.batch_size}, Adam {args.learning_rate}, seed {args.seed}), {args.test_examples} held-out test images "
        f"scored by pycocotools. {machine_line}",
        "",
        "| model | parameters | mask AP@0.5 | mask AP@0.7 | mask AP@[.5:.95] | box AP@0.5 | box AP@[.5:.95] | "
        "train time | paper (VOC 2012 val mAP^r@0.5) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['parameters']:,} | {r['mask_ap50']:.3f} | {r['mask_ap70']:.3f} | "
            f"{r['mask_ap']:.3f} | {r['box_ap50']:.3f} | {r['box_ap']:.3f} | {r['train_seconds'] / 60:.1f} min | "
            f"{PAPER_AP50.get(r['family'], '-')} |"
        )
    return "\n".join(lines)


def picture(models, args, path):
    from keras_segattn.visualize import plot_instance_grid

    first = next(iter(models.values()))
    inputs, targets = first.task.data(first, "test", args.picture_images, args.seed)
    images = inputs[0]
    rows_images, rows_instances, titles = [], [], []
    count = len(images)
    rows_images.append(images)
    truth = {k: np.asarray(v) for k, v in targets.items()}
    present = truth["classes"] > 0  # the truth drawn as certain detections
    truth.update(scores=present.astype(np.float32), num_detections=present.sum(1).astype(np.int32))
    rows_instances.append(truth)
    titles += ["ground truth"] * count
    for name, model in models.items():
        data, _ = model.task.data(model, "test", args.picture_images, args.seed)
        detections = model.task.predictions(model, data)
        rows_images.append(images)
        rows_instances.append(detections)
        titles += [name] * count
    stacked = {}
    for instances in rows_instances:
        for key, value in instances.items():
            stacked.setdefault(key, []).append(value)
    width = max(v.shape[1] for k, values in stacked.items() if k != "num_detections" for v in values)

    def pad(value):
        if value.ndim < 2:
            return value
        extra = width - value.shape[1]
        return np.pad(value, [(0, 0), (0, extra)] + [(0, 0)] * (value.ndim - 2)) if extra else value

    merged = {k: np.concatenate([pad(v) for v in values]) for k, values in stacked.items()}
    return plot_instance_grid(np.concatenate(rows_images), merged, path, class_names=first.task.class_names(first)[1:],
                              columns=count, titles=titles)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--train-examples", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--test-examples", type=int, default=500)
    parser.add_argument("--picture-images", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a few steps of one model: checks the script runs")
    parser.add_argument("--output", default=None, help="JSON path (default tools/results/instance_experiment.json)")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--model-dir", default=None,
                        help="save each trained model and its row here; a later run with the same settings reuses "
                             "them (train the models in separate runs)")
    args = parser.parse_args()
    if args.smoke:
        args.models, args.train_examples, args.epochs, args.test_examples = ["mnc_tiny"], 32, 1, 8
        args.picture_images = 2
    models, rows = {}, []
    for name in args.models:
        models[name], row = run(name, args)
        rows.append(row)
    from _common import machine

    info = machine()
    machine_line = (f"Machine: {info['cpu']}, {info['cores']} cores, TensorFlow {info['tensorflow']}, "
                    f"Keras {info['keras']}.")
    table = markdown(rows, args, machine_line)
    print(table)
    results = os.path.join(os.path.dirname(__file__), "results")
    picture_path = os.path.join(os.path.dirname(args.output) if args.output else results, "instance_experiment.png")
    picture(models, args, picture_path)
    payload = {"settings": {k: v for k, v in vars(args).items() if k not in ("output", "update_readme")},
               "rows": rows, "paper_ap50": PAPER_AP50, "picture": os.path.basename(picture_path)}
    if args.output:
        import json

        from _common import machine as _machine

        with open(args.output, "w") as fh:
            json.dump({"machine": _machine(), **payload}, fh, indent=2)
    else:
        write_result("instance_experiment", payload)
    if args.update_readme and not args.smoke:
        replace_readme_section("instance-results", table)


if __name__ == "__main__":
    main()
