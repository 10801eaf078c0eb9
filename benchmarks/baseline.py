"""The floor: a bare ``queue.PriorityQueue`` carrying the dispatcher's tuple shape.

Nothing in Python can hand events between threads through this queue faster than this, so
it is the denominator of every throughput ratio and the reference for every latency. The
tuples are exactly what :meth:`livetrade.dispatcher.Dispatcher.publish` puts
(``(priority, seq, t_ns, obj)``, ``seq`` from a shared ``itertools.count``), and the consumer
loop is the dispatcher's ``_run`` minus the dispatch: ``get()``, a sentinel check, nothing
else. The payload is one pre-built ``MarketData``: building events is the producer's cost
and is billed to the engine side of every ratio, where it belongs. It runs with the GIL
switch interval a running engine sets (``livetrade/switch_interval.py``), so that floor and
engine share the interpreter's settings and the ratio compares only the code.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Any

from benchmarks.pacing import PacedRun, run_paced
from benchmarks.workloads import TickSource
from livetrade.engine_types import EngineSettings
from livetrade.switch_interval import SwitchInterval

_STOP = object()
_MD = 4
_JOIN_S = 60.0


@contextmanager
def as_an_engine_runs() -> Iterator[None]:
    """The process-wide settings a running engine sets that bear on a floor: the GIL
    switch interval (the collector settings do not: the floor allocates almost nothing)."""
    interval = EngineSettings().switch_interval_s
    if interval > 0:
        SwitchInterval.acquire(interval)
    try:
        yield
    finally:
        if interval > 0:
            SwitchInterval.release()


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


def floor_throughput(events: int, producers: int = 1) -> float:
    """Events/s from ``producers`` threads to one consumer thread that does nothing. Blocks.

    Timed from the moment all producers are released until the consumer took the last
    event. Returns 0.0 if the consumer did not finish within a minute.
    """
    q: queue.PriorityQueue[tuple[int, int, int, Any]] = queue.PriorityQueue()
    seq = itertools.count()
    payload = TickSource().trusted(0)
    gate = threading.Barrier(producers + 1)
    finished: list[int] = []

    def consume() -> None:
        get = q.get
        for _ in range(events):
            item = get()
            if item[3] is _STOP:
                return
        finished.append(perf_counter_ns())

    def produce(count: int) -> None:
        put = q.put
        gate.wait()
        for _ in range(count):
            put((_MD, next(seq), perf_counter_ns(), payload))

    consumer = threading.Thread(target=consume, name="bench-floor-consumer", daemon=True)
    workers = [threading.Thread(target=produce, args=(n,), name=f"bench-floor-producer-{k}",
                                daemon=True)
               for k, n in enumerate(_split(events, producers))]
    with as_an_engine_runs():
        consumer.start()
        for worker in workers:
            worker.start()
        gate.wait()
        started = perf_counter_ns()
        for worker in workers:
            worker.join(_JOIN_S)
        consumer.join(_JOIN_S)
    if consumer.is_alive():
        q.put((-1, next(seq), 0, _STOP))
        consumer.join(_JOIN_S)
    if not finished:
        return 0.0
    return events / ((finished[0] - started) / 1e9)


def floor_latency(rate_hz: float, duration_s: float) -> tuple[PacedRun, list[int]]:
    """Publish→consumer-start latencies (ns) at a paced offered load. Blocks.

    The calling thread is the producer (paced by :func:`run_paced`); one consumer thread
    records ``perf_counter_ns() - t_ns`` for every item, like the dispatcher's recorder.
    """
    q: queue.PriorityQueue[tuple[int, int, int, Any]] = queue.PriorityQueue()
    seq = itertools.count()
    payload = TickSource().trusted(0)
    samples: list[int] = []

    def consume() -> None:
        get = q.get
        record = samples.append
        while True:
            item = get()
            if item[3] is _STOP:
                return
            record(perf_counter_ns() - item[2])

    consumer = threading.Thread(target=consume, name="bench-floor-consumer", daemon=True)
    put = q.put
    heap = q.queue

    def emit(i: int) -> None:
        put((_MD, next(seq), perf_counter_ns(), payload))

    with as_an_engine_runs():
        consumer.start()
        run = run_paced(rate_hz, duration_s, emit, depth=heap.__len__)
        q.put((1 << 30, next(seq), 0, _STOP))
        consumer.join(_JOIN_S)
    return run, samples


def candidate_throughput(events: int) -> float:
    """Like :func:`floor_throughput` (1 producer), through a candidate hand-off. Blocks.

    Not what the dispatcher does today: producers put into a ``queue.SimpleQueue`` (C code,
    no Python-level lock or condition), and the single consumer moves everything waiting
    into a heap it owns before each pop, so priority order is the same as the
    PriorityQueue's for every event that had arrived. Reported next to the floor as
    evidence for a possible dispatcher change; it is no baseline of anything.
    """
    inbox: queue.SimpleQueue[tuple[int, int, int, Any]] = queue.SimpleQueue()
    seq = itertools.count()
    payload = TickSource().trusted(0)
    gate = threading.Barrier(2)
    finished: list[int] = []

    def consume() -> None:
        heap: list[tuple[int, int, int, Any]] = []
        get, get_nowait = inbox.get, inbox.get_nowait
        push, pop = heapq.heappush, heapq.heappop
        for _ in range(events):
            if not heap:
                push(heap, get())
            try:
                while True:
                    push(heap, get_nowait())
            except queue.Empty:
                pass
            if pop(heap)[3] is _STOP:
                return
        finished.append(perf_counter_ns())

    def produce() -> None:
        put = inbox.put
        gate.wait()
        for _ in range(events):
            put((_MD, next(seq), perf_counter_ns(), payload))

    consumer = threading.Thread(target=consume, name="bench-candidate-consumer", daemon=True)
    producer = threading.Thread(target=produce, name="bench-candidate-producer", daemon=True)
    consumer.start()
    producer.start()
    gate.wait()
    started = perf_counter_ns()
    producer.join(_JOIN_S)
    consumer.join(_JOIN_S)
    if consumer.is_alive():
        inbox.put((-1, next(seq), 0, _STOP))
        consumer.join(_JOIN_S)
    if not finished:
        return 0.0
    return events / ((finished[0] - started) / 1e9)
