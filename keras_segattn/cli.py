"""``keras-segattn``: list, train, evaluate, export, inspect, predict and demo.

Run ``keras-segattn COMMAND --help`` for each command's arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from keras_segattn._tf_logs import filter_tensorflow_logs

DEMO_MODEL = "deconvnet_tiny"


def _load_model(path_or_name: str, **overrides):
    """A ``.keras`` file, or a registered model name (built fresh)."""
    import keras

    import keras_segattn as ksa

    if path_or_name.endswith(".keras"):
        if not os.path.exists(path_or_name):
            raise SystemExit(f"error: model file {path_or_name!r} does not exist.")
        try:
            return keras.saving.load_model(path_or_name)
        except (TypeError, ValueError) as error:
            raise SystemExit(
                f"error: could not load {path_or_name!r}: {str(error).splitlines()[0][:300]} "
                "(files with keras_segattn layers load after `import keras_segattn`; in Python, add that line "
                "before keras.saving.load_model)."
            ) from None
    try:
        return ksa.build_model(path_or_name, **overrides)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None


def _num_classes(model) -> int:
    return int(model.outputs[0].shape[-1])


def _task(model, name=None):
    from keras_segattn.tasks import task_of

    try:
        return task_of(model, name)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None


def _run(step, *args, **kwargs):
    """A task step whose bad-input errors become one-line CLI errors."""
    try:
        return step(*args, **kwargs)
    except (ValueError, NotImplementedError) as error:
        raise SystemExit(f"error: {error}") from None


# ---------------------------------------------------------------- commands
def cmd_list(args):
    from keras_segattn.registry import get_spec, list_models

    specs = [get_spec(n) for n in list_models(args.pattern, family=args.family, task=args.task)]
    if not specs:
        return 0
    rows = [(s.name, s.family, s.task, "tiny variant" if s.tiny else s.paper) for s in specs]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(f"{v:<{w}}" for v, w in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _override(text: str):
    """``key=value`` with a JSON value (``dropout=0``, ``widths=[8,16,32]``), else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, received {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), tuple(value) if isinstance(value, list) else value


def _save_freq(value: str):
    if value == "epoch":
        return value
    try:
        steps = int(value)
    except ValueError:
        steps = 0
    if steps < 1:
        raise argparse.ArgumentTypeError(f"--save-freq must be 'epoch' or a positive number of steps, received {value!r}")
    return steps


def cmd_train(args):
    # The strategy comes first: multi-worker collectives must be configured
    # before TensorFlow's runtime starts.
    from keras_segattn.training import describe_strategy, get_strategy, precision_policy
    from keras_segattn.training.backup import _is_chief

    try:
        strategy = get_strategy(args.strategy)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    import keras
    import tensorflow as tf

    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(args.seed)
    if args.model.endswith(".keras"):
        with strategy.scope():
            model = _load_model(args.model)
    else:
        from keras_segattn.registry import build_model, get_spec

        overrides = dict(args.set or [])
        if args.num_classes:
            overrides["num_classes"] = args.num_classes
        try:
            get_spec(args.model)
            with strategy.scope(), precision_policy(args.precision):
                model = build_model(args.model, **overrides)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
    task = _task(model, args.task)
    callbacks = []
    if args.tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(args.tensorboard_dir))
    if args.checkpoint_best:
        monitor, mode = task.monitor
        callbacks.append(keras.callbacks.ModelCheckpoint(args.checkpoint_best, monitor=monitor, mode=mode, save_best_only=True))
    # Task-specific options: None means "not given" (a task refuses options it has no use for).
    options = {"data": args.data, "data_dir": args.data_dir, "image_size": args.image_size, "lr_schedule": args.lr_schedule}
    start = time.perf_counter()
    model, history = _run(
        task.train,
        model,
        train_examples=args.train_examples,
        val_examples=args.val_examples,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        time_limit=args.time_limit,
        jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile],
        strategy=strategy,
        backup_dir=args.backup_dir,
        save_freq=args.save_freq,
        callbacks=callbacks,
        verbose=2,
        **options,
    )
    seconds = time.perf_counter() - start
    if _is_chief():
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        model.save(args.output)
    val = {k: float(v[-1]) for k, v in history.history.items() if k.startswith("val_")}
    print(
        json.dumps(
            {
                "model": model.name,
                "task": task.name,
                "output": args.output,
                "train_seconds": round(seconds, 1),
                "resumed_from_step": history.resumed_from,
                "final_step": int(model.optimizer.iterations.numpy()),
                **describe_strategy(strategy),
                **val,
            }
        )
    )
    return 0


