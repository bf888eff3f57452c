"""The benchmark's own arithmetic: FLOP counts against TensorFlow's registry, interleaved timing.

The PyTorch comparisons run in tools/benchmark.py (torch is a `bench` extra,
not a test dependency); here the report runs without asking for torch's
columns to exist, and its numbers are checked for shape, not speed. The
``benchmark`` command's bad options are in tests/test_cli_sweep.py.
"""

import collections
import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import keras_segattn as ksa
from keras_segattn.benchmark import model_flops, run, to_markdown
from keras_segattn.benchmark.timing import compare

MAC_OPS = ("Conv2D", "Conv2DBackpropInput", "MatMul", "BatchMatMulV2")


def _registry_flops(model):
    """FLOPs of the multiply-add ops of the traced, frozen graph, from TensorFlow's own statistics registry."""
    spec = tf.TensorSpec((1, *model.inputs[0].shape[1:]))
    graph = convert_variables_to_constants_v2(
        tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    ).graph
    per_type = collections.Counter()
    for op in graph.get_operations():
        if op.type in MAC_OPS:
            per_type[op.type] += int(tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value)
    return sum(per_type.values()), per_type


@pytest.mark.parametrize(
    "name, options",
    [
        ("fcn8s_tiny", {"input_shape": (64, 64, 3)}),
        ("deconvnet_tiny", {}),  # a 4x4 fc6: MatmulConv2DTranspose's general path
        ("deconvnet", {"widths": (8, 8, 16, 16, 16), "fc_units": 32, "fc_kernel": 2, "input_shape": (64, 64, 3)}),
    ],
)
def test_model_flops_equal_tensorflows_count_of_the_traced_graph(name, options):
    model = ksa.build_model(name, **options)
    expected, per_type = _registry_flops(model)
    assert per_type["Conv2D"] and per_type["Conv2DBackpropInput"], per_type  # both kinds are counted
    assert model_flops(model) == expected


def test_model_flops_needs_a_fixed_size():
    with pytest.raises(ValueError, match=r"model_flops: the model's input shape must be fixed, received \(None"):
        model_flops(ksa.build_model("fcn8s_tiny"))


def test_compare_interleaves_the_contenders_and_reports_medians():
    calls = []
    contenders = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    result = compare(contenders, rounds=4, min_seconds=0.0, warmup=2)
    # warm-up: the first call, one more, and one timing call each; then a, b, a, b, ...
    assert calls[:3] == ["a"] * 3 and calls[3:6] == ["b"] * 3
    assert calls[6:] == ["a", "b"] * 4
    for name in contenders:
        assert result[name]["repeats"] == 1 and len(result[name]["rounds"]) == 4
        assert result[name]["seconds"] == float(np.median(result[name]["rounds"]))


def test_quick_report_runs_and_renders(tmp_path):
    report = run(["hardware", "ops"], quick=True, threads=2)
    assert report["hardware"]["flop_per_s"]["tensorflow"] > 0
    kinds = {(row["op"], row["direction"]) for row in report["ops"]}
    assert kinds == {(op, d) for op in ("pool_unpool", "sampler", "attention") for d in ("forward", "forward_backward")}
    for row in report["ops"]:
        assert row["seconds"]["keras"] > 0 and row["seconds"]["keras_xla"] > 0
        if "torch" in row["seconds"]:  # torch installed: the same arithmetic as ours
            if row["direction"] == "forward":
                assert row["max_abs_difference_vs_torch"] < 1e-4, row
    text = to_markdown(report)
    assert "| pool_unpool | 2x8x8x4 | forward |" in text and "GFLOP/s" in text
    json.dumps(report)  # the report is JSON as written


def test_benchmark_command_writes_the_report_and_the_tables(tmp_path, capsys):
    from keras_segattn import cli

    report, table = tmp_path / "out" / "r.json", tmp_path / "r.md"
    assert cli.main(["benchmark", "--quick", "--sections", "hardware", "-o", str(report), "--markdown", str(table)]) == 0
    data = json.loads(report.read_text())
    assert data["quick"] is True and data["hardware"]["matmul_size"] == 512
    assert "Dense float32 matmul 512²" in table.read_text() and "Dense float32 matmul" in capsys.readouterr().out
