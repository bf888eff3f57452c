"""Residual vs non-residual: does Inception-ResNet-v2 learn faster than Inception-v4?

The lecture quotes Szegedy et al. 2016: "residual and non-residual converge to
similar value, but residual learns faster". Here both networks are trained
from the same initial seed on the same embedded data (distorted digits, RTS
family, 32x32 grey, 10 classes) with the same budget (steps, batch,
optimizer, learning-rate schedule). The networks are the registered tiny
variants (``inception_v4_tiny``, ``inception_resnet_v2_tiny``: every width
divided by 8, one block of each type, ``padding="same"``); ``--blocks`` and
``--width-divisor`` try deeper or narrower pairs. The held-out error and the
training loss are recorded every ``--eval-every`` steps for several seeds.

Writes tools/results/inception_experiment.json and
tools/results/inception_curves.png, and prints the README table.

    PYTHONPATH=. .venv/bin/python tools/inception_experiment.py               # 3 seeds (~30 min on 2 cores)
    PYTHONPATH=. .venv/bin/python tools/inception_experiment.py --seeds 0 --steps 200   # a quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from _common import write_result  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

MODELS = ("inception_v4", "inception_resnet_v2")


def run(name, *, seed, steps, eval_every, batch_size, width_divisor, blocks, train, test, learning_rate):
    import keras
    import tensorflow as tf

    import keras_segattn as ksa

    keras.utils.set_random_seed(seed)
    model = ksa.build_model(
        f"{name}_tiny", num_classes=10, input_shape=(32, 32, 1), padding="same", width_divisor=width_divisor,
        dropout=0.0, blocks=blocks,
    )
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, warmup_target=None)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=True,
    )
    (x, y), (tx, ty) = train, test
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).repeat().batch(batch_size)
    curve = []
    start = time.time()
    for done in range(eval_every, steps + 1, eval_every):
        history = model.fit(data, steps_per_epoch=eval_every, epochs=1, verbose=0)
        result = model.evaluate(tx, ty, batch_size=256, verbose=0, return_dict=True)
        curve.append({
            "step": done,
            "train_loss": float(history.history["loss"][-1]),
            "test_error_percent": 100.0 * (1.0 - float(result["accuracy"])),
        })
        print(f"  {name} seed {seed} step {done}: loss {curve[-1]['train_loss']:.3f} "
              f"test error {curve[-1]['test_error_percent']:.2f}%", flush=True)
    return {
        "parameters": int(model.count_params()),
        "layers": len(model.get_layer(name).layers),
        "curve": curve,
        "seconds": time.time() - start,
    }


def steps_to(curve, error):
    for point in curve:
        if point["test_error_percent"] <= error:
            return point["step"]
    return None


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = {"inception_v4": "tab:blue", "inception_resnet_v2": "tab:red"}
    for name, runs in results.items():
        for i, run_ in enumerate(runs):
            steps = [p["step"] for p in run_["curve"]]
            label = name if i == 0 else None
            axes[0].plot(steps, [p["train_loss"] for p in run_["curve"]], color=colours[name], alpha=0.7, label=label)
            axes[1].plot(steps, [p["test_error_percent"] for p in run_["curve"]], color=colours[name], alpha=0.7,
                         label=label)
    axes[0].set(xlabel="training step", ylabel="training loss (last batch)", yscale="log")
    axes[1].set(xlabel="training step", ylabel="held-out error (%)", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Narrow Inception-v4 vs Inception-ResNet-v2, same data and budget (one line per seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--width-divisor", type=int, default=8)
    parser.add_argument("--blocks", type=int, nargs=3, default=[1, 1, 1], help="A, B, C repeats of both networks")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--train-examples", type=int, default=20000)
    parser.add_argument("--test-examples", type=int, default=2000)
    args = parser.parse_args(argv)

    from keras_segattn.data.distorted_digits import distorted_digits_arrays

    train = distorted_digits_arrays("train", args.train_examples, family="RTS", image_size=32, channels=1, seed=0)
    test = distorted_digits_arrays("test", args.test_examples, family="RTS", image_size=32, channels=1, seed=0)
    results = {name: [] for name in MODELS}
    for seed in args.seeds:
        for name in MODELS:
            results[name].append(run(
                name, seed=seed, steps=args.steps, eval_every=args.eval_every, batch_size=args.batch_size,
                width_divisor=args.width_divisor, blocks=tuple(args.blocks), train=train, test=test, learning_rate=args.learning_rate,
            ))

    summary = {}
    for name, runs in results.items():
        finals = [r["curve"][-1]["test_error_percent"] for r in runs]
        # Learning speed: the area under the error curve (mean error over the checkpoints)
        # and the steps to reach 20% / 10% held-out error.
        means = [statistics.fmean(p["test_error_percent"] for p in r["curve"]) for r in runs]
        summary[name] = {
            "parameters": runs[0]["parameters"],
            "backbone_layers": runs[0]["layers"],
            "final_error_percent": finals,
            "mean_error_over_training_percent": means,
            "steps_to_20_percent": [steps_to(r["curve"], 20.0) for r in runs],
            "steps_to_10_percent": [steps_to(r["curve"], 10.0) for r in runs],
            "seconds": [r["seconds"] for r in runs],
        }
    png = os.path.join(RESULTS, "inception_curves.png")
    plot(results, png)
    path = write_result("inception_experiment", {
        "setup": {k: getattr(args, k) for k in vars(args)},
        "summary": summary,
        "runs": results,
    })

    def fmt(values, digits=1):
        return " / ".join("-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in values)

    print(f"\n| model (blocks {tuple(args.blocks)}, widths / {args.width_divisor}) | parameters | held-out error % "
          f"after {args.steps} steps (per seed) | mean error over training % | steps to 20% error | steps to 10% error |")
    print("|---|---|---|---|---|---|")
    for name, row in summary.items():
        print(f"| `{name}` | {row['parameters']:,} | {fmt(row['final_error_percent'], 2)} | "
              f"{fmt(row['mean_error_over_training_percent'])} | {fmt(row['steps_to_20_percent'])} | "
              f"{fmt(row['steps_to_10_percent'])} |")
    print(f"\nwrote {path} and {png}")


if __name__ == "__main__":
    main()
