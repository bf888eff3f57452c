"""Distribution strategies for ``model.fit``: one device, mirrored GPUs, multi-worker, TPU.

The engine is TensorFlow's own ``tf.distribute``; this module picks a strategy,
describes it, shards datasets correctly and carries one narrowly scoped
compatibility fix for Keras' ``model.fit`` under ``MultiWorkerMirroredStrategy``.

Batch sizes: our pipelines batch with the **global** batch size; under a
strategy Keras splits every global batch across the replicas, so each replica
sees ``global_batch_size / num_replicas_in_sync`` examples.
:func:`global_batch_size` converts a per-replica size.
"""

from __future__ import annotations

import inspect
import json
import os

import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "get_strategy",
    "describe_strategy",
    "global_batch_size",
    "shard_for_strategy",
    "apply_multi_worker_fit_fix",
    "multi_worker_fit_fix_needed",
]

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}); received {raw[:200]!r}.") from None


def _is_multi_worker_config(config: dict) -> bool:
    cluster = config.get("cluster", {})
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker")) > 1


def get_strategy(name: str = "auto", devices=None) -> tf.distribute.Strategy:
    """A ``tf.distribute.Strategy`` by name.

    Args:
        name: ``"auto"`` (multi-worker when ``TF_CONFIG`` describes a cluster of
            several workers, mirrored when several GPUs are visible, else the
            default single-device strategy), ``"one_device"``, ``"mirrored"``,
            ``"multi_worker"`` (configured by ``TF_CONFIG``) or ``"tpu"``.
        devices: for ``"mirrored"``: device names (default: every GPU, or
            every logical CPU: one unless ``tf.config.set_logical_device_configuration``
            made more); for ``"one_device"``: one device name.

    Returns:
        The strategy. For ``"multi_worker"`` the Keras ``model.fit`` fix
        (:func:`apply_multi_worker_fit_fix`) is applied where Keras needs it.

    Example:
        >>> from keras_segattn.training import get_strategy
        >>> get_strategy("one_device").num_replicas_in_sync
        1
    """
    if name not in STRATEGIES:
        raise ValueError(f"get_strategy(name=...): strategy must be one of {', '.join(STRATEGIES)}; received {name!r}.")
    if devices is not None:
        from keras_segattn.validation import message

        items = [devices] if isinstance(devices, str) else devices
        if not isinstance(items, (list, tuple)) or not items or not all(isinstance(d, str) and d for d in items):
            raise ValueError(message("get_strategy", "devices", "None or device names such as ['/gpu:0']", devices))
        if name not in ("one_device", "mirrored"):
            raise ValueError(message("get_strategy", "devices", f"None for name={name!r} (devices choose the "
                                     "replicas of 'one_device' and 'mirrored')", devices))
    # Multi-worker collectives must be configured before TensorFlow's runtime
    # starts, so nothing here may initialise it first (physical device listing
    # does not).
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if _is_multi_worker_config(_tf_config()):
            name = "multi_worker"
        elif len(gpus) > 1:
            name = "mirrored"
        else:
            return tf.distribute.get_strategy()
    if name == "one_device":
        device = devices or ("/gpu:0" if gpus else "/cpu:0")
        if isinstance(device, (list, tuple)):
            if len(device) != 1:
                raise ValueError(f"one_device takes one device, received {device!r}.")
            device = device[0]
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        if devices is None and not gpus:
            # TensorFlow's own default is a single CPU replica. A process that
            # configured several logical CPUs asked for data parallelism over
            # them: the tests reproduce a 2-worker all-reduce in one process so.
            devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        config = _tf_config()
        if not config:
            raise ValueError(
                "strategy 'multi_worker' needs TF_CONFIG describing the cluster, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.'
            )
        apply_multi_worker_fit_fix()
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def describe_strategy(strategy) -> dict:
    """Kind, replicas and (multi-worker) task of ``strategy``, for logs."""
    if not isinstance(strategy, tf.distribute.Strategy):
        from keras_segattn.validation import message

        raise ValueError(message("describe_strategy", "strategy", "a tf.distribute.Strategy", strategy))
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        kind = "multi_worker"
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        kind = "mirrored"
    elif isinstance(strategy, tf.distribute.OneDeviceStrategy):
        kind = "one_device"
    elif isinstance(strategy, tf.distribute.TPUStrategy):
        kind = "tpu"
    else:
        kind = "default"
    info = {"strategy": kind, "strategy_class": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync}
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and getattr(resolver, "task_type", None):
        info.update({"task_type": resolver.task_type, "task_id": resolver.task_id})
    return info


