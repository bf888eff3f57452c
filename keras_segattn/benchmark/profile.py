"""Where a traced TensorFlow function spends its time, per op type.

The function is traced, its variables frozen to constants, and the graph run
in a ``tf.compat.v1.Session`` with full tracing; the per-node times of a few
runs are summed by op type. This is the profiler evidence the report gives
wherever an op or model is slower than its PyTorch twin.
"""

from __future__ import annotations

import collections

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def profile_ops(fn, *inputs, runs=3, warmup=2, top=8):
    """``[{"op": type, "ms": per-run milliseconds, "share": fraction}, ...]``, largest first.

    Args:
        fn: a Python function of tensors (it is wrapped in ``tf.function``).
        inputs: NumPy arrays it is called with.
    """
    specs = [tf.TensorSpec(x.shape, tf.as_dtype(x.dtype)) for x in inputs]
    concrete = tf.function(fn).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
    feeds = {t.name: x for t, x in zip(frozen.inputs, inputs)}
    fetches = [t.name for t in frozen.outputs]
    totals = collections.Counter()
    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
    with tf.compat.v1.Session(graph=graph) as session:
        for _ in range(warmup):
            session.run(fetches, feeds)
        for _ in range(runs):
            metadata = tf.compat.v1.RunMetadata()
            session.run(fetches, feeds, options=options, run_metadata=metadata)
            for device in metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    op = node.timeline_label.split("(")[0].split(" = ")[-1] or node.node_name
                    totals[op] += (node.op_end_rel_micros - node.op_start_rel_micros) / runs
    total = sum(totals.values()) or 1.0
    return [
        {"op": op, "ms": round(us / 1e3, 3), "share": round(us / total, 3)}
        for op, us in totals.most_common(top)
    ]
