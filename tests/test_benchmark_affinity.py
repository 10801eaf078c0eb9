"""The benchmark's pinned runs: the whole process on one CPU inside the block, and every
thread back on its own CPUs after (a benchmark must not leave the test process pinned)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from benchmarks import affinity
from benchmarks.stats import thread_cpu_s

pytestmark = pytest.mark.skipif(not affinity.supported(), reason="Linux only")


def _cpus_of_every_thread() -> dict[int, set[int]]:
    """Thread id -> its CPUs, for the threads alive now (one ending meanwhile is left out)."""
    cpus: dict[int, set[int]] = {}
    for entry in Path("/proc/self/task").iterdir():
        try:
            cpus[int(entry.name)] = os.sched_getaffinity(int(entry.name))
        except ProcessLookupError:
            continue
    return cpus


def _same_for_threads_in_both(before: dict[int, set[int]], after: dict[int, set[int]]) -> None:
    common = before.keys() & after.keys()
    assert threading.get_native_id() in common
    assert {tid: before[tid] for tid in common} == {tid: after[tid] for tid in common}


def test_pinned_process_pins_every_thread_and_new_ones_then_restores_each() -> None:
    release = threading.Event()
    old = threading.Thread(target=release.wait, name="bench-test-old", daemon=True)
    old.start()
    assert old.native_id is not None
    cpu = affinity.last_cpu()
    others = os.sched_getaffinity(0) - {cpu}
    if others:  # give one thread CPUs of its own: it must get exactly those back
        os.sched_setaffinity(old.native_id, others)
    before = _cpus_of_every_thread()
    seen_inside: list[set[int]] = []
    try:
        with affinity.pinned_process(cpu):
            assert set(map(frozenset, _cpus_of_every_thread().values())) == {frozenset({cpu})}
            new = threading.Thread(
                target=lambda: seen_inside.append(os.sched_getaffinity(0)),
                name="bench-test-new")
            new.start()
            new.join()
        assert seen_inside == [{cpu}]
        after = _cpus_of_every_thread()
        _same_for_threads_in_both(before, after)
        assert after[old.native_id] == before[old.native_id]  # its own CPUs, not the process's
    finally:
        release.set()
        old.join()


def test_pinned_process_restores_even_when_the_block_raises() -> None:
    before = _cpus_of_every_thread()
    with pytest.raises(RuntimeError), affinity.pinned_process(affinity.last_cpu()):
        raise RuntimeError("measurement failed")
    _same_for_threads_in_both(before, _cpus_of_every_thread())


def test_thread_cpu_time_grows_with_this_threads_work_and_is_none_for_no_thread() -> None:
    me = threading.get_native_id()
    started = thread_cpu_s(me)
    assert started is not None
    give_up = time.monotonic() + 20.0  # a loaded machine slows this down, never stops it
    grown = 0.0
    while grown < 0.05 and time.monotonic() < give_up:
        sum(range(10_000))
        grown = (thread_cpu_s(me) or 0.0) - started
    assert grown >= 0.05  # 5 clock ticks of this thread's own CPU time were counted
    assert thread_cpu_s(2**22 + 12345) is None
