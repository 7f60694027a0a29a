"""Shared by the benchmark scripts: wall time and peak resident memory of one call (Linux /proc)."""

from __future__ import annotations

import resource
import time
from typing import Any, Callable


def status_mb(key: str) -> float:
    """A /proc/self/status memory field in MB ("VmRSS", "VmHWM"); ru_maxrss stands in for VmHWM elsewhere."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if key == "VmHWM" else float("nan")


def measured(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """(result, wall seconds, peak RSS in MB during fn, RSS in MB before fn); the peak is reset first."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    before = status_mb("VmRSS")
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start, status_mb("VmHWM"), before
