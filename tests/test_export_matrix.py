"""Every registered tiny model x every export target passes the parity gate.

Models are briefly trained first so their outputs carry decisions (int8 is
judged on argmax agreement and mean IoU). With KSA_MATRIX_DIR set, each case
writes its result there; tools/export_matrix.py builds the README table from
those files.
"""

import json
import os

import pytest

import keras_segattn as ksa
from keras_segattn.export import UnsupportedTarget, export
from keras_segattn.export.formats import BACKENDS
from keras_segattn.export.support import TARGETS, unsupported_reason
from tests.helpers import quick_train, release_memory

pytestmark = pytest.mark.export

_TRAINED = {}


def trained(name):
    if name not in _TRAINED:
        # One trained model at a time: the cases run model by model (target is the
        # inner parameter), and keeping all of them held gigabytes to the end.
        _TRAINED.clear()
        release_memory()
        _TRAINED[name] = quick_train(name)
    return _TRAINED[name]


# One xdist group per model: its targets share one trained model on one worker.
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.xdist_group(f"export_{n}")) for n in ksa.list_models("*_tiny")]
)
def test_export_matrix(name, target, tmp_path):
    args = TARGETS[target]
    path = str(tmp_path / f"{name}_{target}{BACKENDS[args['format']].suffix or ''}")
    record = {"model": name, "target": target}
    reason = unsupported_reason(name, target)
    if reason:
        with pytest.raises(UnsupportedTarget, match=reason[:40]):
            export(trained(name), path, verbose=False, **args)
        record.update(status="unsupported", reason=reason)
    else:
        manifest = export(trained(name), path, verbose=False, **args)
        assert manifest["parity"]["passed"]
        if args["format"] == "tflite":
            assert manifest["ops"]["flex"] == [] and manifest["ops"]["custom"] == []
        record.update(status="ok", parity=manifest["parity"], size_bytes=manifest["size_bytes"])
    out = os.environ.get("KSA_MATRIX_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"{name}__{target}.json"), "w") as fh:
            json.dump(record, fh, default=float)
