"""The benchmark report: ops and models against PyTorch, the hardware limit, deployment, memory.

Every speed figure is a ratio of times measured in the same run, interleaved
(:func:`keras_segattn.benchmark.timing.compare`). ``speedup`` is PyTorch's
time divided by ours: above 1, ours is faster.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile

import numpy as np

from keras_segattn.benchmark.flops import model_flops
from keras_segattn.benchmark.timing import compare

SECTIONS = ("hardware", "ops", "models", "deployment", "memory")
MODELS = ("fcn8s", "deconvnet")
DEMO_MODEL = "deconvnet_tiny"


def _torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def machine(threads):
    import keras
    import tensorflow as tf

    info = {
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    torch = _torch(threads)
    info["torch"] = torch.__version__ if torch else None
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ------------------------------------------------------------------ hardware
def hardware(quick=False, threads=2):
    """FLOP/s of a large float32 matmul, TensorFlow (and PyTorch) in the same run."""
    import tensorflow as tf

    n = 512 if quick else 2048
    a = tf.random.normal((n, n), seed=0)
    matmul = tf.function(lambda: tf.matmul(a, a))
    contenders = {"tensorflow": lambda: matmul().numpy()}
    torch = _torch(threads)
    if torch:
        b = torch.randn(n, n)
        contenders["torch"] = lambda: (b @ b).numpy()
    times = compare(contenders, rounds=5 if quick else 9, min_seconds=0.02 if quick else 0.2)
    flops = 2 * n**3
    return {
        "matmul_size": n,
        "flop_per_s": {name: flops / t["seconds"] for name, t in times.items()},
        "seconds": {name: t["seconds"] for name, t in times.items()},
    }


# ------------------------------------------------------------------ ops
def _grad_fn(tf, fn, watched):
    """``fn``'s forward + backward (gradient of sum(y^2)) w.r.t. the inputs in ``watched`` and its variables."""

    def forward_backward(*inputs):
        with tf.GradientTape() as tape:
            for i in watched:
                tape.watch(inputs[i])
            y = fn(*inputs)
            loss = tf.reduce_sum(y * y)
        variables = list(getattr(fn, "trainable_variables", []))
        return tape.gradient(loss, [inputs[i] for i in watched] + variables)

    return forward_backward


def _op_cases(quick):
    if quick:
        return [
            ("pool_unpool", (2, 8, 8, 4)),
            ("sampler", (2, 8, 8, 2)),
            ("attention", (2, 3, 5, 8, 8)),
        ]
    return [
        ("pool_unpool", (8, 64, 64, 64)),
        ("pool_unpool", (1, 224, 224, 64)),
        ("sampler", (8, 64, 64, 16)),
        ("sampler", (128, 28, 28, 1)),
        ("attention", (32, 20, 30, 256, 256)),
        ("attention", (64, 1, 50, 512, 512)),
    ]


def _build_op(kind, size, torch):
    """(ours: callable of tensors, inputs, watched input indices, torch forward, torch inputs)."""
    import tensorflow as tf

    from keras_segattn import layers

    rng = np.random.default_rng(0)
    if kind == "pool_unpool":
        x = rng.normal(size=size).astype("float32")
        pool, unpool = layers.MaxPoolingWithArgmax2D(2), layers.MaxUnpooling2D(2)

        def ours(x):
            return unpool([*pool(x)])

        inputs, watched = [x], [0]
        if torch:
            from keras_segattn.benchmark import torch_twins

            twin, twin_inputs = torch_twins.pool_unpool, [torch.from_numpy(x.transpose(0, 3, 1, 2).copy())]
    elif kind == "sampler":
        b, h, w, c = size
        images = rng.normal(size=size).astype("float32")
        identity = np.array([1, 0, 0, 0, 1, 0], "float32")
        theta = (identity + 0.1 * rng.normal(size=(b, 6))).astype("float32")
        grid, sampler = layers.AffineGridGenerator((h, w)), layers.BilinearSampler()

        def ours(images, theta):
            return sampler([images, grid(theta)])

        inputs, watched = [images, theta], [0, 1]
        if torch:
            from keras_segattn.benchmark import torch_twins

            def twin(images, theta):
                return torch_twins.affine_sample(images, theta.reshape(-1, 2, 3), (h, w))

            twin_inputs = [torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), torch.from_numpy(theta)]
    elif kind == "attention":
        b, t, s, d, units = size
        query = rng.normal(size=(b, t, d)).astype("float32")
        values = rng.normal(size=(b, s, d)).astype("float32")
        attention = layers.BahdanauAttention(units)
        attention(query, values)

        class Ours:
            trainable_variables = attention.trainable_variables

            def __call__(self, query, values):
                return attention(query, values)[0]

        ours = Ours()
        inputs, watched = [query, values], [0, 1]
        if torch:
            from keras_segattn.benchmark import torch_twins

            module = torch_twins.AdditiveAttention(d, d, units)
            with torch.no_grad():  # the same weights, so the outputs can be compared
                module.query.weight.copy_(torch.from_numpy(np.asarray(attention.query_projection.kernel).T))
                module.key.weight.copy_(torch.from_numpy(np.asarray(attention.key_projection.kernel).T))
                module.v.weight.copy_(torch.from_numpy(np.asarray(attention.score.scale)[None]))

            def twin(query, values):
                return module(query, values)[0]

            twin.parameters = module.parameters
            twin_inputs = [torch.from_numpy(query), torch.from_numpy(values)]
    else:  # pragma: no cover - the table above is the whole list
        raise ValueError(kind)
    if not torch:
        twin, twin_inputs = None, None
    return tf, ours, inputs, watched, twin, twin_inputs