def cmd_evaluate(args):
    model = _load_model(args.model)
    task = _task(model, args.task)
    metrics = _run(task.evaluate, model, examples=args.examples, seed=args.seed, data=args.data, data_dir=args.data_dir)
    print(json.dumps({"model": model.name, "task": task.name, **({"data": args.data} if args.data else {}), **metrics}))
    return 0


def _representative(spec: str | None):
    if spec is None:
        return None
    import numpy as np

    if not os.path.exists(spec):
        raise SystemExit(f"error: --representative-data {spec!r} does not exist (expected a .npy or .npz of inputs).")
    data = np.load(spec)
    return data[data.files[0]] if hasattr(data, "files") else data


def cmd_export(args):
    from keras_segattn.export import FlexOpsRequired, ParityError, export
    from keras_segattn.export.formats import backend

    if args.quantize and args.format != "tflite":
        raise SystemExit(f"error: --quantize applies to --format tflite only (received --format {args.format}).")
    if args.quantize == "int8" and args.representative_data is None and not args.embedded_representative_data:
        raise SystemExit(
            "error: --quantize int8 needs calibration data: pass --representative-data FILE.npy "
            "or --embedded-representative-data to use the model's embedded training data."
        )
    model = _load_model(args.model)
    output = args.output or backend(args.format).default_path(model.name, args.quantize)
    try:
        manifest = export(
            model,
            output,
            format=args.format,
            quantize=args.quantize,
            representative_data=_representative(args.representative_data),
            parity_samples=args.parity_samples,
            batch_size=args.batch_size,
            allow_flex=args.allow_flex,
            task=args.task,
            overwrite=args.overwrite,
            verbose=True,
        )
    except (ValueError, FlexOpsRequired, ParityError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"wrote {output} and {output}.json (sha256 {manifest['sha256'][:12]}...)")
    return 0


def cmd_inspect(args):
    from keras_segattn.export import inspect_artifact

    try:
        info = inspect_artifact(args.artifact)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}  [{info['format']}]  {info['size_bytes'] / 1e6:.2f} MB")
    print(f"  {'verified' if info['verified'] else 'UNVERIFIED'}: {info['verification']}")
    for kind in ("inputs", "outputs"):
        for name, t in info[kind].items():
            quant = t.get("quantization")
            q = f"  scale={quant['scale']:.6g} zero_point={quant['zero_point']}" if quant and quant["scale"] else ""
            print(f"  {kind[:-1]:<6} {name}: shape={t['shape']} {t.get('dtype', '')}{q}")
    ops = info.get("ops", {})
    if info["format"] == "tflite":
        for kind in ("builtin", "flex", "custom"):
            print(f"  {kind} ops ({len(ops[kind])}): {', '.join(ops[kind]) or '-'}")
    elif info["format"] == "onnx":
        print(f"  opset {info['opset']}; ops: {', '.join(f'{k}x{v}' for k, v in ops.items())}")
    return 0


def cmd_web(args):
    from keras_segattn.web import check_web_dir, export_for_web, serve

    try:
        web_dir = check_web_dir()
        if args.port is not None and not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, received {args.port}.")
        if args.model:
            export_for_web(args.model, args.models_dir)
        if args.no_serve:
            return 0
        server = serve(models_dir=args.models_dir, port=args.port)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"serving {web_dir} at {server.url}  (segmentation: {server.url}index.html, "
          f"spatial transformer: {server.url}stn.html; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_predict(args):
    model = _load_model(args.model)
    task = _task(model, args.task)
    result = _run(task.predict_file, model, args.input, args.output)
    print(json.dumps({"model": model.name, "task": task.name, **result}))
    return 0


