"""The suites, in the order they run. A suite without a runner is listed as not yet available.

To add a suite: write ``benchmarks/suites/<name>.py`` with ``run(sizes, progress)`` returning
a :class:`~benchmarks.results.SuiteResult`, and add it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.config import Sizes
from benchmarks.results import SuiteResult
from benchmarks.suites import (
    checkpoints,
    engine_throughput,
    floor,
    hotpath,
    ib_round_trip,
    instructions,
    latency,
    memory,
    order_round_trip,
    overload,
    replay,
    stream_latency,
    venue_round_trip,
)
from benchmarks.workloads import Progress

SuiteRunner = Callable[[Sizes, Progress], SuiteResult]


@dataclass(frozen=True)
class Suite:
    number: int
    name: str
    title: str
    run: SuiteRunner | None
    unavailable: str = ""


SUITES: tuple[Suite, ...] = (
    Suite(1, "floor", floor.TITLE, floor.run),
    Suite(2, "engine_throughput", engine_throughput.TITLE, engine_throughput.run),
    Suite(3, "latency", latency.TITLE, latency.run),
    Suite(4, "overload", overload.TITLE, overload.run),
    Suite(5, "order_round_trip", order_round_trip.TITLE, order_round_trip.run),
    Suite(6, "checkpoints", checkpoints.TITLE, checkpoints.run),
    Suite(7, "replay", replay.TITLE, replay.run),
    Suite(8, "memory", memory.TITLE, memory.run),
    Suite(9, "hotpath", hotpath.TITLE, hotpath.run),
    Suite(10, "ib_round_trip", ib_round_trip.TITLE, ib_round_trip.run),
    Suite(11, "stream_latency", stream_latency.TITLE, stream_latency.run),
    Suite(12, "venue_round_trip", venue_round_trip.TITLE, venue_round_trip.run),
    Suite(13, "instructions", instructions.TITLE, instructions.run),
)

BY_NAME: dict[str, Suite] = {s.name: s for s in SUITES}
