"""Build the README's export matrix from the export-matrix tests' own results.

Runs tests/test_export_matrix.py (every registered tiny model x SavedModel /
TFLite fp32 / TFLite int8 / ONNX) with KSA_MATRIX_DIR set, collects the
per-case JSON the tests write, saves tools/results/export_matrix.json and
rewrites the table between the export-matrix markers in README.md.

    .venv/bin/python tools/export_matrix.py
    KSA_MATRIX_DIR=/tmp/m make test && .venv/bin/python tools/export_matrix.py --from /tmp/m   # reuse a suite run
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))
COLUMNS = ["savedmodel", "tflite_fp32", "tflite_int8", "onnx"]
HEADERS = ["SavedModel", "TFLite fp32 (builtins)", "TFLite int8 (builtins)", "ONNX (opset 17)"]


def cell(record, notes):
    if record is None:
        return "not run"
    if record["status"] == "unsupported":
        if record["reason"] not in notes:
            notes.append(record["reason"])
        return f"no, see note {notes.index(record['reason']) + 1}"
    parity = record["parity"]
    if parity.get("kind") == "float":
        worst = max(o["relative_error"] for o in parity["outputs"].values())
        return f"ok, rel. err {worst:.1e}"
    if "argmax_agreement" not in parity:  # a task gate on its own metric (NLL bound, pixel error...)
        if "increase_nats" in parity:
            return f"ok, {parity['metric']} {parity['increase_nats']:+.3f} nats"
        return f"ok, {parity['metric']} {parity['artifact']:.4f} (gate <= {parity['max_metric_drop']})"
    text = f"ok, agree {parity['argmax_agreement']:.3f}"
    if "drop_points" in parity:
        metric = {"mean_iou": "mIoU"}.get(parity["metric"], parity["metric"])
        text += f", {metric} drop {round(parity['drop_points'], 2) + 0.0:+.2f} pts"  # + 0.0 turns -0.0 into 0.0
    return text


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", help="KSA_MATRIX_DIR of a finished test run (skip running the tests)")
    args = parser.parse_args(argv)
    if args.source:
        out, code = args.source, 0
    else:
        out = tempfile.mkdtemp(prefix="ksa_matrix_")
        env = {**os.environ, "KSA_MATRIX_DIR": out}
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_export_matrix.py"],
            cwd=ROOT,
            env=env,
        )
    records = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "*.json")))]
    by = {(r["model"], r["target"]): r for r in records}
    models = sorted({r["model"] for r in records})
    lines = [
        "| model | " + " | ".join(HEADERS) + " |",
        "|---|" + "---|" * len(HEADERS),
    ]
    notes = []
    for m in models:
        lines.append(f"| `{m}` | " + " | ".join(cell(by.get((m, c)), notes) for c in COLUMNS) + " |")
    if notes:
        lines.append("")
        lines += [f"{i}. {note}" for i, note in enumerate(notes, start=1)]
    table = "\n".join(lines)
    from _common import replace_readme_section, write_result

    write_result("export_matrix", {"pytest_exit_code": code, "records": records})
    replace_readme_section("export-matrix", table)
    print(table)
    if code != 0:
        sys.exit(f"export matrix tests failed (pytest exit {code}); the table shows what passed")


if __name__ == "__main__":
    main()