def run_demo(
    model_name: str = DEMO_MODEL,
    *,
    saved_models_dir: str,
    tflite_dir: str,
    epochs: int = 10,
    train_examples: int = 8000,
    test_examples: int = 1000,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    time_limit: float | None = 570.0,
    seed: int = 0,
    parity_samples: int = 100,
) -> dict:
    """Train ``model_name`` on the embedded shapes, evaluate on held-out images,
    save ``.keras``, export SavedModel/ONNX/TFLite float32/TFLite int8 behind the
    parity gate and plot predictions. Returns (and writes) a summary dict."""
    import platform

    import keras
    import tensorflow as tf

    import keras_segattn as ksa
    from keras_segattn.data import SHAPES
    from keras_segattn.export import export
    from keras_segattn.training import evaluate_segmentation, train_segmentation
    from keras_segattn.visualize import plot_segmentation

    keras.utils.set_random_seed(seed)
    print(
        f"keras_segattn {ksa.__version__} | TensorFlow {tf.__version__} | Keras {keras.__version__} | "
        f"{platform.machine()} {os.cpu_count()} CPU cores"
    )
    model = ksa.build_model(model_name)
    num_classes = _num_classes(model)
    print(
        f"{model.name}: {model.count_params():,} parameters; training {epochs} epochs on "
        f"{train_examples} embedded images" + (f" (time limit {time_limit:.0f} s)" if time_limit else "")
    )
    start = time.perf_counter()
    model, history = train_segmentation(
        model,
        num_classes=num_classes,
        train_examples=train_examples,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        time_limit=time_limit,
        verbose=2,
    )
    train_seconds = time.perf_counter() - start
    stopped = bool(history.time_limit and history.time_limit.stopped_early)
    metrics, (images, labels, preds) = evaluate_segmentation(model, "synthetic", test_examples, seed)
    print(
        f"held-out mIoU {metrics['mean_iou']:.4f}, pixel accuracy {metrics['pixel_accuracy']:.4f} on "
        f"{metrics['examples']} test images; training took {train_seconds:.0f} s"
        + (" (stopped by the time limit)" if stopped else "")
    )
    os.makedirs(saved_models_dir, exist_ok=True)
    keras_path = os.path.join(saved_models_dir, f"{model.name}.keras")
    # An inference copy (no optimizer state): a third of the size.
    from keras_segattn.export.signature import inference_copy

    inference_copy(model).save(keras_path)
    common = {"parity_samples": parity_samples}
    # The demo replaces its own earlier outputs (and only those: see export's overwrite).
    common["overwrite"] = True
    manifests = [
        export(model, os.path.join(saved_models_dir, model.name), format="savedmodel", **common),
        export(model, os.path.join(saved_models_dir, f"{model.name}.onnx"), format="onnx", **common),
        export(model, os.path.join(tflite_dir, f"{model.name}.tflite"), format="tflite", **common),
        export(
            model, os.path.join(tflite_dir, f"{model.name}_int8.tflite"), format="tflite", quantize="int8", **common
        ),
    ]
    picture = plot_segmentation(
        images[:8],
        labels[:8],
        preds[:8],
        os.path.join(saved_models_dir, f"{model.name}_predictions.png"),
        num_classes=num_classes,
        class_names=("background",) + SHAPES[: num_classes - 1],
        title=f"{model.name}: held-out mIoU {metrics['mean_iou']:.3f}",
    )
    from keras_segattn.export import summarize

    summary = {
        "model": model.name,
        "parameters": int(model.count_params()),
        "epochs": epochs,
        "epochs_completed": len(history.history["loss"]),
        "train_examples": train_examples,
        "train_seconds": round(train_seconds, 1),
        "stopped_by_time_limit": stopped,
        "held_out_examples": metrics["examples"],
        "held_out_mean_iou": round(metrics["mean_iou"], 4),
        "held_out_pixel_accuracy": round(metrics["pixel_accuracy"], 4),
        # Relative to the summary's own folder, so the file stays true wherever it is copied.
        "keras_model": os.path.relpath(keras_path, saved_models_dir),
        "exports": [summarize(m) for m in manifests],
        "picture": os.path.relpath(picture, saved_models_dir),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "versions": manifests[0]["versions"],
    }
    with open(os.path.join(saved_models_dir, f"{model.name}_demo_summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    print(json.dumps(summary, indent=2))
    return summary


def cmd_demo(args):
    """Train a tiny model on embedded data, report held-out mIoU, export and verify, plot."""
    run_demo(
        args.model,
        saved_models_dir=os.path.join(args.out_dir, "saved_models", "demo"),
        tflite_dir=os.path.join(args.out_dir, "tflite", "demo"),
        epochs=args.epochs,
        train_examples=args.train_examples,
        test_examples=args.test_examples,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        time_limit=args.time_limit,
        seed=args.seed,
    )
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-segattn",
        description="Segmentation and attention models (CS231n lecture 13) in Keras 3: "
        "list, train, evaluate, export (verified), inspect, predict, demo.",
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ log lines (hidden by default)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. 'fcn*'")
    p.add_argument("--family")
    p.add_argument("--task")
    p.set_defaults(func=cmd_list)

    def data_args(p):
        p.add_argument("--data", choices=["synthetic", "oxford_iiit_pet", "scene_parse150"],
                       help="segmentation: embedded synthetic shapes (default, no download), Oxford-IIIT Pet or "
                       "SceneParse150 (ADE20K) via tfds; other tasks use their embedded data")
        p.add_argument("--data-dir", help="tensorflow_datasets data directory (for oxford_iiit_pet, scene_parse150)")
        p.add_argument("--seed", type=int, default=0)
        task_arg(p)

    def task_arg(p):
        p.add_argument("--task", help="the model's task when it cannot be known (a model built outside "
                       "build_model): " + ", ".join(list_tasks()))

    from keras_segattn.export.formats import BACKENDS, FORMATS
    from keras_segattn.tasks import list_tasks

    p = sub.add_parser("train", help="train any registered model on its task's embedded data and save it as .keras")
    p.add_argument("model", help="registered name (e.g. fcn8s_tiny) or a .keras file to continue")
    p.add_argument("--output", "-o", default="runs/model.keras")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32, help="global batch size")
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--train-examples", type=int, default=8000)
    p.add_argument("--val-examples", type=int, default=500)
    p.add_argument("--image-size", type=int, help="segmentation models with a dynamic input size (default 64)")
    p.add_argument("--num-classes", type=int)
    p.add_argument("--set", type=_override, action="append", metavar="KEY=VALUE",
                   help="builder argument override, JSON value (e.g. --set dropout=0 --set fc_units=1024)")
    p.add_argument("--lr-schedule", choices=["cosine", "poly", "step", "constant"],
                   help="segmentation: learning-rate schedule (default cosine; other tasks: warm-up + cosine)")
    p.add_argument("--time-limit", type=float, help="stop after this many seconds")
    p.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto",
                   help="XLA compilation (auto: Keras decides; on pays off on GPUs)")
    p.add_argument("--strategy", choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"], default="auto",
                   help="tf.distribute strategy; multi_worker reads TF_CONFIG (auto picks it when TF_CONFIG names several workers)")
    p.add_argument("--precision", choices=["float32", "mixed_float16", "mixed_bfloat16"], default="float32")
    p.add_argument("--backup-dir", help="fault tolerance: back up here and resume from it when restarted")
    p.add_argument("--save-freq", type=_save_freq, default="epoch", help="backup every N steps or 'epoch'")
    p.add_argument("--deterministic", action="store_true", help="enable TensorFlow op determinism")
    p.add_argument("--tensorboard-dir", help="write TensorBoard logs here")
    p.add_argument("--checkpoint-best", metavar="PATH.keras",
                   help="keep the model with the best validation metric of its task (e.g. val_mean_iou)")
    data_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="held-out metrics of the model's task (mean IoU, accuracy, BLEU...)")
    p.add_argument("model", help=".keras file or registered name")
    p.add_argument("--examples", type=int, default=1000)
    data_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "export",
        help="export with a parity check",
        description="Export a model and verify it: the artifact and Keras run on the same held-out "
        "inputs and the artifact is written (with PATH.json, its manifest) only if the parity gate "
        "passes. Formats: savedmodel (directory, serving_default signature), tflite (builtin ops "
        "only unless --allow-flex; float32 or --quantize float16|dynamic|int8), onnx (opset 17). "
        "Default outputs: saved_models/NAME, saved_models/NAME.onnx, tflite/NAME[_QUANT].tflite.",
    )
    p.add_argument("model", help=".keras file or registered name")
    p.add_argument("--format", "-f", required=True, choices=FORMATS)
    p.add_argument("--quantize", "-q", choices=[q for q in BACKENDS["tflite"].quantizations if q],
                   help="TFLite quantisation (default float32); int8 needs calibration data")
    p.add_argument("--representative-data", metavar="FILE",
                   help="int8 calibration inputs: .npy (or the first array of a .npz), raw RGB in [0, 255]")
    p.add_argument("--embedded-representative-data", action="store_true",
                   help="int8: calibrate on the model's embedded training data")
    p.add_argument("--output", "-o", help="artifact path (a directory for savedmodel)")
    p.add_argument("--parity-samples", type=int, default=32, help="held-out examples the gate runs")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="tflite/onnx: fix the batch dimension (LiteRT.js in the browser needs 1); default dynamic")
    p.add_argument("--allow-flex", action="store_true", help="TFLite: accept TensorFlow (Flex) ops")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an artifact keras_segattn wrote at the output path (anything else is never replaced)")
    task_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("inspect", help="describe an exported artifact (ops, inputs, quantisation)")
    p.add_argument("artifact")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "predict",
        help="run a model on one input, print the result as JSON and save a picture",
        description="Segmentation: an image file (PNG/JPEG, or .npy) -> class map picture and pixel counts. "
        "Classification: an image -> class and top probabilities. Translation: a sentence -> its translation "
        "and the alignment matrix (picture).",
    )
    p.add_argument("model", help=".keras file or registered name")
    p.add_argument("input", help="an image file (.png, .jpg, .npy) or, for translation models, a sentence")
    p.add_argument("--output", "-o", default="prediction.png", help="the picture (PNG)")
    task_arg(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "web",
        help="run exported models in a web page (LiteRT.js, ONNX Runtime Web), served on 127.0.0.1",
        description="Export each --model with a fixed batch of one (TFLite float32, int8 for segmentation, "
        "ONNX; each behind the parity gate) into web/models with sample images and a catalog, then serve "
        "the repository's web/ page on 127.0.0.1. Pages: index.html (semantic segmentation), stn.html "
        "(spatial transformer). Needs the page's npm packages: npm ci --prefix web.",
    )
    p.add_argument("--model", "-m", action="append", metavar="PATH",
                   help="a trained .keras model to export for the page (repeatable); none: serve what is there")
    p.add_argument("--models-dir", default=None, help="where the exports go (default web/models)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--no-serve", action="store_true", help="export only")
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("demo", help="train a tiny model on embedded data, evaluate, export, plot")
    p.add_argument("--model", default=DEMO_MODEL)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-examples", type=int, default=8000)
    p.add_argument("--test-examples", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--time-limit", type=float, default=570.0, help="training budget in seconds")
    p.add_argument("--out-dir", default=".", help="writes OUT_DIR/saved_models/demo and OUT_DIR/tflite/demo")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    """The console script. Called with ``argv`` (tests), TensorFlow's C++ logs are left alone."""
    words = list(sys.argv[1:] if argv is None else argv)
    if argv is None and "--verbose" not in words:
        filter_tensorflow_logs()  # already on when the package was imported by the console script
    # --verbose is accepted anywhere on the line (it is read above, not by a command).
    args = build_parser().parse_args([w for w in words if w != "--verbose"])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
