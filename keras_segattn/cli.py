"""``keras-segattn``: list, train, evaluate, export, inspect, predict, web, demo and benchmark.

Run ``keras-segattn COMMAND --help`` for each command's arguments.

A user error (a bad option value, a missing or corrupt file, an unwritable
output, an option the model's task has no use for) prints one line starting
with ``error:`` on stderr and exits with status 2, before any training starts;
``--debug`` adds the traceback. Other exceptions are bugs and keep theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from keras_segattn import _cli_checks as checks
from keras_segattn._cli_checks import UserError
from keras_segattn._tf_logs import filter_tensorflow_logs

DEMO_MODEL = "deconvnet_tiny"


def _load_model(path_or_name: str, **overrides):
    """A ``.keras`` file, or a registered model name (built fresh)."""
    import keras

    import keras_segattn as ksa

    if path_or_name.endswith(".keras"):
        checks.keras_file(path_or_name)
        try:
            return keras.saving.load_model(path_or_name)
        except (TypeError, ValueError) as error:
            raise UserError(
                f"MODEL {path_or_name!r} is not a valid .keras file: {str(error).splitlines()[0][:300]} "
                "(files with keras_segattn layers load after `import keras_segattn`; in Python, add that line "
                "before keras.saving.load_model)."
            ) from None
    try:
        return ksa.build_model(path_or_name, **overrides)
    except ValueError as error:
        raise UserError(f"MODEL must be a registered model name or a .keras file: {error}") from None


def _num_classes(model) -> int:
    return int(model.outputs[0].shape[-1])


def _task(model, name=None):
    """The model's task; ``--task`` names it for models that do not know theirs, and may not contradict one that does."""
    from keras_segattn.tasks import task_of

    try:
        task = task_of(model, name)
        known = task_of(model, required=False) if name else None
    except (TypeError, ValueError) as error:
        raise UserError(f"--task: {error}" if name else str(error)) from None
    if known is not None and known.name != task.name:
        raise UserError(f"--task must be {known.name} for {model.name} (or left out); received {name!r}")
    return task


def _run(step, *args, **kwargs):
    """A task step whose bad-input errors become one-line CLI errors."""
    try:
        return step(*args, **kwargs)
    except (ValueError, NotImplementedError) as error:
        raise UserError(str(error)) from None


# The CLI options a task's train/evaluate may refuse, by their keyword.
_TASK_OPTIONS = {"data": "--data", "data_dir": "--data-dir", "image_size": "--image-size", "lr_schedule": "--lr-schedule"}


def _accepts(step, key: str) -> bool:
    import inspect

    return any(n == key and p.kind is not p.VAR_KEYWORD for n, p in inspect.signature(step).parameters.items())


def _check_task_options(task, step, model, options: dict):
    """Refuse options the task's ``step`` (``task.train``...) has no parameter for, before it runs,
    saying which tasks take them."""
    from keras_segattn.tasks import get_task, list_tasks

    for key, value in options.items():
        if value is not None and not _accepts(step, key):
            takers = [n for n in list_tasks() if _accepts(getattr(get_task(n), step.__name__), key)]
            raise UserError(
                f"{_TASK_OPTIONS.get(key, key)} applies to {' and '.join(takers) or 'no'} models only; received "
                f"{value!r} for {model.name} ({task.name}: unsupported option(s) [{key!r}])"
            )


