"""The keras-segattn command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_segattn.cli import build_parser, main


def test_list(capsys):
    assert main(["list", "fcn*", "--family", "fcn"]) == 0
    out = capsys.readouterr().out
    assert "fcn8s " in out and "fcn8s_tiny" in out and "deconvnet" not in out


def test_export_help_documents_formats_and_quantization():
    text = build_parser()._subparsers._group_actions[0].choices["export"].format_help()
    for word in ("savedmodel", "tflite", "onnx", "float16", "dynamic", "int8", "--representative-data", "--output", "--allow-flex"):
        assert word in text


@pytest.mark.parametrize(
    "argv,message",
    [
        (["export", "fcn8s_tiny", "--format", "tflit"], "invalid choice: 'tflit'"),
        (["export", "fcn8s_tiny", "-f", "tflite", "-q", "int8"], "--quantize int8 needs calibration data"),
        (["export", "fcn8s_tiny", "-f", "onnx", "-q", "dynamic"], "--quantize applies to --format tflite only"),
        (["export", "no_such_model", "-f", "onnx"], "Unknown model name 'no_such_model'"),
        (["export", "missing.keras", "-f", "onnx"], "MODEL must be a registered model name or a .keras file; received 'missing.keras', which does not exist"),
        (["export", "fcn8s_tiny", "-f", "tflite", "-q", "int8", "--representative-data", "nope.npy"], "--representative-data must be a .npy or .npz of inputs; received 'nope.npy', which does not exist"),
        (["inspect", "nothing_here.tflite"], "inspect: path must be an exported artifact, received 'nothing_here.tflite'"),
        (["train", "fcn8s_tiny", "--set", "widths"], "--set expects KEY=VALUE"),
        (["train", "fcn8s_tiny", "--save-freq", "0"], "--save-freq must be 'epoch' or a positive number of steps"),
        (["train", "fcn8s_tiny", "--set", "no_such_arg=1"], "unknown argument(s) ['no_such_arg']"),
        (["train", "fcn8s_tiny", "--strategy", "multi_worker"], "strategy 'multi_worker' needs TF_CONFIG"),
    ],
)
def test_bad_arguments_fail_clearly(argv, message, capsys):
    # A user error: one line on stderr, exit status 2 (the sweep in test_cli_sweep.py covers every command).
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_export_output_not_writable(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as info:
        main(["export", "fcn8s_tiny", "-f", "tflite", "-o", str(blocker / "m.tflite")])
    assert info.value.code == 2 and "--output/-o is not writable" in capsys.readouterr().err


@pytest.mark.export
def test_train_evaluate_export_inspect(tmp_path, capsys):
    model_path = str(tmp_path / "m.keras")
    best, logs = str(tmp_path / "best.keras"), str(tmp_path / "tb")
    assert main([
        "train", "fcn8s_tiny", "-o", model_path, "--epochs", "2", "--train-examples", "64", "--val-examples", "16",
        "--batch-size", "16", "--lr-schedule", "poly", "--checkpoint-best", best, "--tensorboard-dir", logs,
        "--set", "fc_units=64",
    ]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["output"] == model_path and "val_mean_iou" in trained
    assert trained["final_step"] == 8 and trained["strategy"] == "default"
    import keras

    assert keras.saving.load_model(best).get_layer("fc7").kernel.shape == (1, 1, 64, 64)
    assert any(name.startswith("events.out.tfevents") for _, _, files in os.walk(logs) for name in files)
    assert main(["evaluate", model_path, "--examples", "20"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= result["mean_iou"] <= 1 and result["examples"] == 20
    out = str(tmp_path / "m.tflite")
    rep = str(tmp_path / "rep.npy")
    from keras_segattn.data import synthetic_shapes_arrays

    np.save(rep, synthetic_shapes_arrays("train", 16)[0].astype("float32"))
    assert main(["export", model_path, "-f", "tflite", "-q", "int8", "--representative-data", rep, "-o", out]) == 0
    assert "parity passed" in capsys.readouterr().out
    assert os.path.exists(out) and os.path.exists(out + ".json")
    assert main(["inspect", out]) == 0
    text = capsys.readouterr().out
    assert "flex ops (0): -" in text and "custom ops (0): -" in text and "uint8" in text and "scale=" in text


def test_console_script_is_installed():
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "keras-segattn"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "demo" in result.stdout


def test_console_script_hides_tensorflow_cpp_logs_but_not_errors(tmp_path):
    from keras_segattn._tf_logs import is_noise

    script = os.path.join(os.path.dirname(sys.executable), "keras-segattn")
    (tmp_path / "file").write_text("x")
    target = str(tmp_path / "file" / "m.tflite")
    quiet = subprocess.run([script, "export", "fcn8s_tiny", "-f", "tflite", "-o", target], capture_output=True, text=True)
    assert quiet.returncode == 2 and f"error: --output/-o is not writable; received {target!r}" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    assert [line for line in (quiet.stdout + quiet.stderr).splitlines() if is_noise(line)] == []
    # --verbose shows them (TensorFlow prints its start-up lines on every import), proving the filter works.
    loud = subprocess.run([script, "--verbose", "list", "fcn8s_tiny"], capture_output=True, text=True)
    assert loud.returncode == 0 and "fcn8s_tiny" in loud.stdout
    assert any(is_noise(line) for line in loud.stderr.splitlines()), loud.stderr[-500:]
    assert is_noise("E0000 00:00:1796137031.184661   15258 cuda_executor.cc:1309] failed call to cuInit: INTERNAL")
    assert not is_noise("error: Unknown model name 'x'")


@pytest.mark.parametrize(
    "name,source",
    [("digits_cnn_tiny", "digit.png"), ("bahdanau_nmt_tiny", "el gato negro")],
)
def test_train_evaluate_predict_every_task(name, source, tmp_path, capsys):
    model_path = str(tmp_path / "m.keras")
    assert main(["train", name, "-o", model_path, "--epochs", "1", "--train-examples", "64", "--val-examples", "16",
                 "--batch-size", "16"]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["final_step"] == 4 and trained["task"] in ("image_classification", "translation")
    assert main(["evaluate", model_path, "--examples", "8"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    if trained["task"] == "translation":
        assert 0 <= metrics["bleu"] <= 100 and metrics["sentences"] == 8
    else:
        assert 0 <= metrics["accuracy"] <= 1 and metrics["examples"] == 8
    if source.endswith(".png"):
        from PIL import Image

        from keras_segattn.data.distorted_digits import distorted_digits_arrays

        image = distorted_digits_arrays("test", 1, family="RTS", seed=0)[0][0, ..., 0]
        Image.fromarray(image.astype("uint8")).save(tmp_path / source)
        source = str(tmp_path / source)
    picture = str(tmp_path / "p.png")
    assert main(["predict", model_path, source, "-o", picture]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    if trained["task"] == "translation":
        assert isinstance(result["translation"], str) and result["source_tokens"][:2] == ["el", "gato"]
        assert len(result["alignment"]) == len(result["tokens"])
    else:
        assert 0 <= result["class"] < 10 and abs(sum(result["probabilities"].values()) - 1) < 0.05
    assert os.path.getsize(picture) > 1000
