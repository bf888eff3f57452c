"""Side-by-side timing: every contender runs in the same rounds, interleaved.

These machines are noisy (other tenants, frequency changes), so absolute
times from different runs do not compare. Within one run, the contenders of a
case take turns round after round and each gets the median of its rounds; a
slow spell then hits all of them instead of one.
"""

from __future__ import annotations

import statistics
import time


def _one(fn, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def compare(contenders, *, rounds=7, min_seconds=0.05, warmup=2):
    """Median seconds per call of each contender, measured interleaved.

    Args:
        contenders: ``{name: zero-argument callable}``; each call must block
            until its result is computed (return NumPy values or call
            ``.numpy()``), so that asynchronous runtimes are timed fully.
        rounds: rounds; each contender runs once per round (its median counts).
        min_seconds: a contender's calls per round are repeated until one
            round of it lasts at least this long (short calls are timed in
            blocks, so the clock's resolution does not matter).
        warmup: untimed calls first (tracing, XLA compilation, allocator).

    Returns:
        ``{name: {"seconds": median, "rounds": [...], "repeats": n,
        "first_call_seconds": t}}``; ``first_call_seconds`` is the first
        warm-up call (it includes tracing and compilation).
    """
    repeats, first = {}, {}
    for name, fn in contenders.items():
        first[name] = _one(fn, 1)
        for _ in range(max(warmup - 1, 0)):
            fn()
        once = _one(fn, 1)
        repeats[name] = max(1, int(min_seconds / max(once, 1e-9)))
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            samples[name].append(_one(fn, repeats[name]))
    return {
        name: {
            "seconds": statistics.median(times),
            "rounds": times,
            "repeats": repeats[name],
            "first_call_seconds": first[name],
        }
        for name, times in samples.items()
    }