# ---------------------------------------------------------------- commands
def cmd_list(args):
    from keras_segattn.registry import get_spec, list_models
    from keras_segattn.tasks import list_tasks

    families = sorted({get_spec(name).family for name in list_models()})
    if args.family is not None and args.family not in families:
        raise UserError(f"--family must be a known family; received {args.family!r}. Known: {', '.join(families)}")
    if args.task is not None and args.task not in list_tasks():
        raise UserError(f"--task must be a registered task; received {args.task!r}. Known: {', '.join(list_tasks())}")
    specs = [get_spec(n) for n in list_models(args.pattern, family=args.family, task=args.task)]
    if not specs:
        raise UserError(
            f"PATTERN {args.pattern!r} matches no registered model"
            + (f" of --family {args.family!r}" if args.family else "")
            + (f" of --task {args.task!r}" if args.task else "")
            + "; `keras-segattn list` shows them all"
        )
    rows = [(s.name, s.family, s.task, "tiny variant" if s.tiny else s.paper) for s in specs]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(f"{v:<{w}}" for v, w in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _override(text: str):
    """``key=value`` with a JSON value (``dropout=0``, ``widths=[8,16,32]``), else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expects KEY=VALUE (e.g. dropout=0); received {text!r}")
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
        raise argparse.ArgumentTypeError(f"must be 'epoch' or a positive number of steps; received {checks.shown(value)}")
    return steps


def _trains_on_named_data(name) -> bool:
    """Whether the registered model ``name``'s task trains on ``--data`` (asked of the task, not its name)."""
    from keras_segattn.registry import find_spec
    from keras_segattn.tasks import get_task

    spec = find_spec(name)
    return spec is not None and _accepts(get_task(spec.task).train, "data")


def _check_train_args(args):
    """What can be refused without a model: before TensorFlow starts."""
    checks.writable_path(args.output, "--output/-o", (".keras",))
    if args.checkpoint_best:
        checks.writable_path(args.checkpoint_best, "--checkpoint-best", (".keras",))
    for option, folder in (("--tensorboard-dir", args.tensorboard_dir), ("--backup-dir", args.backup_dir)):
        if folder:
            checks.writable_path(folder, option, directory=True)
    if args.data_dir and not os.path.isdir(args.data_dir):
        raise UserError(f"--data-dir must be an existing folder; received {args.data_dir!r}")
    if args.data and (args.model.endswith(".keras") or _trains_on_named_data(args.model)):
        checks.prepared_dataset(args.data, args.data_dir)
    if args.image_size is not None and args.image_size < 16 and args.data in (None, "synthetic"):
        raise UserError(f"--image-size must be >= 16 for the embedded shapes data; received {args.image_size}")
    if args.train_examples < args.batch_size:
        # Batches drop their remainder: a run would train on no batch at all.
        raise UserError(
            f"--train-examples must be at least one batch (--batch-size {args.batch_size}); "
            f"received {args.train_examples}"
        )


def _check_image_size(model, args, spec, overrides, scope):
    """``--image-size`` the model can take: a fixed-size registered model is rebuilt at that size (its
    builder refuses sizes it cannot take, e.g. DeconvNet's multiples of 16); a dynamic one is traced there
    symbolically."""
    size = args.image_size
    shape = tuple(model.inputs[0].shape)
    if size is None or len(shape) != 4:
        return model
    if shape[1:3] == (size, size) or (shape[1] is None and shape[2] is None):
        if shape[1] is None:
            import keras

            try:  # symbolically, nothing allocated: the layers refuse sizes they cannot take
                model.compute_output_spec(keras.KerasTensor((1, size, size, shape[3])))
            except (ValueError, TypeError) as error:
                raise UserError(f"--image-size {size} does not fit {model.name}: {error}") from None
        return model
    if spec is None or "input_shape" not in spec.parameters() or "input_shape" in overrides:
        raise UserError(
            f"--image-size must match the input size of {model.name}, {shape[1]}x{shape[2]}; received {size}"
        )
    from keras_segattn.registry import build_model

    try:
        with scope():  # the model trained: in the strategy's scope
            return build_model(args.model, **{**overrides, "input_shape": (size, size, shape[3])})
    except ValueError as error:
        raise UserError(f"--image-size {size} does not fit {model.name}: {error}") from None


def cmd_train(args):
    _check_train_args(args)
    # The strategy comes first: multi-worker collectives must be configured
    # before TensorFlow's runtime starts.
    from keras_segattn.training import (
        AtomicModelCheckpoint,
        describe_strategy,
        get_strategy,
        precision_policy,
        save_model_atomic,
    )
    from keras_segattn.training.backup import _is_chief

    try:
        strategy = get_strategy(args.strategy)
    except ValueError as error:
        raise UserError(f"--strategy {args.strategy}: {error}") from None
    import keras
    import tensorflow as tf

    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(args.seed)
    spec, overrides = None, dict(args.set or [])
    if args.model.endswith(".keras"):
        if args.set or args.num_classes:
            raise UserError(f"--set and --num-classes apply to registered names, not .keras files; received {args.model!r}")
        with strategy.scope():
            model = _load_model(args.model)
    else:
        from keras_segattn.registry import build_model, get_spec

        if args.num_classes:
            overrides["num_classes"] = args.num_classes
        try:
            spec = get_spec(args.model)
        except ValueError as error:
            raise UserError(f"MODEL must be a registered model name or a .keras file: {error}") from None
        if args.num_classes and "num_classes" not in spec.parameters():
            raise UserError(f"--num-classes does not apply to {args.model} ({spec.task}); received {args.num_classes}")
        try:
            with strategy.scope(), precision_policy(args.precision):
                model = build_model(args.model, **overrides)
        except (TypeError, ValueError) as error:
            given = "/".join(o for o, v in (("--set", args.set), ("--num-classes", args.num_classes)) if v)
            raise UserError(f"{given}: {error}" if given else str(error)) from None
    task = _task(model, args.task)
    # Task-specific options: None means "not given" (a task refuses options it has no use for).
    options = {"data": args.data, "data_dir": args.data_dir, "image_size": args.image_size, "lr_schedule": args.lr_schedule}
    _check_task_options(task, task.train, model, options)
    import contextlib

    @contextlib.contextmanager
    def scope():
        with strategy.scope(), precision_policy(args.precision):
            yield

    model = _check_image_size(model, args, spec, overrides, scope)
    size = args.image_size or (model.inputs[0].shape[1] if len(model.inputs[0].shape) == 4 else None) or 64
    checks.check_memory(model, args.batch_size, size, args.allow_large)
    callbacks = []
    if args.tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(args.tensorboard_dir))
    if args.checkpoint_best:
        monitor, mode = task.monitor
        callbacks.append(AtomicModelCheckpoint(args.checkpoint_best, monitor=monitor, mode=mode, save_best_only=True))
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
        save_model_atomic(model, args.output)
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
    if args.data_dir and not os.path.isdir(args.data_dir):
        raise UserError(f"--data-dir must be an existing folder; received {args.data_dir!r}")
    model = _load_model(args.model)
    task = _task(model, args.task)
    _check_task_options(task, task.evaluate, model, {"data": args.data, "data_dir": args.data_dir})
    checks.prepared_dataset(args.data, args.data_dir)
    metrics = _run(task.evaluate, model, examples=args.examples, seed=args.seed, data=args.data, data_dir=args.data_dir)
    print(json.dumps({"model": model.name, "task": task.name, **({"data": args.data} if args.data else {}), **metrics}))
    return 0


