"""The tools/ scripts run (smoke modes on CPU)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_check_smoke(tmp_path):
    out = tmp_path / "gpu_check.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "gpu_check.py"), "--smoke", "--output", str(out)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.load(open(out))
    assert {(r["model"], r["jit_compile"], r["precision"]) for r in rows} == {
        ("fcn8s_tiny", j, p) for j in (False, True) for p in ("float32", "mixed_float16")
    }
    assert all(r["images_per_second"] > 0 for r in rows)
