"""A cheap latency recorder for the dispatcher's hot path.

Recording must cost almost nothing (one list store, one compare) because it runs once per
event. It keeps the most recent ``capacity`` samples in a ring, the all-time maximum and a
count; percentiles are computed on demand by whoever asks (status line, metrics, benchmark).
Memory is fixed: no history grows with uptime.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles in microseconds over the recent window, plus all-time max and count."""

    count: int
    window: int
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float


class LatencyRecorder:
    """Ring buffer of nanosecond samples; single writer, any number of (approximate) readers.

    Only the dispatcher thread writes, so there is no lock; a reader may see a sample being
    overwritten, which only blurs a percentile by one sample.
    """

    def __init__(self, capacity: int = 65536) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two")
        self._mask = capacity - 1
        self._buf = [0] * capacity
        self.count = 0
        self.max_ns = 0

    def ring(self) -> tuple[list[int], int, int, int]:
        """(buffer, index mask, count, max): for a writer that records inline in its own
        loop and writes ``count`` and ``max_ns`` back after (the dispatcher's hot path)."""
        return self._buf, self._mask, self.count, self.max_ns

    def record(self, ns: int) -> None:
        i = self.count
        self._buf[i & self._mask] = ns
        self.count = i + 1
        if ns > self.max_ns:
            self.max_ns = ns

    def samples(self) -> list[int]:
        """The recent samples (unordered), at most ``capacity`` of them."""
        n = min(self.count, self._mask + 1)
        return self._buf[:n] if n <= self._mask else list(self._buf)

    def summary(self, max_samples: int = 8192) -> LatencySummary:
        """Percentiles over the recent window, from at most ``max_samples`` of it.

        Sorting the full 65,536-sample ring takes milliseconds of GIL on a shared box, and
        the status line asks every second; an even stride through the ring keeps the
        percentiles honest (p99.9 still has ~8 samples above it) at a tenth of the cost.
        ``max_us`` is exact (tracked on every record).
        """
        samples = self.samples()
        stride = max(1, len(samples) // max_samples)
        data = sorted(samples[::stride])
        if not data:
            return LatencySummary(self.count, 0, 0.0, 0.0, 0.0, 0.0)

        def pct(q: float) -> float:
            return data[min(len(data) - 1, int(q * len(data)))] / 1000.0

        return LatencySummary(
            count=self.count,
            window=len(data),
            p50_us=pct(0.50),
            p99_us=pct(0.99),
            p999_us=pct(0.999),
            max_us=self.max_ns / 1000.0,
        )