def _representative(spec: str | None):
    if spec is None:
        return None
    import numpy as np

    if not os.path.exists(spec):
        raise UserError(f"--representative-data {spec!r} does not exist (expected a .npy or .npz of inputs).")
    try:
        data = np.load(spec)
    except (OSError, ValueError) as error:
        raise UserError(f"--representative-data must be a .npy or .npz of inputs; received {spec!r} ({error})") from None
    return data[data.files[0]] if hasattr(data, "files") else data


def cmd_export(args):
    from keras_segattn.export import FlexOpsRequired, ParityError, export
    from keras_segattn.export.formats import backend

    if args.quantize and args.format != "tflite":
        raise UserError(f"--quantize applies to --format tflite only (received --format {args.format}).")
    if args.quantize == "int8" and args.representative_data is None and not args.embedded_representative_data:
        raise UserError(
            "--quantize int8 needs calibration data: pass --representative-data FILE.npy "
            "or --embedded-representative-data to use the model's embedded training data."
        )
    if args.representative_data is not None:
        checks.existing_file(args.representative_data, "--representative-data", "a .npy or .npz of inputs")
    if args.output is not None:
        suffix = {"tflite": (".tflite",), "onnx": (".onnx",)}.get(args.format)
        checks.writable_path(args.output, "--output/-o", suffix, directory=args.format == "savedmodel")
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
        raise UserError(str(error)) from None
    print(f"wrote {output} and {output}.json (sha256 {manifest['sha256'][:12]}...)")
    return 0


def cmd_inspect(args):
    from keras_segattn.export import inspect_artifact

    if args.verify:
        return _verify(args.artifact)
    try:
        info = inspect_artifact(args.artifact)
    except (ValueError, OSError, RuntimeError) as error:
        raise UserError(_unreadable(args.artifact, error)) from None
    except Exception as error:
        # A corrupt ONNX file fails in protobuf's parser (DecodeError, not a ValueError).
        if type(error).__name__ != "DecodeError":
            raise
        raise UserError(_unreadable(args.artifact, error)) from None
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


def _unreadable(path, error) -> str:
    text = str(error)
    return text if text.startswith("inspect:") else f"ARTIFACT {path!r} is not a valid artifact (corrupt?): {text}"