def _torch_backward(torch, twin, twin_inputs, watched):
    leaves = [x.clone().requires_grad_(i in watched) for i, x in enumerate(twin_inputs)]
    params = list(twin.parameters()) if hasattr(twin, "parameters") else []

    def run():
        for p in [leaves[i] for i in watched] + params:
            p.grad = None
        y = twin(*leaves)
        (y * y).sum().backward()
        return leaves[watched[0]].grad.numpy()

    return run


def ops(quick=False, threads=2, profile=True):
    torch = _torch(threads)
    results = []
    for kind, size in _op_cases(quick):
        results += _op_rows(kind, size, torch, quick, profile)
    return results


def _op_rows(kind, size, torch, quick, profile):
    rounds = 3 if quick else 7
    tf, ours, inputs, watched, twin, twin_inputs = _build_op(kind, size, torch)
    rows = []
    tensors = [tf.constant(x) for x in inputs]
    for direction in ("forward", "forward_backward"):
        fn = ours if direction == "forward" else _grad_fn(tf, ours, watched)
        graph, xla = tf.function(fn), tf.function(fn, jit_compile=True)
        contenders = {
            "keras": lambda g=graph: _block(g(*tensors)),
            "keras_xla": lambda g=xla: _block(g(*tensors)),
        }
        row = {"op": kind, "size": list(size), "direction": direction}
        if torch:
            if direction == "forward":
                def run_twin():
                    with torch.no_grad():
                        return twin(*twin_inputs).numpy()
            else:
                run_twin = _torch_backward(torch, twin, twin_inputs, watched)
            contenders["torch"] = run_twin
            if direction == "forward":
                ours_y = np.asarray(graph(*tensors))
                twin_y = run_twin()
                if ours_y.ndim == 4:
                    twin_y = twin_y.transpose(0, 2, 3, 1)
                row["max_abs_difference_vs_torch"] = float(np.max(np.abs(ours_y - twin_y)))
        times = compare(contenders, rounds=rounds, min_seconds=0.01 if quick else 0.05)
        row["seconds"] = {name: t["seconds"] for name, t in times.items()}
        if torch:
            row["speedup"] = {
                name: times["torch"]["seconds"] / times[name]["seconds"] for name in ("keras", "keras_xla")
            }
            if profile and row["speedup"]["keras"] < 1.0:
                row["profile"] = _profile(fn, inputs)
        rows.append(row)
    return rows


def _profile(fn, inputs):
    from keras_segattn.benchmark.profile import profile_ops

    return profile_ops(lambda *x: fn(*x), *inputs)


def _block(value):
    if isinstance(value, (list, tuple)):
        return [np.asarray(v) for v in value]
    return np.asarray(value)


# ------------------------------------------------------------------ models
def model_config(name, quick):
    """Keyword arguments for build_model and the twin, at the benchmark's fixed size."""
    if quick:
        arch = {"widths": (8, 8, 16, 16, 16), "fc_units": 32, "num_classes": 5}
        size = 64
        if name == "deconvnet":
            arch["fc_kernel"] = 2
        else:
            arch["fc_kernel"] = 3
    else:
        arch, size = {"num_classes": 21}, 224
    return arch, size


