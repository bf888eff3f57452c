"""The performance report: ops and models against PyTorch, the hardware limit, deployment, memory.

Runs keras_segattn.benchmark (the same as ``keras-segattn benchmark``) with the
committed trained demo model (saved_models/deconvnet_tiny.keras) for the
deployment section, writes tools/results/benchmark.json and .md, and with
``--update-readme`` puts the tables into the README's Performance section
(between its ``benchmark:start`` / ``benchmark:end`` markers).

Needs PyTorch for the comparisons: ``pip install -e '.[bench]'`` (torch 2.13.0,
CPU build). About 10 minutes on 2 cores; run it on a quiet machine.

    PYTHONPATH=. .venv/bin/python tools/benchmark.py [--update-readme] [--sections ops,models]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(__file__))

from _common import replace_readme_section, write_result  # noqa: E402

from keras_segattn.benchmark import SECTIONS, run, to_markdown  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("tools/benchmark.py compares with PyTorch: pip install -e '.[bench]'") from None
    start = time.perf_counter()
    report = run(
        args.sections.split(","),
        threads=args.threads,
        model_path=os.path.join(ROOT, "saved_models", "deconvnet_tiny.keras"),
        progress=lambda text: print(text, flush=True),
    )
    report["wall_seconds"] = time.perf_counter() - start
    markdown = to_markdown(report) + f"\nThe whole report took {report['wall_seconds'] / 60:.1f} minutes.\n"
    write_result("benchmark", report)
    with open(os.path.join(ROOT, "tools", "results", "benchmark.md"), "w") as handle:
        handle.write(markdown)
    print(markdown)
    if args.update_readme and not replace_readme_section("benchmark", markdown):
        raise SystemExit("README.md has no <!-- benchmark:start --> ... <!-- benchmark:end --> section")


if __name__ == "__main__":
    main()
