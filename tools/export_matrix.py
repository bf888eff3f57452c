"""Build the README's export matrix from the export-matrix tests' own results.

Runs tests/test_export_matrix.py (every registered tiny model x SavedModel /
TFLite fp32 / TFLite int8 / ONNX) with KSA_MATRIX_DIR set, collects the
per-case JSON the tests write, saves tools/results/export_matrix.json and
rewrites the table between the export-matrix markers in README.md.

    .venv/bin/python tools/export_matrix.py
    KSA_MATRIX_DIR=/tmp/m make test && .venv/bin/python tools/export_matrix.py --from /tmp/m   # reuse a suite run
    .venv/bin/python tools/export_matrix.py --reuse      # re-render the committed records (e.g. after web_matrix.py)

The "browser" column comes from tools/results/web_matrix.json (tools/web_matrix.py:
the float TFLite and ONNX files run in LiteRT.js and ONNX Runtime Web in headless
Chromium, compared with Python LiteRT and onnxruntime).
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))
COLUMNS = ["savedmodel", "tflite_fp32", "tflite_int8", "onnx"]
HEADERS = ["SavedModel", "TFLite fp32 (builtins)", "TFLite int8 (builtins)", "ONNX (opset 17)",
           "browser: LiteRT.js / ORT Web (fixed batch 1)"]
WEB_MATRIX = os.path.join(ROOT, "tools", "results", "web_matrix.json")


def web_cell(records, model, notes):
    """LiteRT.js and ONNX Runtime Web against Python LiteRT and onnxruntime on the same files."""
    if records is None:
        return "not run"
    parts = []
    for fmt in ("tflite", "onnx"):
        record = records.get((model, fmt))
        if record is None:
            parts.append("not run")
        elif record["status"] == "ok":
            parts.append(f"ok {record['relative_error']:.0e}")
        else:
            reason = record.get("reason") or f"max error / scale {record['relative_error']:.1e} over 1e-4"
            # One note per kind of failure: without the model's name and the scratch paths.
            reason = re.sub(r"'?/tmp/\S*", "", reason.replace(f"{model} {fmt}: ", "").replace(f"{model}: ", ""))
            reason = reason.replace(f"'{model}'", "the model").replace(model, "the model")
            reason = "browser: " + reason.split(": Node:")[0].replace("the model_1/", "")
            if record["status"] == "mismatch":
                reason += "; Python on the same file passed the export's parity gate against Keras"
            if reason not in notes:
                notes.append(reason)
            parts.append(f"no, see note {notes.index(reason) + 1}")
    return " / ".join(parts)


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
    parser.add_argument("--reuse", action="store_true", help="the records of tools/results/export_matrix.json")
    args = parser.parse_args(argv)
    if args.reuse:
        with open(os.path.join(ROOT, "tools", "results", "export_matrix.json")) as fh:
            saved = json.load(fh)
        out, code, records = None, saved["pytest_exit_code"], saved["records"]
    elif args.source:
        out, code = args.source, 0
    else:
        out = tempfile.mkdtemp(prefix="ksa_matrix_")
        env = {**os.environ, "KSA_MATRIX_DIR": out}
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_export_matrix.py"],
            cwd=ROOT,
            env=env,
        )
    if out is not None:
        records = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "*.json")))]
    web = None
    if os.path.exists(WEB_MATRIX):
        with open(WEB_MATRIX) as fh:
            web = {(r["model"], r["format"]): r for r in json.load(fh)["records"]}
    by = {(r["model"], r["target"]): r for r in records}
    models = sorted({r["model"] for r in records})
    lines = [
        "| model | " + " | ".join(HEADERS) + " |",
        "|---|" + "---|" * len(HEADERS),
    ]
    notes = []
    for m in models:
        cells = [cell(by.get((m, c)), notes) for c in COLUMNS] + [web_cell(web, m, notes)]
        lines.append(f"| `{m}` | " + " | ".join(cells) + " |")
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
