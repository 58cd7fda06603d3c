"""Median timings shared by the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], reps: int) -> float:
    """Median wall time of ``reps`` calls of fn."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def median_wall(cmd: list[str], reps: int) -> float:
    """Median wall time of ``reps`` runs of a command, start-up included."""
    return median_seconds(lambda: subprocess.run(cmd, check=True, capture_output=True), reps)
