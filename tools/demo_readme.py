"""Run `make demo` on a fresh clone of this repository and report it in the README.

Clones HEAD into a temporary folder, runs `make demo` there exactly as a user
would (it creates its own .venv, installs the package, trains, exports), times
the whole command, then writes tools/results/demo.json and the text between
the demo markers in README.md.

    .venv/bin/python tools/demo_readme.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))

from _common import replace_readme_section, write_result  # noqa: E402

from keras_segattn.cli import DEMO_MODEL  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    clone = tempfile.mkdtemp(prefix="ksa_demo_")
    try:
        subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True, capture_output=True, text=True
        ).stdout.strip()
        start = time.perf_counter()
        run = subprocess.run(["make", "demo"], cwd=clone, capture_output=True, text=True)
        wall = time.perf_counter() - start
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        run.check_returncode()
        # What a new user sees: TensorFlow's C++ log lines (I0000/W0000/E0000...) must not be among it.
        printed = (run.stdout + run.stderr).splitlines()
        tf_log_lines = [line for line in printed if re.match(r"^[IWEF]\d{4} \d\d:\d\d:\d\d", line)]
        with open(os.path.join(clone, "saved_models", "demo", f"{DEMO_MODEL}_demo_summary.json")) as fh:
            summary = json.load(fh)
    finally:
        if not args.keep:
            shutil.rmtree(clone, ignore_errors=True)
    for key in ("keras_model", "picture"):  # the summary's paths are relative to saved_models/demo/
        summary[key] = os.path.join("saved_models", "demo", summary[key])
    result = {
        "commit": commit,
        "make_demo_wall_seconds": round(wall, 1),
        "printed_lines": len(printed),
        "tensorflow_cpp_log_lines": tf_log_lines,
        "summary": summary,
    }
    path = write_result("demo", result)
    text = (
        "### `make demo`\n\n"
        f"`tools/demo_readme.py` ran `make demo` on a fresh clone (commit {commit}): it created the "
        f"virtual environment, trained `{summary['model']}` ({summary['parameters']:,} parameters) for "
        f"{summary['epochs_completed']} epochs on {summary['train_examples']:,} embedded images in "
        f"**{summary['train_seconds'] / 60:.1f} min**, reached held-out mIoU **{summary['held_out_mean_iou']:.3f}** "
        f"(pixel accuracy {summary['held_out_pixel_accuracy']:.3f}, {summary['held_out_examples']:,} images, "
        "4 classes incl. background), exported and verified every format, and finished in "
        f"{wall / 60:.1f} min including the install (warm pip cache). Of the {len(printed)} lines it "
        f"printed, {len(tf_log_lines)} were TensorFlow C++ log lines (I0000/W0000/E0000...).\n\n"
        + "\n".join(f"* {line}" for line in summary["exports"])
    )
    replace_readme_section("demo", text)
    print(text)
    print("wrote", path)


if __name__ == "__main__":
    main()
