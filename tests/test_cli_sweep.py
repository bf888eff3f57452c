"""Every ``keras-segattn`` command against hostile inputs.

The commands are read from the argparse parser, so a new command without
invalid cases here fails ``test_every_command_has_invalid_cases``. Each invalid
input must exit with status 2 and print exactly one ``error:`` line naming the
option and the received value, with no traceback, before any training, export
or serving starts (those are replaced by a sentinel that fails the case).
Valid inputs must get through: to the sentinel, or to a result.
"""

import argparse
import json
import os
import time
import zipfile

import numpy as np
import pytest

from keras_segattn import cli

_STATS = {"invalid": 0, "valid": 0, "commands": set()}


class Reached(Exception):
    """Training, export or serving started: validation let the input through."""


def _commands() -> list[str]:
    action = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    paths = {"root": str(root)}
    (root / "text.keras").write_text("not a model")
    (root / "empty.keras").write_bytes(b"")
    with zipfile.ZipFile(root / "whole.zip", "w") as archive:
        archive.writestr("config.json", "{}" * 2000)
        archive.writestr("model.weights.h5", b"\0" * 4000)
    data = (root / "whole.zip").read_bytes()
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(root / "noconfig.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    (root / "notes.txt").write_text("hello")
    (root / "notes.png").write_text("hello, not a picture")
    (root / "blocker").write_text("a file where a folder should be")
    (root / "folder.keras").mkdir()
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(root / "grey.png")
    # An "artifact" with a manifest that matches its bytes, and one whose bytes changed since.
    from keras_segattn.export.publish import sha256_of

    for name, tamper in (("good.tflite", False), ("tampered.tflite", True)):
        (root / name).write_bytes(b"TFL3 pretend flatbuffer")
        manifest = {"artifact": name, "sha256": sha256_of(str(root / name))[0], "parity": {"passed": True}}
        (root / (name + ".json")).write_text(json.dumps(manifest))
        if tamper:
            (root / name).write_bytes(b"TFL3 pretend flatbuffer, changed")
    (root / "bare.tflite").write_bytes(b"TFL3 without a manifest")
    (root / "garbage.onnx").write_bytes(b"\xff\xff not protobuf")
    (root / "garbage.tflite").write_bytes(b"not a flatbuffer")
    np.save(root / "nan.npy", np.full((40, 40, 3), np.nan, np.float32))
    for name in ("text.keras", "empty.keras", "truncated.keras", "noconfig.keras", "notes.txt", "notes.png",
                 "blocker", "folder.keras", "grey.png", "good.tflite", "tampered.tflite", "bare.tflite", "nan.npy", "garbage.onnx", "garbage.tflite"):
        paths[name] = str(root / name)
    return paths


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Training, exporting and serving raise Reached: an invalid case that gets there fails."""
    import keras_segattn.export
    import keras_segattn.web

    run = cli._run

    def guarded(step, *args, **kwargs):
        if getattr(step, "__name__", "") == "train":
            raise Reached("train")
        return run(step, *args, **kwargs)

    def reached(*args, **kwargs):
        raise Reached("work")

    monkeypatch.setattr(cli, "_run", guarded)
    monkeypatch.setattr(cli, "run_demo", reached)
    monkeypatch.setattr(keras_segattn.export, "export", reached)
    monkeypatch.setattr(keras_segattn.web, "export_for_web", reached)
    monkeypatch.setattr(keras_segattn.web, "serve", reached)
    monkeypatch.setattr(keras_segattn.web, "check_web_dir", lambda *a, **k: "web")


def _invalid(f):
    """``command -> [(argv, words the error line must hold: the option and the received value)]``."""
    out = os.path.join(f["root"], "out")
    unwritable = os.path.join(f["blocker"], "sub", "m.keras")
    return {
        "": [
            (["no_such_command"], ["no_such_command"]),
            ([], ["command"]),
            (["list", "--no-such-option"], ["--no-such-option"]),
        ],
        "list": [
            (["list", "--family", "nope"], ["--family", "nope", "fcn"]),
            (["list", "--task", "nope"], ["--task", "nope", "semantic_segmentation"]),
            (["list", "zzz*"], ["PATTERN", "zzz*"]),
        ],
        "train": [
            (["train", "no_such_model"], ["MODEL", "no_such_model"]),
            (["train"], ["model"]),
            (["train", "fcn8s_tiny", "--epochs", "0"], ["--epochs", "received 0"]),
            (["train", "fcn8s_tiny", "--epochs", "-3"], ["--epochs", "received -3"]),
            (["train", "fcn8s_tiny", "--epochs", "two"], ["--epochs", "received two"]),
            (["train", "fcn8s_tiny", "--batch-size", "0"], ["--batch-size", "received 0"]),
            (["train", "fcn8s_tiny", "--train-examples", "0"], ["--train-examples", "received 0"]),
            (["train", "fcn8s_tiny", "--val-examples", "-1"], ["--val-examples", "received -1"]),
            (["train", "fcn8s_tiny", "--learning-rate", "nan"], ["--learning-rate", "received nan"]),
            (["train", "fcn8s_tiny", "--learning-rate", "inf"], ["--learning-rate", "received inf"]),
            (["train", "fcn8s_tiny", "--learning-rate", "0"], ["--learning-rate", "received 0"]),
            (["train", "fcn8s_tiny", "--learning-rate", "-1e-3"], ["--learning-rate", "received -1e-3"]),
            (["train", "fcn8s_tiny", "--learning-rate", "-inf"], ["--learning-rate", "received -inf"]),
            (["train", "fcn8s_tiny", "--time-limit", "0"], ["--time-limit", "received 0"]),
            (["train", "fcn8s_tiny", "--num-classes", "0"], ["--num-classes", "received 0"]),
            (["train", "fcn8s_tiny", "--image-size", "0"], ["--image-size", "received 0"]),
            (["train", "fcn8s_tiny", "--image-size", "8"], ["--image-size", "received 8", ">= 16"]),
            (["train", "fcn8s_tiny", "--seed", "-1"], ["--seed", "received -1"]),
            (["train", "fcn8s_tiny", "--save-freq", "0"], ["--save-freq", "received 0"]),
            (["train", "fcn8s_tiny", "--set", "widths"], ["--set", "widths"]),
            (["train", "fcn8s_tiny", "--set", "no_such_arg=1"], ["--set", "no_such_arg"]),
            (["train", "fcn8s_tiny", "--strategy", "nope"], ["--strategy", "nope"]),
            (["train", "fcn8s_tiny", "--strategy", "multi_worker"], ["--strategy", "multi_worker"]),
            (["train", "fcn8s_tiny", "--precision", "float8"], ["--precision", "float8"]),
            (["train", "fcn8s_tiny", "--train-examples", "4", "--batch-size", "8"],
             ["--train-examples", "received 4", "--batch-size 8"]),
            (["train", "fcn8s_tiny", "-o", unwritable], ["--output", unwritable]),
            (["train", "fcn8s_tiny", "-o", "/proc/no_such_dir/m.keras"], ["--output", "/proc/no_such_dir/m.keras"]),
            (["train", "fcn8s_tiny", "-o", os.path.join(out, "m.h5")], ["--output", "m.h5", ".keras"]),
            (["train", "fcn8s_tiny", "-o", f["folder.keras"]], ["--output", f["folder.keras"]]),
            (["train", "fcn8s_tiny", "--checkpoint-best", os.path.join(out, "best.txt")],
             ["--checkpoint-best", "best.txt"]),
            (["train", "fcn8s_tiny", "--tensorboard-dir", f["blocker"]], ["--tensorboard-dir", f["blocker"]]),
            (["train", "fcn8s_tiny", "--backup-dir", os.path.join(f["blocker"], "b")], ["--backup-dir", "blocker"]),
            (["train", "fcn8s_tiny", "--data-dir", os.path.join(out, "nothing")], ["--data-dir", "nothing"]),
            (["train", "fcn8s_tiny", "--data", "scene_parse150", "--data-dir", f["root"]],
             ["--data", "scene_parse150", "not prepared"]),
            (["train", "deconvnet_tiny", "--image-size", "50"], ["--image-size", "50", "multiple of 16"]),
            (["train", "digits_cnn_tiny", "--image-size", "64"], ["--image-size", "64", "digits_cnn_tiny"]),
            (["train", "digits_cnn_tiny", "--data", "oxford_iiit_pet"], ["--data", "oxford_iiit_pet"]),
            (["train", "bahdanau_nmt_tiny", "--lr-schedule", "poly"], ["--lr-schedule", "poly"]),
            (["train", "bahdanau_nmt_tiny", "--num-classes", "3"], ["--num-classes", "3"]),
            (["train", f["truncated.keras"]], ["MODEL", "truncated.keras", "not a valid .keras file"]),
            (["train", f["text.keras"]], ["MODEL", "text.keras", "not a valid .keras file"]),
            (["train", os.path.join(out, "missing.keras")], ["MODEL", "missing.keras", "does not exist"]),
            (["train", "fcn8s_tiny", "--task", "nope"], ["--task", "nope"]),
            (["train", "fcn8s_tiny", "--task", "translation"], ["--task", "translation", "semantic_segmentation"]),
        ],
        "evaluate": [
            (["evaluate", "no_such_model"], ["MODEL", "no_such_model"]),
            (["evaluate", "fcn8s_tiny", "--examples", "0"], ["--examples", "received 0"]),
            (["evaluate", "fcn8s_tiny", "--seed", "x"], ["--seed", "received x"]),
            (["evaluate", f["empty.keras"]], ["MODEL", "empty.keras", "not a valid .keras file"]),
            (["evaluate", f["noconfig.keras"]], ["MODEL", "noconfig.keras", "not a valid .keras file"]),
            (["evaluate", f["folder.keras"]], ["MODEL", "folder.keras", "folder"]),
            (["evaluate", "digits_cnn_tiny", "--data", "scene_parse150"], ["--data", "scene_parse150"]),
            (["evaluate", "fcn8s_tiny", "--data-dir", f["blocker"]], ["--data-dir", "blocker"]),
            (["evaluate", "fcn8s_tiny", "--data", "imagenet"], ["--data", "imagenet"]),
            (["evaluate", "fcn8s_tiny", "--task", "translation"], ["--task", "translation"]),
            (["evaluate", "fcn8s_tiny", "--data", "oxford_iiit_pet", "--data-dir", f["root"]],
             ["--data", "oxford_iiit_pet", "not prepared"]),
        ],
        "export": [
            (["export", "fcn8s_tiny"], ["--format"]),
            (["export", "fcn8s_tiny", "-f", "tflit"], ["--format", "tflit"]),
            (["export", "no_such_model", "-f", "onnx"], ["MODEL", "no_such_model"]),
            (["export", f["truncated.keras"], "-f", "onnx"], ["MODEL", "truncated.keras", "not a valid .keras file"]),
            (["export", "fcn8s_tiny", "-f", "onnx", "-q", "dynamic"], ["--quantize", "--format onnx"]),
            (["export", "fcn8s_tiny", "-f", "tflite", "-q", "int4"], ["--quantize", "int4"]),
            (["export", "fcn8s_tiny", "-f", "tflite", "-q", "int8"], ["--quantize int8"]),
            (["export", "fcn8s_tiny", "-f", "tflite", "-q", "int8", "--representative-data", "nope.npy"],
             ["--representative-data", "nope.npy"]),
            (["export", "fcn8s_tiny", "-f", "tflite", "--parity-samples", "0"], ["--parity-samples", "received 0"]),
            (["export", "fcn8s_tiny", "-f", "tflite", "--batch-size", "-2"], ["--batch-size", "received -2"]),
            (["export", "fcn8s_tiny", "-f", "tflite", "-o", os.path.join(out, "m.onnx")], ["--output", "m.onnx"]),
            (["export", "fcn8s_tiny", "-f", "onnx", "-o", os.path.join(f["blocker"], "m.onnx")],
             ["--output", "blocker"]),
            (["export", "fcn8s_tiny", "-f", "savedmodel", "-o", f["blocker"]], ["--output", "blocker"]),
        ],
        "inspect": [
            (["inspect"], ["artifact"]),
            (["inspect", os.path.join(out, "nothing.tflite")], ["nothing.tflite"]),
            (["inspect", "--verify", os.path.join(out, "nothing.tflite")], ["ARTIFACT", "nothing.tflite"]),
            (["inspect", "--verify", f["tampered.tflite"]], ["ARTIFACT", "tampered.tflite", "sha256"]),
            (["inspect", "--verify", f["bare.tflite"]], ["ARTIFACT", "bare.tflite", "manifest"]),
            (["inspect", f["garbage.onnx"]], ["ARTIFACT", "garbage.onnx", "not a valid artifact"]),
            (["inspect", f["garbage.tflite"]], ["ARTIFACT", "garbage.tflite", "not a valid artifact"]),
            (["inspect", f["text.keras"]], ["text.keras", ".tflite"]),
        ],
        "predict": [
            (["predict", "fcn8s_tiny"], ["input"]),
            (["predict", "no_such_model", f["grey.png"]], ["MODEL", "no_such_model"]),
            (["predict", "fcn8s_tiny", os.path.join(out, "missing.png")], ["INPUT", "missing.png"]),
            (["predict", "fcn8s_tiny", f["notes.txt"]], ["notes.txt", "image"]),
            (["predict", "fcn8s_tiny", f["notes.png"]], ["notes.png", "image"]),
            (["predict", "fcn8s_tiny", f["nan.npy"]], ["nan.npy", "NaN"]),
            (["predict", "fcn8s_tiny", "el gato negro"], ["INPUT", "el gato negro", "translation"]),
            (["predict", "bahdanau_nmt_tiny", f["grey.png"]], ["INPUT", "grey.png", "a sentence"]),
            (["predict", "dcgan_tiny", "seven"], ["INPUT", "seven", "seed"]),
            (["predict", "dcgan_tiny", "-5"], ["INPUT", "-5", "seed"]),
            (["predict", "fcn8s_tiny", f["grey.png"], "--task", "captioning"], ["--task", "captioning"]),
            (["predict", "fcn8s_tiny", f["grey.png"], "-o", os.path.join(out, "p.txt")], ["--output", "p.txt"]),
            (["predict", "fcn8s_tiny", f["grey.png"], "-o", os.path.join(f["blocker"], "p.png")],
             ["--output", "blocker"]),
            (["predict", f["text.keras"], f["grey.png"]], ["MODEL", "text.keras", "not a valid .keras file"]),
        ],
        "web": [
            (["web", "--port", "99999"], ["--port", "received 99999"]),
            (["web", "--port", "-1"], ["--port", "received -1"]),
            (["web", "-m", os.path.join(out, "missing.keras")], ["--model", "missing.keras"]),
            (["web", "-m", f["truncated.keras"]], ["--model", "truncated.keras", "not a valid .keras file"]),
            (["web", "--models-dir", f["blocker"]], ["--models-dir", "blocker"]),
        ],
        "benchmark": [
            (["benchmark", "--sections", "ops,gpu"], ["--sections", "ops,gpu"]),
            (["benchmark", "--sections", ","], ["--sections"]),
            (["benchmark", "--threads", "0"], ["--threads", "received 0"]),
            (["benchmark", "-o", os.path.join(out, "report.txt")], ["--output", "report.txt", ".json"]),
            (["benchmark", "-o", os.path.join(f["blocker"], "r.json")], ["--output", "blocker"]),
            (["benchmark", "--markdown", os.path.join(out, "table.json")], ["--markdown", "table.json", ".md"]),
            (["benchmark", "--model", os.path.join(out, "missing.keras")], ["--model", "missing.keras", "does not exist"]),
        ],
        "demo": [
            (["demo", "--epochs", "0"], ["--epochs", "received 0"]),
            (["demo", "--train-examples", "-5"], ["--train-examples", "received -5"]),
            (["demo", "--test-examples", "0"], ["--test-examples", "received 0"]),
            (["demo", "--batch-size", "0"], ["--batch-size", "received 0"]),
            (["demo", "--learning-rate", "nan"], ["--learning-rate", "received nan"]),
            (["demo", "--time-limit", "-1"], ["--time-limit", "received -1"]),
            (["demo", "--model", "no_such_model"], ["--model", "no_such_model"]),
            (["demo", "--model", "digits_cnn_tiny"], ["--model", "digits_cnn_tiny"]),
            (["demo", "--train-examples", "4", "--batch-size", "8"], ["--train-examples", "received 4"]),
            (["demo", "--out-dir", f["blocker"]], ["--out-dir", "blocker"]),
        ],
    }


def _error_line(argv, capsys, debug=False):
    with pytest.raises(SystemExit) as info:
        cli.main((["--debug"] if debug else []) + argv)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_every_command_has_invalid_cases(files):
    cases = _invalid(files)
    missing = [c for c in _commands() if not cases.get(c)]
    assert not missing, f"commands without hostile-input cases: {missing}"
    assert set(cases) - {""} <= set(_commands()), "cases for commands that no longer exist"


def test_invalid_inputs_exit_2_with_one_line(files, capsys):
    start = time.perf_counter()
    failures = []
    for command, cases in _invalid(files).items():
        for argv, words in cases:
            try:
                code, out, err = _error_line(argv, capsys)
            except Reached as reached:
                failures.append(f"{argv}: reached {reached} (validation let it through)")
                continue
            lines = [line for line in err.splitlines() if line.strip()]
            problems = []
            if code != 2:
                problems.append(f"exit status {code!r}")
            if len(lines) != 1 or not lines[0].startswith("error: "):
                problems.append(f"stderr lines {lines}")
            elif missing := [w for w in words if w not in lines[0]]:
                problems.append(f"{missing} not in {lines[0]!r}")
            if "Traceback" in out + err:
                problems.append("a traceback")
            if problems:
                failures.append(f"{argv}: {'; '.join(problems)}")
            _STATS["invalid"] += 1
            _STATS["commands"].add(command)
    seconds = time.perf_counter() - start
    print(f"\n{_STATS['invalid']} invalid inputs over {len(_STATS['commands']) - 1} commands "
          f"(+ the top level) in {seconds:.1f} s")
    assert not failures, "\n".join(failures)
    assert _STATS["commands"] - {""} == set(_commands())


def test_debug_shows_the_traceback(capsys):
    code, _, err = _error_line(["train", "fcn8s_tiny", "--epochs", "0"], capsys)
    assert code == 2 and "Traceback" not in err
    code, _, err = _error_line(["train", "fcn8s_tiny", "--epochs", "0"], capsys, debug=True)
    assert code == 2 and "Traceback" in err
    assert err.strip().splitlines()[-1] == "error: --epochs must be an integer >= 1; received 0 (see keras-segattn train --help)"
    code, _, err = _error_line(["list", "--family", "nope", "--debug"], capsys)
    assert code == 2 and "Traceback" in err and "UserError" in err


def test_the_exit_carries_the_line(capsys):
    # SystemExit's code is 2 and its text the error line (what pytest.raises(..., match=) reads).
    with pytest.raises(SystemExit, match="^error: --epochs must be an integer >= 1; received 0") as info:
        cli.main(["demo", "--epochs", "0"])
    assert info.value.code == 2 and capsys.readouterr().err.strip() == str(info.value)


def test_valid_inputs_get_through(files, capsys, monkeypatch):
    out = os.path.join(files["root"], "ok")
    reaching = [
        ["train", "fcn8s_tiny", "--epochs", "1", "--train-examples", "8", "--batch-size", "8", "-o",
         os.path.join(out, "new", "m.keras")],
        ["train", "deconvnet_tiny", "--image-size", "96", "--learning-rate", "1e-4", "--time-limit", "5"],
        ["train", "fcn8s_tiny", "--image-size", "48", "--set", "fc_units=32", "--num-classes", "3",
         "--checkpoint-best", os.path.join(out, "best.keras"), "--tensorboard-dir", os.path.join(out, "tb")],
        ["train", "digits_cnn_tiny", "--train-examples", "32", "--batch-size", "32"],
        ["train", "bahdanau_nmt_tiny", "--epochs", "1", "--seed", "0", "--save-freq", "5"],
        ["export", "fcn8s_tiny", "-f", "tflite", "-q", "int8", "--embedded-representative-data", "-o",
         os.path.join(out, "m.tflite")],
        ["export", "fcn8s_tiny", "-f", "savedmodel", "-o", os.path.join(out, "saved")],
        ["web", "--port", "0"],
        ["demo", "--epochs", "1", "--train-examples", "32", "--batch-size", "32", "--out-dir", out],
    ]
    for argv in reaching:
        with pytest.raises(Reached):
            cli.main(argv)
        _STATS["valid"] += 1
    finishing = [
        (["list", "fcn*", "--family", "fcn"], "fcn8s_tiny"),
        (["list", "--task", "translation"], "bahdanau_nmt_tiny"),
        (["inspect", "--verify", files["good.tflite"]], "verified"),
        (["predict", "fcn8s_tiny", files["grey.png"], "-o", os.path.join(out, "p.png")], "pixels_per_class"),
        (["web", "--no-serve"], ""),
    ]
    for argv, word in finishing:
        assert cli.main(argv) == 0, argv
        assert word in capsys.readouterr().out
        _STATS["valid"] += 1
    print(f"\n{_STATS['valid']} valid inputs accepted")


def test_memory_estimate_refuses_then_allow_large(capsys, monkeypatch):
    from keras_segattn import _cli_checks

    monkeypatch.setattr(_cli_checks, "available_memory", lambda: 64 * 2**20)  # a 64 MiB machine
    code, _, err = _error_line(["train", "deconvnet_tiny", "--batch-size", "64", "--train-examples", "64"], capsys)
    assert code == 2 and err.startswith("error: --batch-size 64 needs about ") and "--allow-large" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(Reached):
        cli.main(["train", "deconvnet_tiny", "--batch-size", "64", "--train-examples", "64", "--allow-large"])
    with pytest.raises(Reached):  # a small batch fits
        cli.main(["train", "deconvnet_tiny", "--batch-size", "1", "--train-examples", "64"])
    # The demo estimates its paper-size (non-tiny) models the same way.
    code, _, err = _error_line(["demo", "--model", "multiscale_cnn", "--batch-size", "64"], capsys)
    assert code == 2 and err.startswith("error: --batch-size 64 needs about ") and "multiscale_cnn" in err
    with pytest.raises(Reached):
        cli.main(["demo", "--model", "multiscale_cnn", "--batch-size", "64", "--allow-large"])
