"""CNN vs ST-CNN on the embedded distorted digits (the direction of the STN paper's table 1).

For every distortion family (R, RTS, P, E, cluttered) and seed, the tiny CNN
(``digits_cnn_tiny``) and the tiny ST-CNN (``st_cnn_tiny``: the same
classifier with an affine spatial transformer in front) are trained with the
same budget (same training examples, epochs, batch size, learning-rate
schedule, seed) and tested on the same held-out examples (distortions of
digits the training split never contains). Then, for the ST-CNN trained on
RTS with the first seed, it

* plots test inputs, the outline of the learned sampling grid on them and the
  transformed images (``tools/results/stn_transformed.png``), and
* exports it (and the CNN) to TFLite float32 and int8 through the parity-gated
  exporter and measures file size, per-sample latency (batch 1, LiteRT) and
  test error of each artifact.

Writes tools/results/stn_experiment.json and prints Markdown tables with the
paper's numbers beside ours.

    PYTHONPATH=. .venv/bin/python tools/stn_experiment.py                 # everything (~35 min on 2 cores)
    PYTHONPATH=. .venv/bin/python tools/stn_experiment.py --families RTS  # the 5-minute RTS target only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from _common import write_result  # noqa: E402

from keras_segattn.data.distorted_digits import CANVAS_SIZES, FAMILIES, distorted_digits_arrays  # noqa: E402
from keras_segattn.training.classification import train_on_distorted_digits  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

#: Jaderberg et al. 2015, table 1 (distorted MNIST, % error): CNN and ST-CNN (affine).
#: Cluttered: 60x60 cluttered MNIST, as quoted in ARCHITECTURES.md.
PAPER = {
    "R": {"digits_cnn_tiny": 1.2, "st_cnn_tiny": 0.7},
    "RTS": {"digits_cnn_tiny": 0.8, "st_cnn_tiny": 0.5},
    "P": {"digits_cnn_tiny": 1.5, "st_cnn_tiny": 0.8},
    "E": {"digits_cnn_tiny": 1.4, "st_cnn_tiny": 1.2},
    "cluttered": {"digits_cnn_tiny": 3.5, "st_cnn_tiny": 1.7},
}

#: Training budget per family: (training examples, epochs). RTS gets the
#: budget of the issue's target (<= 5 CPU minutes for the ST-CNN); R, P and E
#: (28x28) a smaller one. Cluttered (60x60) needs more: with 30k x 4 both tiny
#: models underfit (train accuracy 0.86, test error ~12-14% for both).
BUDGETS = {
    "RTS": (50000, 5),
    "R": (30000, 3),
    "P": (30000, 3),
    "E": (30000, 3),
    "cluttered": (60000, 6),
}
#: Hard cap on each run's training (seconds): RTS holds the issue's 5-minute target.
TIME_LIMITS = {"RTS": 300.0, "R": 600.0, "P": 600.0, "E": 600.0, "cluttered": 900.0}
MODELS = ("digits_cnn_tiny", "st_cnn_tiny")


def run_family(family, seeds, args, keep):
    examples, epochs = BUDGETS[family]
    if args.quick:
        examples, epochs = max(2000, examples // 10), 1
    size = CANVAS_SIZES[family]
    test = distorted_digits_arrays("test", args.test_examples, family=family, seed=args.test_seed)
    runs = []
    for seed in seeds:
        start = time.perf_counter()
        train = distorted_digits_arrays("train", examples, family=family, seed=seed)
        data_seconds = time.perf_counter() - start
        for name in MODELS:
            result = train_on_distorted_digits(
                name,
                family=family,
                seed=seed,
                epochs=epochs,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                time_limit=args.time_limit or TIME_LIMITS[family],
                data=(train, test),
                input_shape=(size, size, 1),
            )
            model = result.pop("model")
            if (family, seed) == keep:
                args.kept[name] = model
                args.kept_test = test
            runs.append(
                {
                    "family": family,
                    "seed": seed,
                    "model": name,
                    "train_examples": examples,
                    "epochs": epochs,
                    "data_seconds": data_seconds,
                    **result,
                }
            )
            print(
                f"  {family:<9} seed {seed} {name:<16} test error {result['test_error']:5.2f}%  "
                f"train {result['train_seconds']:6.1f}s ({result['steps']} steps"
                f"{', stopped by the time limit' if result['stopped_early'] else ''})",
                flush=True,
            )
    return runs


def summarize(runs):
    table = {}
    for run in runs:
        table.setdefault(run["family"], {}).setdefault(run["model"], []).append(run)
    summary = {}
    for family, models in table.items():
        summary[family] = {}
        for name, rs in models.items():
            errors = [r["test_error"] for r in rs]
            seconds = [r["train_seconds"] for r in rs]
            summary[family][name] = {
                "errors": errors,
                "mean": statistics.mean(errors),
                "spread": (max(errors) - min(errors)) / 2 if len(errors) > 1 else 0.0,
                "train_seconds_max": max(seconds),
                "seeds": [r["seed"] for r in rs],
                "paper": PAPER[family][name],
            }
    return summary


def markdown(summary, runs):
    lines = [
        "| family (canvas) | budget | CNN error % (ours) | ST-CNN error % (ours) | CNN (paper) | ST-CNN aff (paper) | ST-CNN train time (max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for family in FAMILIES:
        if family not in summary:
            continue
        cnn, st = summary[family]["digits_cnn_tiny"], summary[family]["st_cnn_tiny"]
        run = next(r for r in runs if r["family"] == family)

        def fmt(entry):
            return f"{entry['mean']:.2f} ± {entry['spread']:.2f} ({', '.join(f'{e:.2f}' for e in entry['errors'])})"

        lines.append(
            f"| {family} ({CANVAS_SIZES[family]}x{CANVAS_SIZES[family]}) | {run['train_examples'] // 1000}k x {run['epochs']} ep "
            f"| {fmt(cnn)} | {fmt(st)} | {cnn['paper']} | {st['paper']} | {st['train_seconds_max']:.0f} s |"
        )
    return "\n".join(lines)


def export_and_time(models, test, args, family):
    """TFLite float32/int8 through the parity gate; size, latency (batch 1) and test error."""
    from ai_edge_litert.interpreter import Interpreter

    from keras_segattn.export import export

    x_test, y_test = test
    x_test = x_test.astype("float32")
    rows = {}
    tmp = tempfile.mkdtemp(prefix="stn_export_")
    for name, model in models.items():
        for quantize in (None, "int8"):
            path = os.path.join(tmp, f"{name}{'_int8' if quantize else ''}.tflite")
            manifest = export(
                model,
                path,
                format="tflite",
                quantize=quantize,
                representative_data=distorted_digits_arrays("train", 256, family=family, seed=99)[0].astype("float32")
                if quantize
                else None,
                parity_data=(x_test[:256], y_test[:256]),
                parity_samples=256,
                verbose=False,
            )
            interp = Interpreter(model_path=path, num_threads=args.threads)
            runner = interp.get_signature_runner()
            detail = runner.get_input_details()["image"]
            dtype = detail["dtype"]

            def run(x, runner=runner, dtype=dtype):
                feed = x if dtype == np.float32 else np.clip(np.round(x), 0, 255).astype(dtype)
                return next(iter(runner(image=feed).values()))

            images = x_test[: args.latency_samples]
            for x in images[:20]:
                run(x[None])
            times, predictions = [], []
            for x in images:
                start = time.perf_counter()
                out = run(x[None])
                times.append(time.perf_counter() - start)
                predictions.append(int(np.argmax(out[0])))
            keras_pred = np.argmax(model.predict(images, batch_size=500, verbose=0), -1)
            error = 100.0 * float(np.mean(np.array(predictions) != y_test[: len(images)]))
            rows[f"{name} TFLite {'int8' if quantize else 'float32'}"] = {
                "size_bytes": manifest["size_bytes"],
                "latency_ms_median": 1000 * statistics.median(times),
                "latency_ms_p90": 1000 * float(np.percentile(times, 90)),
                "test_error": error,
                "keras_test_error": 100.0 * float(np.mean(keras_pred != y_test[: len(images)])),
                "argmax_agreement_with_keras": float(np.mean(np.array(predictions) == keras_pred)),
                "parity": manifest["parity"],
                "ops_builtin": manifest["ops"]["builtin"],
                "ops_flex": manifest["ops"]["flex"],
                "samples": len(images),
                "threads": args.threads,
            }
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["RTS", "R", "P", "E", "cluttered"], choices=FAMILIES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--test-examples", type=int, default=2000)
    parser.add_argument("--test-seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument(
        "--time-limit", type=float, default=None, help="seconds of training per run (default: TIME_LIMITS)"
    )
    parser.add_argument("--latency-samples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="LiteRT interpreter threads for the latency")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1/10 of the data, 1 epoch: a smoke test")
    parser.add_argument("--output", default="stn_experiment")
    args = parser.parse_args()
    args.kept, args.kept_test = {}, None

    started = time.perf_counter()
    keep_family = "RTS" if "RTS" in args.families else args.families[0]
    keep = (keep_family, args.seeds[0])  # the models plotted and exported
    runs = []
    for family in args.families:
        print(f"{family}: budget {BUDGETS[family]}", flush=True)
        runs += run_family(family, args.seeds, args, keep)
    summary = summarize(runs)

    figure = None
    exports = None
    if args.kept:
        from keras_segattn.models.spatial_transformer_net import with_transformer_outputs
        from keras_segattn.visualize import plot_spatial_transformer

        st_model, test = args.kept["st_cnn_tiny"], args.kept_test
        x_test, y_test = test
        views = with_transformer_outputs(st_model).predict(x_test[:10].astype("float32"), verbose=0)
        figure = plot_spatial_transformer(
            x_test[:10],
            views["transformed"],
            os.path.join(RESULTS, f"stn_transformed{'' if keep_family == 'RTS' else '_' + keep_family}.png"),
            grids=views["grid"],
            labels=y_test[:10],
            predictions=views["logits"].argmax(-1),
            title=f"st_cnn_tiny on {keep_family} test digits: input with the sampling grid's outline (top), transformed (bottom)",
        )
        if not args.skip_export:
            exports = export_and_time(args.kept, test, args, keep_family)

    payload = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("kept", "kept_test")},
        "budgets": {f: BUDGETS[f] for f in args.families},
        "time_limits": {f: args.time_limit or TIME_LIMITS[f] for f in args.families},
        "paper": PAPER,
        "runs": runs,
        "summary": summary,
        "figure": os.path.relpath(figure, os.path.dirname(RESULTS)) if figure else None,
        "tflite": exports,
        "total_seconds": time.perf_counter() - started,
    }
    path = write_result(args.output, payload)
    print()
    print(markdown(summary, runs))
    if exports:
        print("\n| artifact | size | latency / sample (median, batch 1) | test error % (first "
              f"{args.latency_samples}) | argmax agreement with Keras |\n|---|---|---|---|---|")
        for label, row in exports.items():
            print(
                f"| {label} | {row['size_bytes'] / 1024:.0f} KiB | {row['latency_ms_median']:.3f} ms | "
                f"{row['test_error']:.2f} (Keras {row['keras_test_error']:.2f}) | {row['argmax_agreement_with_keras']:.4f} |"
            )
    print(f"\nwrote {path}" + (f" and {figure}" if figure else "") + f" in {payload['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