def build_pair(name, quick, torch, keras_model=True):
    """(our model, its PyTorch twin or None, input size)."""
    import keras_segattn as ksa

    arch, size = model_config(name, quick)
    ours = ksa.build_model(name, input_shape=(size, size, 3), **arch) if keras_model else None
    twin = None
    if torch:
        from keras_segattn.benchmark import torch_twins

        twin_cls = {"fcn8s": torch_twins.FCN8s, "deconvnet": torch_twins.DeconvNet}[name]
        twin = twin_cls(**arch)
    return ours, twin, size


def models(quick=False, threads=2, hardware_report=None, profile=True):
    torch = _torch(threads)
    return [_model_row(name, quick, torch, hardware_report, profile) for name in MODELS]


def _model_row(name, quick, torch, hardware_report, profile):
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    ours, twin, size = build_pair(name, quick, torch)
    flops = model_flops(ours)
    row = {"model": name, "input": [size, size, 3], "forward_gflop": flops / 1e9,
           "trainable_parameters": {"keras": int(sum(np.prod(w.shape) for w in ours.trainable_weights))}}
    if twin is not None:
        # the same architecture on both sides (BatchNorm statistics are buffers in torch, not parameters)
        row["trainable_parameters"]["torch"] = int(sum(p.numel() for p in twin.parameters() if p.requires_grad))
    # inference, batch 1
    x = rng.uniform(0, 255, (1, size, size, 3)).astype("float32")
    xt = tf.constant(x)
    graph = tf.function(lambda a: ours(a, training=False))
    xla = tf.function(lambda a: ours(a, training=False), jit_compile=True)
    contenders = {"keras": lambda: graph(xt).numpy(), "keras_xla": lambda: xla(xt).numpy()}
    if twin is not None:
        twin.eval()
        xp = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

        def twin_infer():
            with torch.no_grad():
                return twin(xp).numpy()

        contenders["torch"] = twin_infer
    times = compare(contenders, rounds=3 if quick else 5, min_seconds=0.0)
    row["inference"] = _timing_row(times, batch=1)
    if hardware_report:
        rate = hardware_report["flop_per_s"]["tensorflow"]
        row["flop_efficiency"] = {
            k: flops / times[k]["seconds"] / rate for k in ("keras", "keras_xla")
        }
    # training step, batch 2 (torch's BatchNorm refuses one value per channel at DeconvNet's 1x1 fc6)
    batch = 2
    xb = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    yb = rng.integers(0, ours.outputs[0].shape[-1], (batch, size, size)).astype("int32")
    contenders = {}
    for key, jit in (("keras", False), ("keras_xla", True)):
        model = keras.models.clone_model(ours)
        model.compile(
            optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        contenders[key] = lambda m=model: m.train_on_batch(xb, yb)
    if twin is not None:
        twin.train()
        optimizer = torch.optim.SGD(twin.parameters(), lr=1e-3, momentum=0.9)
        xp = torch.from_numpy(xb.transpose(0, 3, 1, 2).copy())
        yp = torch.from_numpy(yb.astype("int64"))

        def twin_step():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(twin(xp), yp)
            loss.backward()
            optimizer.step()
            return loss.item()

        contenders["torch"] = twin_step
    times = compare(contenders, rounds=2 if quick else 3, min_seconds=0.0)
    row["training_step"] = _timing_row(times, batch=batch)
    if profile and twin is not None and row["inference"]["speedup"]["keras"] < 1.0:
        row["inference"]["profile"] = _profile(lambda a: ours(a, training=False), [x])
    return row


def _timing_row(times, batch):
    row = {"batch": batch, "seconds": {k: t["seconds"] for k, t in times.items()},
           "first_call_seconds": {k: t["first_call_seconds"] for k, t in times.items()}}
    if "torch" in times:
        row["speedup"] = {k: times["torch"]["seconds"] / times[k]["seconds"] for k in ("keras", "keras_xla")}
    return row


# ------------------------------------------------------------------ deployment
def deployment(quick=False, threads=2, model_path=None):
    """Batch-1 latency of the demo model: Keras predict and call, SavedModel, TFLite fp32/int8, ONNX Runtime."""
    import keras
    import tensorflow as tf

    import keras_segattn as ksa
    from keras_segattn.export import export

    model = ksa.build_model(DEMO_MODEL)
    source = "untrained"
    if model_path and os.path.exists(model_path):
        model.set_weights(keras.saving.load_model(model_path).get_weights())
        source = model_path
    size = model.inputs[0].shape[1]
    from keras_segattn.data import synthetic_shapes_arrays

    images, _ = synthetic_shapes_arrays("test", 8, image_size=size, num_classes=int(model.outputs[0].shape[-1]))
    x = images[:1].astype("float32")
    runners, notes = {}, {}
    runners["keras_predict"] = lambda: model.predict(x, verbose=0)
    call = tf.function(lambda a: model(a, training=False))
    runners["keras_call"] = lambda: call(x).numpy()
    with tempfile.TemporaryDirectory() as folder:
        artifacts = {
            "savedmodel": (os.path.join(folder, "sm"), {}),
            "tflite_fp32": (os.path.join(folder, "m.tflite"), {}),
            "tflite_int8": (os.path.join(folder, "m_int8.tflite"), {"quantize": "int8"}),
            "onnx": (os.path.join(folder, "m.onnx"), {}),
        }
        for key, (path, options) in artifacts.items():
            try:
                export(model, path, parity_samples=8 if quick else 32, verbose=False, **options)
            except Exception as error:  # noqa: BLE001 - a failed export is reported, not fatal
                notes[key] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                continue
            runners[key] = _runtime(key, path, x, threads)
        times = compare(runners, rounds=5 if quick else 9, min_seconds=0.02 if quick else 0.2)
    ms = {k: 1e3 * t["seconds"] for k, t in times.items()}
    row = {"model": DEMO_MODEL, "weights": source, "input": [size, size, 3], "threads": threads,
           "latency_ms": ms, "notes": notes}
    if "tflite_int8" in ms and "tflite_fp32" in ms:
        row["int8_over_fp32"] = ms["tflite_int8"] / ms["tflite_fp32"]
    return row


def _runtime(kind, path, x, threads):
    if kind == "savedmodel":
        import tensorflow as tf

        serve = tf.saved_model.load(path).signatures["serving_default"]
        name = list(serve.structured_input_signature[1])[0]
        return lambda: [v.numpy() for v in serve(**{name: tf.constant(x)}).values()]
    if kind.startswith("tflite"):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=path, num_threads=threads)
        runner = interpreter.get_signature_runner()
        name, detail = next(iter(runner.get_input_details().items()))
        feed = x if detail["dtype"] == np.float32 else np.clip(np.round(x), 0, 255).astype(detail["dtype"])
        return lambda: runner(**{name: feed})
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})