def _verify(path):
    """``inspect --verify``: the artifact's bytes against its manifest's sha256 (no model needed)."""
    from keras_segattn.export import publish
    from keras_segattn.export.exporter import read_manifest

    path = publish.normalize(path)
    if not os.path.exists(path):
        raise UserError(f"ARTIFACT must be an exported artifact; received {path!r}, which does not exist")
    try:
        manifest = read_manifest(path)
    except (ValueError, OSError) as error:  # missing, foreign or unreadable manifest
        raise UserError(f"ARTIFACT {path!r} failed verification: {error}") from None
    digest, size = publish.sha256_of(path)
    if not isinstance(manifest, dict) or manifest.get("sha256") != digest:
        raise UserError(
            f"ARTIFACT {path!r} failed verification: its sha256 {digest[:12]}... differs from the manifest's "
            f"{str(manifest.get('sha256'))[:12]}... (the file changed or is corrupt; export it again)"
        )
    passed = bool(manifest.get("parity", {}).get("passed"))
    print(f"verified {path}: sha256 {digest[:12]}... matches its manifest ({size} bytes"
          f"{'; parity passed' if passed else ''})")
    return 0


def cmd_web(args):
    from keras_segattn.web import check_web_dir, export_for_web, serve

    try:
        for path in args.model or ():
            if path.endswith(".keras"):  # other names: the library says a .keras file is needed
                checks.keras_file(path, "--model/-m", "a trained .keras file")
        if args.models_dir:
            checks.writable_path(args.models_dir, "--models-dir", directory=True)
        web_dir = check_web_dir()
        if args.model:
            export_for_web(args.model, args.models_dir)
        if args.no_serve:
            return 0
        server = serve(models_dir=args.models_dir, port=args.port)
    except ValueError as error:
        raise UserError(str(error)) from None
    print(f"serving {web_dir} at {server.url}  (segmentation: {server.url}index.html, "
          f"spatial transformer: {server.url}stn.html; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


_PICTURES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def cmd_predict(args):
    checks.writable_path(args.output, "--output/-o", _PICTURES)
    model = _load_model(args.model)
    task = _task(model, args.task)
    looks_like_file = os.path.exists(args.input) or args.input.lower().endswith((".png", ".jpg", ".jpeg", ".npy"))
    # What INPUT is comes from the task (Task.predict_input), so a new family needs nothing here.
    if task.predict_input == "text" and looks_like_file:
        raise UserError(
            f"INPUT must be {task.predict_input_help} for {model.name} ({task.name}); received the file "
            f"{args.input!r} (images go to segmentation, classification or captioning models)"
        )
    if task.predict_input == "seed" and not (args.input.isdigit() and len(args.input) < 10):
        raise UserError(f"INPUT must be {task.predict_input_help} for {model.name} ({task.name}); received {args.input!r}")
    if task.predict_input == "image":
        checks.existing_file(args.input, "INPUT", f"{task.predict_input_help} for {model.name} ({task.name})"
                             + ("; sentences go to translation models" if " " in args.input else ""))
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
    from keras_segattn.training import evaluate_segmentation, save_model_atomic, train_segmentation
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

    save_model_atomic(inference_copy(model), keras_path)
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


def _sections(text: str) -> list:
    from keras_segattn.benchmark import SECTIONS

    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(SECTIONS)}, received {text!r}"
        )
    return names


def cmd_benchmark(args):
    from keras_segattn.benchmark import run, to_markdown

    checks.writable_path(args.output, "--output", (".json",))
    if args.markdown:
        checks.writable_path(args.markdown, "--markdown", (".md",))
    if args.model and not os.path.isfile(args.model):
        raise UserError(f"--model: {args.model!r} does not exist (a trained {DEMO_MODEL} .keras file).")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("note: PyTorch is not installed (pip install 'keras-segattn[bench]'); its columns are left out.",
              file=sys.stderr)
    report = run(args.sections, quick=args.quick, threads=args.threads, model_path=args.model,
                 progress=lambda text: print(text, file=sys.stderr, flush=True))
    from keras_segattn.training.atomic import atomic_write

    markdown = to_markdown(report)
    for path, text in ((args.output, json.dumps(report, indent=1)), (args.markdown, markdown + "\n")):
        if path:
            with atomic_write(path) as tmp, open(tmp, "w") as handle:
                handle.write(text)
    print(markdown)
    return 0


