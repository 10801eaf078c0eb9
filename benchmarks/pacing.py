"""A producer loop that offers a fixed event rate by sleeping, never by busy-waiting.

Sleeping per event is too coarse above a few thousand events/s (a ``time.sleep`` costs
~60-100 us on Linux), so the loop publishes a small batch back to back, then sleeps until the
next batch is due on an absolute schedule. Events inside a batch are a burst of
``batch_interval_s`` worth of traffic; that burst is part of what the latencies measure.
A producer that falls behind does not sleep until it has caught up, and the whole run is
cut at ``max_duration_factor`` times its nominal length, so the loop is always bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

BATCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class PacedRun:
    """What a paced producer achieved."""

    target_hz: float
    published: int
    elapsed_s: float
    batch: int
    max_depth: int
    depth_at_end: int

    @property
    def offered_hz(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run_paced(
    rate_hz: float,
    duration_s: float,
    emit: Callable[[int], None],
    *,
    depth: Callable[[], int] | None = None,
    batch_interval_s: float = BATCH_INTERVAL_S,
    max_duration_factor: float = 1.5,
) -> PacedRun:
    """Call ``emit(i)`` for ``i`` in ``range(rate_hz * duration_s)``, paced. Blocks.

    ``depth`` (e.g. the queue depth) is sampled after every batch; its maximum and its value
    when the producer finishes are returned.
    """
    total = max(1, int(rate_hz * duration_s))
    batch = max(1, round(rate_hz * batch_interval_s))
    interval = batch / rate_hz
    start = time.perf_counter()
    deadline = start + duration_s * max_duration_factor
    next_due = start
    max_depth = 0
    i = 0
    while i < total:
        end = min(i + batch, total)
        while i < end:
            emit(i)
            i += 1
        if depth is not None:
            d = depth()
            if d > max_depth:
                max_depth = d
        next_due += interval
        now = time.perf_counter()
        if now > deadline:
            break
        if next_due > now:
            time.sleep(next_due - now)
    elapsed = time.perf_counter() - start
    at_end = depth() if depth is not None else 0
    return PacedRun(rate_hz, i, elapsed, batch, max(max_depth, at_end), at_end)
