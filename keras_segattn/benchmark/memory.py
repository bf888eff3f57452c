"""Child process of the memory section: ``python -m keras_segattn.benchmark.memory FRAMEWORK MODEL MODE``.

Prints one JSON line: the resident set after the imports (``baseline_mb``),
the peak resident set after building the model and running three inference
calls or training steps (``peak_mb``), and their difference (``added_mb``,
what the model and its steps cost). A fresh process per measurement, because
the peak of a process only grows. Both frameworks' processes import
keras_segattn (so TensorFlow); ``added_mb`` compares them.
"""

from __future__ import annotations

import argparse
import json
import os


def _status_mb(field):
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so a child would
    # report its parent's peak (the benchmark's own process, with TensorFlow loaded).
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _rss_mb():
    return _status_mb("VmRSS")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("keras", "torch"))
    parser.add_argument("model", choices=("fcn8s", "deconvnet"))
    parser.add_argument("mode", choices=("inference", "training"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from keras_segattn.benchmark.suite import _torch, build_pair, model_config

    torch = _torch(args.threads) if args.framework == "torch" else None
    if torch:
        from keras_segattn.benchmark import torch_twins  # noqa: F401
    baseline = _rss_mb()
    arch, size = model_config(args.model, args.quick)
    batch = 1 if args.mode == "inference" else 2
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = rng.integers(0, arch["num_classes"], (batch, size, size))
    if args.framework == "keras":
        ours = build_pair(args.model, args.quick, None)[0]

        if args.mode == "inference":
            for _ in range(3):
                ours.predict(x, verbose=0)
        else:
            ours.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                         loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            for _ in range(3):
                ours.train_on_batch(x, y.astype("int32"))
    else:
        twin = build_pair(args.model, args.quick, torch, keras_model=False)[1]
        xp = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        if args.mode == "inference":
            twin.eval()
            with torch.no_grad():
                for _ in range(3):
                    twin(xp)
        else:
            twin.train()
            optimizer = torch.optim.SGD(twin.parameters(), lr=1e-3, momentum=0.9)
            for _ in range(3):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(twin(xp), torch.from_numpy(y.astype("int64"))).backward()
                optimizer.step()
    peak = _status_mb("VmHWM")
    print(json.dumps({"baseline_mb": round(baseline, 1), "peak_mb": round(peak, 1),
                      "added_mb": round(peak - baseline, 1)}))


if __name__ == "__main__":
    main()