def cmd_demo(args):
    """Train a tiny model on embedded data, report held-out mIoU, export and verify, plot."""
    from keras_segattn.registry import get_spec

    try:
        spec = get_spec(args.model)
    except ValueError as error:
        raise UserError(f"--model: {error}") from None
    from keras_segattn.tasks import SemanticSegmentation, get_task

    if not isinstance(get_task(spec.task), SemanticSegmentation):  # the demo's recipe, data and plots are segmentation's
        raise UserError(f"--model must be a segmentation model (the demo trains on shapes); received {args.model!r} ({spec.task})")
    if args.train_examples < args.batch_size:
        raise UserError(
            f"--train-examples must be at least one batch (--batch-size {args.batch_size}); received {args.train_examples}"
        )
    checks.writable_path(args.out_dir, "--out-dir", directory=True)
    if not spec.tiny:  # the tiny models fit anywhere; a paper-size one is estimated first
        import keras_segattn as ksa

        model = ksa.build_model(args.model)
        checks.check_memory(model, args.batch_size, model.inputs[0].shape[1] or 64, args.allow_large)
        del model
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
class _UserExit(SystemExit):
    """Exit status 2; ``str()`` is the error line (what ``pytest.raises(SystemExit, match=...)`` reads)."""

    def __init__(self, line: str):
        super().__init__(2)
        self.line = line

    def __str__(self):
        return self.line


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors raised as one-line UserErrors (exit status 2 in ``main``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "-1e-3", "-inf" are values to refuse with a reason, not unknown options.
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.I)

    def error(self, message):
        # "argument --epochs: must be ..." reads "--epochs must be ..."
        if message.startswith("argument "):
            name, _, rest = message[len("argument "):].partition(": ")
            message = f"{name} {rest}" if rest.startswith(("must", "expects")) else f"{name}: {rest}"
        raise UserError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keras-segattn",
        description="Segmentation and attention models (CS231n lecture 13) in Keras 3: "
        "list, train, evaluate, export (verified), inspect, predict, web, demo, benchmark.",
        epilog="Exit status: 0 on success; 2 on a user error (a bad option value, a missing, corrupt or "
        "unwritable file, an option the model's task does not take, a run larger than the memory), "
        "reported as one 'error:' line on stderr before any training starts (--debug adds the traceback).",
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ log lines (hidden by default)")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of user errors too (they print one line and exit with status 2)")
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
        p.add_argument("--seed", type=checks.count(0), default=0)
        task_arg(p)

    def task_arg(p):
        p.add_argument("--task", help="the model's task when it cannot be known (a model built outside "
                       "build_model): " + ", ".join(list_tasks()))

    from keras_segattn.export.formats import BACKENDS, FORMATS
    from keras_segattn.tasks import list_tasks

    p = sub.add_parser("train", help="train any registered model on its task's embedded data and save it as .keras")
    p.add_argument("model", help="registered name (e.g. fcn8s_tiny) or a .keras file to continue")
    p.add_argument("--output", "-o", default="runs/model.keras")
    p.add_argument("--epochs", type=checks.count(), default=10)
    p.add_argument("--batch-size", type=checks.count(), default=32, help="global batch size")
    p.add_argument("--learning-rate", type=checks.positive_float, default=2e-3)
    p.add_argument("--train-examples", type=checks.count(), default=8000, help="at least one batch")
    p.add_argument("--val-examples", type=checks.count(), default=500)
    p.add_argument("--image-size", type=checks.count(),
                   help="segmentation: the training image size (default: the model's, else 64); a fixed-size "
                   "model is rebuilt at it, and its builder refuses sizes it cannot take")
    p.add_argument("--num-classes", type=checks.count())
    p.add_argument("--set", type=_override, action="append", metavar="KEY=VALUE",
                   help="builder argument override, JSON value (e.g. --set dropout=0 --set fc_units=1024)")
    p.add_argument("--lr-schedule", choices=["cosine", "poly", "step", "constant"],
                   help="segmentation: learning-rate schedule (default cosine; other tasks: warm-up + cosine)")
    p.add_argument("--time-limit", type=checks.positive_float, help="stop after this many seconds")
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
    p.add_argument("--allow-large", action="store_true",
                   help="train even when the memory estimate exceeds the available memory. The estimate: "
                   "(parameters + batch size x the activations of one example, summed over the layers' outputs) "
                   "x 4 bytes x 3 (values, gradients, optimizer state), against MemAvailable of /proc/meminfo; "
                   "above it, train refuses (rather than be killed by the OS)")
    data_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="held-out metrics of the model's task (mean IoU, accuracy, BLEU...)")
    p.add_argument("model", help=".keras file or registered name")
    p.add_argument("--examples", type=checks.count(), default=1000)
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
    p.add_argument("--parity-samples", type=checks.count(), default=32, help="held-out examples the gate runs")
    p.add_argument("--batch-size", type=checks.count(), default=None, metavar="N",
                   help="tflite/onnx: fix the batch dimension (LiteRT.js in the browser needs 1); default dynamic")
    p.add_argument("--allow-flex", action="store_true", help="TFLite: accept TensorFlow (Flex) ops")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an artifact keras_segattn wrote at the output path (anything else is never replaced)")
    task_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("inspect", help="describe an exported artifact (ops, inputs, quantisation)")
    p.add_argument("artifact")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verify", action="store_true",
                   help="only check the artifact's bytes against its manifest's sha256: exit status 0 when they "
                   "match, 2 when they differ or the manifest is missing")
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
    p.add_argument("--port", type=checks.port, default=8000, help="0 picks a free port")
    p.add_argument("--no-serve", action="store_true", help="export only")
    p.set_defaults(func=cmd_web)

    p = sub.add_parser(
        "benchmark",
        help="ops and models against PyTorch, the hardware limit, deployment latency, peak memory",
        description="Times our ops and FCN-8s/DeconvNet against PyTorch twins (when torch is installed: "
        "pip install 'keras-segattn[bench]'), interleaved in one run, against a dense matmul's FLOP/s, and "
        "the demo model in every runtime; writes a JSON report and prints Markdown tables. The full run takes "
        "about 10 minutes on 2 cores.",
    )
    p.add_argument("--sections", type=_sections, default=None,
                   help="comma-separated: hardware, ops, models, deployment, memory (default: all)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few rounds: checks that it runs, "
                   "numbers are not meaningful")
    p.add_argument("--threads", type=checks.count(), default=None, help="threads for every framework "
                   "(default: all logical CPUs)")
    p.add_argument("--model", default=None, help=f"trained {DEMO_MODEL} .keras for the deployment section "
                   "(default: untrained weights)")
    p.add_argument("--output", "-o", default="benchmark.json", help="the JSON report")
    p.add_argument("--markdown", default=None, help="also write the tables to this .md file")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("demo", help="train a tiny model on embedded data, evaluate, export, plot")
    p.add_argument("--model", default=DEMO_MODEL)
    p.add_argument("--epochs", type=checks.count(), default=10)
    p.add_argument("--train-examples", type=checks.count(), default=8000)
    p.add_argument("--test-examples", type=checks.count(), default=1000)
    p.add_argument("--batch-size", type=checks.count(), default=32)
    p.add_argument("--learning-rate", type=checks.positive_float, default=2e-3)
    p.add_argument("--time-limit", type=checks.positive_float, default=570.0, help="training budget in seconds")
    p.add_argument("--out-dir", default=".", help="writes OUT_DIR/saved_models/demo and OUT_DIR/tflite/demo")
    p.add_argument("--seed", type=checks.count(0), default=0)
    p.add_argument("--allow-large", action="store_true",
                   help="run even when the memory estimate (see train --help) exceeds the available memory")
    p.set_defaults(func=cmd_demo)
    return parser


# Exceptions that mean a bad input, not a bug: the library validates what users pass with
# ValueError/TypeError (FlexOpsRequired is a ValueError), and files fail with OSError.
_USER_ERRORS = (UserError, ValueError, TypeError, OSError)


def _one_line(error) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if text.startswith("error:") else f"error: {text}"


def main(argv=None):
    """The console script. Called with ``argv`` (tests), TensorFlow's C++ logs are left alone.

    A user error prints one ``error: ...`` line on stderr and exits with status 2
    (``SystemExit(2)``); with ``--debug`` its traceback comes first.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if argv is None and "--verbose" not in words:
        filter_tensorflow_logs()  # already on when the package was imported by the console script
    # --verbose and --debug are accepted anywhere on the line (they are read here, not by a command).
    debug = "--debug" in words
    words = [w for w in words if w not in ("--verbose", "--debug")]
    try:
        args = build_parser().parse_args(words)
        return args.func(args)
    except _USER_ERRORS as error:
        if debug:
            import traceback

            traceback.print_exc()
        line = _one_line(error)
        print(line, file=sys.stderr, flush=True)
        raise _UserExit(line) from None


if __name__ == "__main__":
    sys.exit(main())