# ------------------------------------------------------------------ memory
def memory(quick=False, threads=2):
    """Peak resident memory of inference and of training steps, each in a fresh process."""
    frameworks = ["keras"] + (["torch"] if _torch(threads) else [])
    rows = []
    for name in MODELS:
        for mode in ("inference", "training"):
            row = {"model": name, "mode": mode}
            for framework in frameworks:
                command = [sys.executable, "-m", "keras_segattn.benchmark.memory", framework, name, mode,
                           "--threads", str(threads)] + (["--quick"] if quick else [])
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode:
                    raise RuntimeError(f"memory probe {command} failed:\n{done.stderr[-2000:]}")
                row[framework] = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
    return rows


# ------------------------------------------------------------------ all
def run(sections=SECTIONS, *, quick=False, threads=None, model_path=None, progress=None):
    """The whole report as a JSON-ready dict (see the module docstring)."""
    import tensorflow as tf

    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"run: sections must be among {', '.join(SECTIONS)}, received {unknown}.")
    threads = threads or os.cpu_count()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow has started already (in a test): its thread pool stays; recorded below
    say = progress or (lambda text: None)
    report = {"machine": machine(threads), "quick": quick}
    # 0 means TensorFlow's default: one thread per logical CPU.
    report["machine"]["tensorflow_intra_op_threads"] = (
        tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    )
    if "hardware" in sections or "models" in sections:
        say("hardware: dense matmul rate")
        report["hardware"] = hardware(quick, threads)
    if "ops" in sections:
        say("ops: pooling/unpooling, sampler, attention vs PyTorch")
        report["ops"] = ops(quick, threads)
    if "models" in sections:
        say("models: FCN-8s and DeconvNet vs PyTorch twins")
        report["models"] = models(quick, threads, report.get("hardware"))
    if "deployment" in sections:
        say("deployment: Keras, SavedModel, TFLite fp32/int8, ONNX Runtime")
        report["deployment"] = deployment(quick, threads, model_path)
    if "memory" in sections:
        say("memory: peak resident memory per process")
        report["memory"] = memory(quick, threads)
    return report
