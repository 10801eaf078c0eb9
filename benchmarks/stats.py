"""Small statistics and process helpers: percentiles, medians, RSS, thread CPU time."""

from __future__ import annotations

import gc
import os
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmarks.results import JsonObject


def percentile(sorted_ns: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of an ascending sequence (the LatencyRecorder's rule)."""
    if not sorted_ns:
        return 0
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))]


def summarize_ns(samples: Iterable[int]) -> JsonObject:
    """p50/p99/p99.9/max in microseconds, plus the sample count."""
    data = sorted(samples)
    return {
        "count": len(data),
        "p50_us": round(percentile(data, 0.50) / 1000, 2),
        "p99_us": round(percentile(data, 0.99) / 1000, 2),
        "p999_us": round(percentile(data, 0.999) / 1000, 2),
        "max_us": round((data[-1] if data else 0) / 1000, 2),
    }


def spread(values: Sequence[float]) -> JsonObject:
    """Median, min and max of repeated measurements (rounded for the JSON)."""
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0, "runs": []}
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
        "runs": [round(v, 1) for v in values],
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def rss_mb() -> float:
    """This process's resident set size (``VmRSS`` from /proc/self/status), in MB.

    Returns 0.0 where /proc is not available, so a suite still runs (and says so).
    """
    try:
        text = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0  # the kernel reports kB
    return 0.0


def settle() -> None:
    """Collect garbage before a measurement, so one run's leftovers don't bill the next."""
    gc.collect()


def thread_cpu_s(native_id: int) -> float | None:
    """CPU time (user + system, seconds) one thread of this process has used, from
    ``/proc/self/task/<id>/stat``; None where that is not available (not Linux).

    Clock-tick resolution (10 ms): meaningful over runs of seconds, not for one event.
    """
    try:
        raw = Path(f"/proc/self/task/{native_id}/stat").read_bytes()
    except OSError:
        return None
    fields = raw.rsplit(b")", 1)[1].split()  # after the thread's name: any bytes, spaces too
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
