"""The Prometheus metrics of one engine, on its own ``CollectorRegistry``.

Two kinds, chosen by cost on the dispatcher thread:

* **Pulled at scrape time** (zero cost per event): everything the engine already counts —
  events by type, queue depth, conflation, handler errors, orders, book, mode, checkpoints,
  reconciliation runs, feed health, uptime. :class:`EngineCollector` reads them when
  Prometheus asks.
* **Pushed** where nothing counts them yet: low-rate signals (order events, breaker
  changes, broker requests, retries, scheduler lateness) use ordinary ``prometheus_client``
  objects with label children created once. The one per-event signal, dispatch latency,
  goes through :class:`HistogramLatencyRecorder`: one bisect and two additions on top of
  the dispatcher's existing ring buffer, no lock (single writer).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from livetrade.latency import LatencyRecorder

LATENCY_BUCKETS_S: tuple[float, ...] = (
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
REQUEST_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BREAKER_STATES = {"closed": 0.0, "half-open": 1.0, "half_open": 1.0, "open": 2.0}
MODES = ("live", "shadow", "halted")


class HistogramLatencyRecorder(LatencyRecorder):
    """The dispatcher's latency ring plus cumulative Prometheus buckets.

    Why a subclass: the dispatcher already calls ``latency.record(ns)`` once per event, so
    the histogram costs one bisect, not a second call. Single writer (the dispatcher
    thread); a scrape may read a bucket one event ahead of another, never torn.
    """

    def __init__(self, capacity: int = 65536,
                 buckets_s: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        super().__init__(capacity)
        self.bounds_s = buckets_s
        self._bounds_ns = [int(b * 1e9) for b in buckets_s]
        self.bucket_counts = [0] * (len(buckets_s) + 1)
        self.sum_ns = 0

    def record(self, ns: int) -> None:
        i = self.count
        self._buf[i & self._mask] = ns
        self.count = i + 1
        if ns > self.max_ns:
            self.max_ns = ns
        self.bucket_counts[bisect_left(self._bounds_ns, ns)] += 1
        self.sum_ns += ns

    def cumulative(self) -> tuple[list[tuple[str, float]], float]:
        """``(buckets, sum_s)`` in the shape ``HistogramMetricFamily`` takes."""
        counts = list(accumulate(list(self.bucket_counts)))
        labels = [repr(b) for b in self.bounds_s] + ["+Inf"]
        return [(le, float(c)) for le, c in zip(labels, counts, strict=True)], self.sum_ns / 1e9


class EngineMetrics:
    """The pushed metric objects of one engine; see the module docstring for the split.

    Why an object and not module globals: each engine (and each test) owns its registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.orders = Counter("livetrade_orders", "Order lifecycle events seen by the engine",
                              ["event"], registry=r)
        self.order_events = {e: self.orders.labels(e) for e in
                             ("submitted", "accepted", "filled", "rejected", "canceled")}
        self.fills = Counter("livetrade_fills", "Fills booked (partial fills count each)",
                             registry=r)
        self.fill_latency = Histogram(
            "livetrade_fill_latency_seconds", "Order sent to the broker -> its first fill",
            buckets=REQUEST_BUCKETS_S, registry=r)
        self.broker_request = Histogram(
            "livetrade_broker_request_duration_seconds", "Broker request duration",
            ["operation"], buckets=REQUEST_BUCKETS_S, registry=r)
        self.broker_errors = Counter("livetrade_broker_errors",
                                     "Broker requests that failed", ["operation", "kind"],
                                     registry=r)
        self.retries = Counter("livetrade_broker_retries", "Broker request retries",
                               ["operation"], registry=r)
        self.breaker_state = Gauge(
            "livetrade_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["broker", "group"], registry=r)
        self.breaker_transitions = Counter(
            "livetrade_breaker_transitions", "Breaker state changes", ["broker", "group", "to"],
            registry=r)
        self.reconciliation_mismatches = Counter(
            "livetrade_reconciliation_mismatches", "Differences found by reconciliation",
            ["kind"], registry=r)
        self.reconciliation_failures = Counter(
            "livetrade_reconciliation_failures", "Reconciliations the broker did not answer",
            registry=r)
        self.checkpoint_duration = Histogram(
            "livetrade_checkpoint_duration_seconds", "Checkpoint write duration",
            buckets=REQUEST_BUCKETS_S, registry=r)
        self.scheduler_lateness = Histogram(
            "livetrade_scheduler_lateness_seconds", "Scheduled trigger fired after its time",
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0), registry=r)
        self.errors = Counter("livetrade_system_errors", "SystemErrorEvents by severity",
                              ["severity"], registry=r)
        self.mode_changes = Counter("livetrade_mode_changes", "Mode changes", ["to"],
                                    registry=r)
        self.hook_errors = Counter("livetrade_monitor_hook_errors", "Hooks that raised",
                                   ["hook"], registry=r)
        self.hook_events_dropped = Counter(
            "livetrade_monitor_events_dropped",
            "Monitoring events dropped because the hook queue was full", registry=r)
        self.alerts_sent = Counter("livetrade_alerts_sent", "Alerts delivered to a webhook",
                                   ["rule"], registry=r)
        self.alerts_suppressed = Counter(
            "livetrade_alerts_suppressed", "Alerts not sent", ["reason"], registry=r)
        self.alert_send_failures = Counter(
            "livetrade_alert_send_failures", "Webhook deliveries given up after retries",
            registry=r)


Sampler = Callable[[], Iterator[Metric]]


class EngineCollector(Collector):
    """Yields the pulled metrics; ``sample`` is the monitor's reader of the engine.

    Why a callback: this module knows Prometheus, not the engine; the monitor knows both.
    """

    def __init__(self, sample: Sampler) -> None:
        self._sample = sample

    def collect(self) -> Iterator[Metric]:
        yield from self._sample()


def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def labelled_gauge(name: str, doc: str, label: str,
                   values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def labelled_counter(name: str, doc: str, label: str,
                     values: dict[str, float]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def latency_family(recorder: HistogramLatencyRecorder) -> HistogramMetricFamily:
    buckets, total = recorder.cumulative()
    return HistogramMetricFamily(
        "livetrade_dispatch_latency_seconds",
        "Event publish -> first handler start, every dispatched event",
        buckets=buckets, sum_value=total)
