"""Running a measurement with the whole process on one CPU, as ``taskset -c N`` would.

Why it is measured: under the GIL the engine's threads run Python one at a time, yet the
scheduler spreads them over every CPU, so each event built by the producer on one CPU is
handled by the dispatcher on another and its memory moves between the two caches. Pinning
is a deployment choice (``taskset -c N livetrade run ...``), not something the engine does
by itself: a pinned process cannot be moved off a CPU that something else keeps busy.
The latency suite reports the same paced run both ways so the difference is a measured
figure, not folklore.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TASKS = Path("/proc/self/task")


def supported() -> bool:
    """True where the CPUs of every thread can be set (Linux)."""
    return hasattr(os, "sched_setaffinity") and _TASKS.is_dir()


def last_cpu() -> int:
    """The CPU a pinned run uses: the highest this process may use (CPU 0 usually takes
    most of the machine's interrupts)."""
    return max(os.sched_getaffinity(0))


def _set_every_thread(cpus_of: dict[int, set[int]], default: set[int]) -> None:
    """Every thread onto its CPUs; one that cannot be moved does not stop the others (the
    first such error is raised once all were tried)."""
    failed: OSError | None = None
    for entry in _TASKS.iterdir():
        tid = int(entry.name)
        try:
            os.sched_setaffinity(tid, cpus_of.get(tid, default))
        except ProcessLookupError:  # the thread ended between the listing and this call
            continue
        except OSError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed


@contextmanager
def pinned_process(cpu: int) -> Iterator[None]:
    """Every thread of this process (and every thread started meanwhile, which inherits
    it) runs on ``cpu`` inside the block; each is put back on its own CPUs after."""
    before: dict[int, set[int]] = {}
    for entry in _TASKS.iterdir():
        tid = int(entry.name)
        try:
            before[tid] = os.sched_getaffinity(tid)
        except ProcessLookupError:  # ended since the listing: nothing to pin or restore
            continue
    default = os.sched_getaffinity(0)
    try:
        _set_every_thread({}, {cpu})
        yield
    finally:
        _set_every_thread(before, default)
