"""What the quantised-export gate says for a model whose int8 target is registered as unsupported.

Trains the registered model as the export matrix does (its task's quick_fit),
then exports it to TFLite int8 and dynamic-range int8 with the registered
refusal lifted for this process only, and prints each gate's argmax
agreement. The numbers in a family's ``export_unsupported`` reason come from
here.

    PYTHONPATH=. .venv/bin/python tools/int8_gate_probe.py show_attend_tell_tiny
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    import argparse

    from keras_segattn import registry
    from keras_segattn.export import export
    from keras_segattn.export.parity import ParityError
    from tests.helpers import quick_train

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a registered model, e.g. show_attend_tell_tiny")
    args = parser.parse_args(argv)
    model = quick_train(args.name)
    spec = registry.get_spec(args.name)
    # This process only: the registry entry without its refusal, so the gate itself is measured.
    registry._REGISTRY[args.name] = dataclasses.replace(spec, export_unsupported={})
    for quantize in ("int8", "dynamic"):
        path = os.path.join(tempfile.mkdtemp(), f"{args.name}_{quantize}.tflite")
        try:
            report = export(model, path, format="tflite", quantize=quantize, verbose=False)["parity"]
        except ParityError as error:  # its message ends with the gate's JSON report, if the artifact ran
            text = str(error)
            if "Report: " not in text:
                print(quantize, "not run:", text)
                continue
            report = json.loads(text.split("Report: ", 1)[1])
        keys = ("passed", "argmax_agreement", "min_agreement", "drop_points", "token_accuracy_drop_points",
                "metric", "keras", "artifact", "increase_nats")
        print(quantize, {k: report[k] for k in keys if k in report})


if __name__ == "__main__":
    main()
