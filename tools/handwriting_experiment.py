"""Handwriting synthesis on the embedded stroke-font words: the window model vs the unconditional baseline.

Trains ``handwriting_synthesis_tiny`` (the soft window over the text) and
``handwriting_prediction_tiny`` (the same LSTMs without a window: it cannot
know what to write) from the same seed on the same generated words for the
same number of steps, then reports on held-out words:

- the negative log-likelihood per pen point (nats, teacher forcing);
- legibility without a human: sampled handwriting (bias 0 and 1) against the
  Hershey font's plain rendering of the same text, as the mean normalised
  dynamic-time-warping distance of the pen trajectories (lower: closer to
  the text), and the share of samples whose window reached the end.

Writes tools/results/handwriting_experiment.json, the sample figure
tools/results/handwriting_samples.png (texts at biases 0 and 2, each with
the window phi over its characters beneath) and prints a Markdown table.

    PYTHONPATH=. python tools/handwriting_experiment.py
    PYTHONPATH=. python tools/handwriting_experiment.py --steps 600 --variants window
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

from tools._common import parse_override, write_result  # noqa: E402

#: name -> registered model.
VARIANTS = {"window": "handwriting_synthesis_tiny", "unconditional": "handwriting_prediction_tiny"}
FIGURE_TEXTS = ("sky", "zoo", "owl")


def run(variant, args):
    import tensorflow as tf

    import keras_segattn as ksa
    from keras_segattn.tasks import get_task
    from keras_segattn.training import TimeLimit
    from keras_segattn.training.recipes import warmup_cosine

    task = get_task("handwriting")
    keras.utils.set_random_seed(args.seed)
    model = ksa.build_model(VARIANTS[variant], **dict(args.set))
    task.compile(model, learning_rate=warmup_cosine(args.learning_rate, args.steps), jit_compile=True)
    inputs, targets = task.data(model, "train", args.train_examples, args.seed)
    x = tuple(inputs) if len(inputs) > 1 else inputs[0]
    ds = tf.data.Dataset.from_tensor_slices((x, targets))
    ds = ds.repeat().shuffle(10_000, seed=args.seed).batch(args.batch_size, drop_remainder=True).prefetch(2)
    limit = TimeLimit(args.time_limit)
    start = time.perf_counter()
    history = model.fit(ds, steps_per_epoch=args.steps // 10, epochs=10, callbacks=[limit], verbose=2)
    seconds = time.perf_counter() - start
    report = {"variant": variant, "model": VARIANTS[variant]}
    for bias in args.biases:
        result = task.evaluate(model, examples=args.test_examples, seed=args.seed, samples=args.samples, bias=bias)
        report.setdefault("nll_per_point", result["nll_per_point"])
        report[f"bias_{bias:g}"] = {k: result[k] for k in ("legibility_dtw", "legibility_dtw_median", "finished")}
    report.update(
        steps=int(model.optimizer.iterations.numpy()),
        train_seconds=round(seconds, 1),
        stopped_by_time_limit=limit.stopped_early,
        final_loss=float(history.history["loss"][-1]),
        parameters=int(model.count_params()),
    )
    return model, report


def figure(model, baseline, args, path):
    from keras_segattn.data.handwriting import write_text
    from keras_segattn.models.handwriting_synthesis import Writer
    from keras_segattn.visualize import plot_handwriting

    writer = Writer(model)
    samples, texts, titles, phis = [], [], [], []
    for bias in (0.0, 2.0):
        for sample in writer.write(list(FIGURE_TEXTS), bias=bias, seed=args.seed):
            samples.append(sample.strokes)
            texts.append(sample.text)
            titles.append(f"{sample.text!r}, bias {bias:g}")
            phis.append(sample.phi)
    # The font's rendering (the legibility reference) and the unconditional model, without a window.
    rows = [(write_text(t, vary=False), f"{t}  (font)") for t in FIGURE_TEXTS]
    if baseline is not None:
        rows += [(s.strokes, "unconditional (bias 1)") for s in Writer(baseline).write(list(FIGURE_TEXTS), bias=1.0,
                                                                                      seed=args.seed)]
    plot_handwriting(samples, path, texts=texts, phis=phis, titles=titles,
                     title="handwriting_synthesis_tiny: samples with the window phi (rows: characters + [end])")
    plot_handwriting([r[0] for r in rows], path.replace(".png", "_reference.png"), texts=[r[1] for r in rows])
    return path


def table(reports, biases):
    head = "| model | steps | train s | NLL / point (nats) | " + " | ".join(
        f"DTW to font, bias {b:g} | finished, bias {b:g}" for b in biases) + " |"
    lines = [head, "|---|---:|---:|---:|" + "---:|---:|" * len(biases)]
    for r in reports:
        cells = " | ".join(f"{r[f'bias_{b:g}']['legibility_dtw']:.3f} | {r[f'bias_{b:g}']['finished']:.2f}"
                           for b in biases)
        lines.append(f"| {r['model']} | {r['steps']} | {r['train_seconds']:.0f} | {r['nll_per_point']:.3f} | {cells} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--train-examples", type=int, default=20000)
    parser.add_argument("--test-examples", type=int, default=500)
    parser.add_argument("--samples", type=int, default=100, help="texts written per bias for the legibility score")
    parser.add_argument("--biases", nargs="+", type=float, default=[0.0, 1.0])
    parser.add_argument("--time-limit", type=float, default=900, help="seconds per variant (safety stop)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], type=parse_override, metavar="KEY=VALUE",
                        help="build_model overrides for every variant, e.g. units=128")
    parser.add_argument("--output", default="handwriting_experiment")
    args = parser.parse_args()

    reports, models = [], {}
    for variant in args.variants:
        model, report = run(variant, args)
        print(json.dumps(report), flush=True)
        reports.append(report)
        models[variant] = model
    png = os.path.join(os.path.dirname(__file__), "results", f"{args.output.replace('experiment', 'samples')}.png")
    path = write_result(args.output, {"args": vars(args), "results": reports, "figure": os.path.basename(png)})
    if "window" in models:
        figure(models["window"], models.get("unconditional"), args, png)
    print(table(reports, args.biases))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