def global_batch_size(per_replica: int, strategy=None) -> int:
    """``per_replica * num_replicas_in_sync`` of ``strategy`` (default: the current one)."""
    from keras_segattn.validation import check_positive_int, message

    per_replica = check_positive_int("global_batch_size", "per_replica", per_replica)
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(message("global_batch_size", "strategy", "None or a tf.distribute.Strategy "
                                 "(get_strategy(name) makes one)", strategy))
    strategy = strategy or tf.distribute.get_strategy()
    return per_replica * strategy.num_replicas_in_sync


def shard_for_strategy(dataset: tf.data.Dataset, strategy) -> tf.data.Dataset:
    """Shard by example (``AutoShardPolicy.DATA``) for multi-worker training.

    In-memory and generated datasets have no files to shard by; TensorFlow's
    ``AUTO`` policy falls back to DATA with a warning. Setting it explicitly
    gives each worker a disjoint slice of every global batch.
    """
    from keras_segattn.validation import message

    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(message("shard_for_strategy", "dataset", "a tf.data.Dataset", dataset))
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(message("shard_for_strategy", "strategy", "None or a tf.distribute.Strategy", strategy))
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


# ------------------------------------------------------------------------
# Keras issue 20585: model.fit under MultiWorkerMirroredStrategy.
#
# (1) TensorFlowTrainer._maybe_symbolic_build averages the first distributed
#     batch with strategy.reduce("MEAN", ...) eagerly, which collective
#     (multi-worker) strategies cannot do with PerReplica values; the batch is
#     only needed for its shapes, so the first local replica's values serve.
# (2) reduce_per_replica reduces the scalar logs with strategy.reduce("MEAN",
#     v, axis=0): "Invalid reduction dimension 0 for input with 0 dimensions".
#     Scalars need axis=None.
# The fix is applied only when the installed Keras still has the failing code
# (checked on its source), and the patched functions fall through to Keras'
# own for every strategy that is not multi-worker.
# ------------------------------------------------------------------------
_PATCHED = False


def _trainer_module():
    from keras.src.backend.tensorflow import trainer

    return trainer


def multi_worker_fit_fix_needed() -> dict:
    """Which of the two multi-worker ``fit`` defects the installed Keras has."""
    trainer = _trainer_module()
    build_src = inspect.getsource(trainer.TensorFlowTrainer._maybe_symbolic_build)
    reduce_src = inspect.getsource(trainer.reduce_per_replica)
    return {
        "symbolic_build_eager_reduce": 'distribute_strategy.reduce(' in build_src.replace("\n", "").replace(" ", ""),
        "scalar_reduce_axis0": 'strategy.reduce("MEAN", v, axis=0)' in reduce_src,
    }


def apply_multi_worker_fit_fix() -> dict:
    """Patch Keras for multi-worker ``fit`` where (and only where) it is broken.

    Idempotent. Returns :func:`multi_worker_fit_fix_needed`'s dict: the
    defects found (and therefore patched) in the installed Keras.
    """
    global _PATCHED
    needed = multi_worker_fit_fix_needed()
    if _PATCHED or not any(needed.values()):
        return needed
    trainer = _trainer_module()
    multi_worker = trainer._collective_all_reduce_multi_worker

    if needed["symbolic_build_eager_reduce"]:
        original_build = trainer.TensorFlowTrainer._maybe_symbolic_build

        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            strategy = self._distribute_strategy
            if strategy is None or iterator is None or not multi_worker(strategy):
                return original_build(self, iterator=iterator, data_batch=data_batch)
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues)
                    else x,
                    batch,
                )
                break
            with strategy.scope():
                self._symbolic_build(data_batch=data_batch)

        trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build

    if needed["scalar_reduce_axis0"]:
        original_reduce = trainer.reduce_per_replica

        def reduce_per_replica(values, strategy, reduction):
            if reduction in ("auto", "mean") and multi_worker(strategy):

                def scalar_mean(v):
                    if trainer._is_per_replica_instance(v) or isinstance(v, tf.Tensor):
                        rank = v.values[0].shape.rank if trainer._is_per_replica_instance(v) else v.shape.rank
                        if rank == 0:
                            return strategy.reduce("MEAN", v, axis=None)
                    return original_reduce(v, strategy, reduction)

                return tf.nest.map_structure(scalar_mean, values)
            return original_reduce(values, strategy, reduction)

        trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
    return needed
