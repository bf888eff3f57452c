"""Export never loses a user's data, and an artifact and its manifest change together.

The publish routine is tested with small stand-in artifacts (every kill point,
file and folder artifacts, fast); real exports check the user-facing cases:
a user's folder survives, ``-o .`` is refused, a trailing slash works, an
artifact without a manifest is reported unverified, NaN data is refused.
"""

import json
import os

import numpy as np
import pytest

import keras_segattn as ksa
from keras_segattn.cli import main
from keras_segattn.export import TargetRefused, export, inspect_artifact, publish, verify_artifact

pytestmark = pytest.mark.export


@pytest.fixture(scope="module")
def model():
    return ksa.build_model("fcn8s_tiny")


def _listing(folder):
    return sorted(os.listdir(folder))


# ------------------------------------------------------------ stand-in artifacts
def _stage(path, content, directory=False):
    """Publish ``content`` to ``path`` through the real routine; returns its manifest."""
    with publish.Staging(path, path + ".json") as staging:
        if directory:
            os.makedirs(staging.artifact)
            with open(os.path.join(staging.artifact, "weights.bin"), "w") as fh:
                fh.write(content)
        else:
            with open(staging.artifact, "w") as fh:
                fh.write(content)
        digest, size = publish.sha256_of(staging.artifact)
        manifest = {"artifact": os.path.basename(path), "sha256": digest, "size_bytes": size,
                    "parity": {"passed": True}, "content": content}
        staging.publish(manifest)
    return manifest


def _state(path):
    """What the target holds: ('pair', content) | ('nothing',) | ('unverified', content)."""
    manifest_path = path + ".json"
    if not os.path.lexists(path):
        assert not os.path.exists(manifest_path), "a manifest without its artifact"
        return ("nothing",)
    content = (
        open(os.path.join(path, "weights.bin")).read() if os.path.isdir(path) else open(path).read()
    )
    if not os.path.exists(manifest_path):
        return ("unverified", content)
    manifest = json.load(open(manifest_path))
    # The invariant: a manifest beside an artifact always describes that artifact.
    assert publish.manifest_describes(manifest_path, path), f"manifest describes another file ({manifest['content']!r})"
    return ("pair", content)


@pytest.mark.parametrize("directory", [False, True], ids=["file", "folder"])
@pytest.mark.parametrize("step", publish.FAILPOINTS)
def test_killed_at_every_step_the_pair_invariant_holds(step, directory, tmp_path, monkeypatch):
    path = str(tmp_path / ("model" if directory else "model.tflite"))
    _stage(path, "old", directory)
    monkeypatch.setattr(publish, "_failpoint", step)
    with pytest.raises(publish.SimulatedKill):
        _stage(path, "new", directory)
    monkeypatch.setattr(publish, "_failpoint", None)
    state = _state(path)
    allowed = {("pair", "old"), ("nothing",), ("unverified", "old"), ("unverified", "new"), ("pair", "new")}
    assert state in allowed, state
    leftovers = [n for n in _listing(tmp_path) if publish.TMP_MARK in n]
    assert leftovers, "a kill leaves its staging folder (the next export removes it)"

    # The next export to the target recovers: the pair is whole again, no staging folder survives.
    publish.recover(path, path + ".json")
    recovered = _state(path)
    assert recovered in {("pair", "old"), ("pair", "new")}, recovered
    assert [n for n in _listing(tmp_path) if publish.TMP_MARK in n] == []
    publish.check_target(path, manifest_path=path + ".json", directory=directory, overwrite=True)
    _stage(path, "newer", directory)
    assert _state(path) == ("pair", "newer")
    assert _listing(tmp_path) == sorted([os.path.basename(path), os.path.basename(path) + ".json"])


def test_staging_folder_of_a_failed_export_is_removed(tmp_path):
    path = str(tmp_path / "m.tflite")
    with pytest.raises(RuntimeError):
        with publish.Staging(path, path + ".json") as staging:
            open(staging.artifact, "w").write("half")
            raise RuntimeError("converter failed")
    assert _listing(tmp_path) == []


def test_a_running_export_of_another_process_is_not_stale(tmp_path):
    name = f".m.tflite{publish.TMP_MARK}{__import__('socket').gethostname()}.{os.getppid()}.abcd1234"
    os.makedirs(tmp_path / name)
    assert publish.recover(str(tmp_path / "m.tflite"), str(tmp_path / "m.tflite.json")) == []
    assert _listing(tmp_path) == [name]
    os.utime(tmp_path / name, (0, 0))  # a day-old folder is stale whoever made it
    assert len(publish.recover(str(tmp_path / "m.tflite"), str(tmp_path / "m.tflite.json"))) == 1


