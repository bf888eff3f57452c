"""The noise floor of the distributed tests: how far two correct runs of the same training drift apart.

A 2-worker run and a single process see the same global batch, but the
all-reduce sums two half-batch gradients where the single process sums one
batch: the same mathematics in a different float order. Adam turns that
rounding into weight differences (a near-zero gradient's sign decides a
full-size step), so the two runs' weights cannot be compared bit for bit,
and the test's tolerance must come from how large that drift is for
*correct* runs, measured here over several seeds:

* ``single`` — the CLI's own training path in this process, default strategy;
* ``mirrored`` — the same, under ``MirroredStrategy`` over two logical CPU
  devices: the all-reduce's summation order in one process;
* ``multi_worker`` — the real thing, two ``keras-segattn train`` processes on
  loopback (``tests/distributed.py``), only with ``--multi-worker``;
* ``half_batch`` — a defect the test must catch: the single process with half
  the global batch (what replicas that do not sum their gradients amount to).

It reports, per seed and epoch count, the largest absolute weight difference
between each pair, the relative L2 distance of all weights and the relative
``val_loss`` difference. The tolerance in
``tests/test_distributed_training.py`` is derived from the largest of these.

    PYTHONPATH=. python tools/distributed_noise.py --seeds 0 1 2 3 4 --epochs 1 3 --multi-worker
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

# Two logical CPU devices must exist before TensorFlow's runtime starts.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tools._common import write_result  # noqa: E402


def cli_value(flag):
    from tests.distributed import TRAIN_ARGS

    return TRAIN_ARGS[TRAIN_ARGS.index(flag) + 1]


def train_in_process(strategy, seed, epochs, batch_size=None):
    """What ``keras-segattn train`` does with tests/distributed.py's TRAIN_ARGS, in this process."""
    from keras_segattn.registry import build_model
    from keras_segattn.tasks import task_of

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_model(cli_value("train"), dropout=0.0)
    model, history = task_of(model).train(
        model, image_size=int(cli_value("--image-size")), train_examples=int(cli_value("--train-examples")),
        val_examples=int(cli_value("--val-examples")), epochs=epochs, batch_size=batch_size or int(cli_value("--batch-size")),
        seed=seed, jit_compile=False, strategy=strategy, verbose=0,
    )
    return model.get_weights(), float(history.history["val_loss"][-1])


def train_multi_worker(seed, epochs):
    from tests.distributed import (
        TRAIN_ARGS,
        env_for,
        free_ports,
        result_of,
        start,
        wait_all,
        weights_of,
    )

    with tempfile.TemporaryDirectory() as tmp:
        args = list(TRAIN_ARGS)
        args[args.index("--seed") + 1] = str(seed)
        args[args.index("--epochs") + 1] = str(epochs)
        out = os.path.join(tmp, "mw.keras")
        ports = free_ports(2)
        logs = [os.path.join(tmp, f"w{i}.log") for i in range(2)]
        procs = [start(args + ["-o", out], env_for(i, ports), logs[i]) for i in range(2)]
        codes = wait_all(procs, timeout=600)
        if codes != [0, 0]:
            raise RuntimeError(open(logs[0]).read()[-3000:])
        return weights_of(out), float(result_of(logs[0])["val_loss"])


def max_abs(a, b):
    return float(max(np.max(np.abs(x - y)) for x, y in zip(a, b)))


def relative_l2(a, b):
    """||a - b|| / ||b|| over all weights: unlike the largest difference, not
    decided by the one near-zero-gradient weight whose Adam step flipped."""
    a, b = (np.concatenate([w.ravel() for w in ws]).astype("float64") for ws in (a, b))
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--multi-worker", action="store_true", help="also run the real 2-process job per seed")
    parser.add_argument("--output", default="distributed_noise")
    args = parser.parse_args()
    cpus = tf.config.list_logical_devices("CPU")
    mirrored = tf.distribute.MirroredStrategy([d.name for d in cpus[:2]])
    rows = []
    for epochs in args.epochs:
        for seed in args.seeds:
            start = time.perf_counter()
            runs = {
                "single": train_in_process(tf.distribute.get_strategy(), seed, epochs),
                "mirrored": train_in_process(mirrored, seed, epochs),
            }
            if args.multi_worker:
                runs["multi_worker"] = train_multi_worker(seed, epochs)
            # What the tolerance must catch: the same data in a different
            # training (half the global batch, as when replicas do not sum).
            runs["half_batch"] = train_in_process(
                tf.distribute.get_strategy(), seed, epochs, batch_size=int(cli_value("--batch-size")) // 2
            )
            row = {"seed": seed, "epochs": epochs, "seconds": round(time.perf_counter() - start, 1)}
            names = list(runs)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    row[f"max_abs_weight_{a}_vs_{b}"] = max_abs(runs[a][0], runs[b][0])
                    row[f"rel_l2_weight_{a}_vs_{b}"] = relative_l2(runs[a][0], runs[b][0])
                    row[f"val_loss_rel_{a}_vs_{b}"] = abs(runs[a][1] - runs[b][1]) / abs(runs[b][1])
            rows.append(row)
            print(row, flush=True)
    summary = {}
    for key in rows[0]:
        if key.startswith(("max_abs", "rel_l2", "val_loss_rel")):
            for epochs in args.epochs:
                # The defect's row is how small it gets, the others how large.
                pick = min if "half_batch" in key else max
                summary[f"{pick.__name__}_{key}@{epochs}ep"] = pick(r[key] for r in rows if r["epochs"] == epochs)
    from tests.distributed import TRAIN_ARGS

    path = write_result(args.output, {"args": vars(args), "train_args": TRAIN_ARGS, "summary": summary, "rows": rows})
    for key, value in summary.items():
        print(f"{value:.3g}  {key}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
