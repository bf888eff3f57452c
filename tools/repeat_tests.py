"""Run tests many times in a row and count: a test that can fail by chance shows up here.

Each round runs the given pytest node ids once, in a fresh process (``-p
no:randomly``, no xdist), and records which passed. Writes
tools/results/<output>.json with the per-round outcomes and times.

    PYTHONPATH=. python tools/repeat_tests.py --rounds 10                      # the distributed tests
    PYTHONPATH=. python tools/repeat_tests.py --rounds 5 tests/test_web.py     # any tests
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools._common import write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the tests that train real processes (multi-worker on loopback, SIGKILL and resume)
DISTRIBUTED = [
    "tests/test_distributed_training.py::test_two_workers_on_loopback_match_a_single_process",
    "tests/test_distributed_training.py::test_single_process_kill_and_resume_is_step_exact",
    "tests/test_distributed_training.py::test_multi_worker_kill_and_restart_is_step_exact",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", nargs="*", default=DISTRIBUTED, help="pytest node ids (default: the distributed tests)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--output", default="repeat_tests")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, received {args.rounds}")
    rounds = []
    for index in range(args.rounds):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "-rA", *args.tests],
            cwd=ROOT, capture_output=True, text=True,
        )
        # pytest -rA's summary: one "PASSED node" / "FAILED node - reason" line per test
        outcomes = {node: status for status, node in re.findall(r"^(PASSED|FAILED|ERROR) (\S+)", result.stdout, re.M)}
        rounds.append({"round": index + 1, "exit_code": result.returncode, "seconds": round(time.perf_counter() - start, 1),
                       "outcomes": outcomes,
                       "failures": result.stdout[-4000:] if result.returncode else None})
        print(f"round {index + 1}/{args.rounds}: exit {result.returncode}, "
              f"{sum(v == 'PASSED' for v in outcomes.values())}/{len(args.tests)} passed, "
              f"{rounds[-1]['seconds']:.0f} s", flush=True)
    counts = {test: sum(r["outcomes"].get(test) == "PASSED" for r in rounds) for test in args.tests}
    path = write_result(args.output, {"args": vars(args), "passed_rounds": counts, "rounds": rounds})
    for test, count in counts.items():
        print(f"{count}/{args.rounds}  {test}")
    print(f"wrote {path}")
    sys.exit(0 if all(c == args.rounds for c in counts.values()) else 1)


if __name__ == "__main__":
    main()