# ------------------------------------------------------------ real exports
def test_export_keeps_a_users_folder(model, tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    with pytest.raises(SystemExit, match="is an existing folder that keras_segattn did not write"):
        main(["export", "fcn8s_tiny", "-f", "savedmodel", "-o", str(folder)])
    assert (folder / "keep.txt").read_text() == "x" and _listing(folder) == ["keep.txt"]
    assert _listing(tmp_path) == ["d"]


def test_export_refuses_the_working_directory_and_its_parents(model, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("x")
    monkeypatch.chdir(work)
    for target in (".", "./", str(tmp_path), os.path.expanduser("~")):
        with pytest.raises(TargetRefused, match="export: path must not be"):
            export(model, target, format="savedmodel", overwrite=True, verbose=False)
    assert _listing(work) == ["mine.txt"]


def test_tflite_path_that_is_a_folder_is_refused(model, tmp_path):
    folder = tmp_path / "m.tflite"
    folder.mkdir()
    (folder / "inside").write_text("x")
    with pytest.raises(TargetRefused, match="is an existing folder that keras_segattn did not write"):
        export(model, str(folder), format="tflite", verbose=False)
    assert _listing(folder) == ["inside"]


def test_trailing_slash_overwrite_and_unverified_artifacts(model, tmp_path):
    out = str(tmp_path / "out") + "/"
    manifest = export(model, out, format="savedmodel", verbose=False)
    assert manifest["artifact"] == "out" and _listing(tmp_path) == ["out", "out.json"]
    # Our own artifact: refused without overwrite, replaced with it.
    with pytest.raises(TargetRefused, match="pass overwrite=True"):
        export(model, out, format="savedmodel", verbose=False)
    export(model, out, format="savedmodel", overwrite=True, verbose=False)
    assert _listing(tmp_path) == ["out", "out.json"]

    path = str(tmp_path / "m.tflite")
    export(model, path, format="tflite", verbose=False)
    assert inspect_artifact(path)["verified"] is True
    os.remove(path + ".json")  # as a kill between the last two moves leaves it
    info = inspect_artifact(path)
    assert info["verified"] is False and "no manifest" in info["verification"]
    with pytest.raises(ValueError, match="is unverified: there is no manifest"):
        verify_artifact(model, path)
    # An artifact without a manifest is not provably ours: never replaced.
    with pytest.raises(TargetRefused, match="did not write"):
        export(model, path, format="tflite", overwrite=True, verbose=False)


def test_changed_bytes_are_unverified(model, tmp_path):
    path = str(tmp_path / "m.tflite")
    export(model, path, format="tflite", verbose=False)
    with open(path, "ab") as fh:
        fh.write(b"\0")
    assert inspect_artifact(path)["verified"] is False
    report = verify_artifact(model, path)
    assert report["sha256_matches"] is False and report["passed"] is False
    with pytest.raises(TargetRefused, match="did not write"):
        export(model, path, format="tflite", overwrite=True, verbose=False)


def test_nan_parity_and_calibration_data_are_refused(model, tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
    x[1, 2, 3, 0] = np.nan
    x[5, 0, 0, 1] = np.inf
    with pytest.raises(ValueError, match=r"export: parity_data must be finite, received 2 NaN/Inf value\(s\)"):
        export(model, str(tmp_path / "a.tflite"), format="tflite", parity_data=x, verbose=False)
    clean = np.nan_to_num(x, nan=0.0, posinf=0.0)
    with pytest.raises(ValueError, match=r"export: representative_data must be finite, received 2 NaN/Inf"):
        export(model, str(tmp_path / "b.tflite"), format="tflite", quantize="int8", parity_data=clean,
               representative_data=x, verbose=False)
    assert _listing(tmp_path) == []


def test_predict_reports_nan_images(tmp_path, capsys):
    image = np.zeros((64, 64, 3), "float32")
    image[3, 3, 0] = np.nan
    np.save(tmp_path / "bad.npy", image)
    with pytest.raises(SystemExit, match=r"image .*bad.npy' must be finite, received 1 NaN/Inf value"):
        main(["predict", "fcn8s_tiny", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "p.png")])
    assert not (tmp_path / "p.png").exists()


def test_a_really_killed_export_is_cleaned_up_by_the_next(model, tmp_path):
    """A child process dies (os._exit, as SIGKILL: no cleanup) after moving the new
    artifact in; the next export finishes nothing half-way and removes its folder."""
    import subprocess
    import sys

    path = str(tmp_path / "m.tflite")
    script = (
        "import os, keras_segattn as ksa\n"
        "from keras_segattn.export import export, publish\n"
        "publish._failpoint = 'artifact_placed'\n"
        "publish._die = lambda: os._exit(137)\n"
        f"export(ksa.build_model('fcn8s_tiny'), {path!r}, format='tflite', verbose=False)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert child.returncode == 137, child.stderr[-2000:]
    assert os.path.exists(path) and not os.path.exists(path + ".json")
    assert [n for n in _listing(tmp_path) if publish.TMP_MARK in n]
    export(model, path, format="tflite", overwrite=True, verbose=False)
    assert _listing(tmp_path) == ["m.tflite", "m.tflite.json"]
    assert inspect_artifact(path)["verified"] is True
