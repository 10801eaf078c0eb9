"""Suite 5, order_round_trip: strategy submit → risk → paper broker → fill at ``on_fill``.

Threaded mode (``engine.start()``), market orders triggered by market data: a paced
producer publishes ticks; every ``order_every``-th tick the strategy submits a market order
(buy when flat, sell when long, one order in flight) with every risk limit enabled. The
clock starts just before ``ctx.submit_order`` and stops at the top of ``on_fill``; in
between: validation, risk checks, the inline paper broker, the OrderAccepted and OrderFill
events through the queue, and the engine's fill booking.

Three engine runs: with the engine's info log lines filtered out (level "warning"); with
them rendered as JSON into /dev/null by the background log writer thread (what a
supervisord deployment pays, minus the I/O); and, for comparison in the same run, rendered on
the dispatcher thread itself (``configure_logging(background=False)``, the old behaviour).
The baseline is the bare Dispatcher doing the same hop: a market-data handler publishes a
pre-built fill and the fill handler stops the clock.
"""

from __future__ import annotations

import time
from time import perf_counter_ns
from typing import Any

from benchmarks.config import Sizes
from benchmarks.pacing import run_paced
from benchmarks.results import JsonObject, Row, SuiteResult, Target, latency_text
from benchmarks.stats import settle, summarize_ns
from benchmarks.workloads import (
    REPRESENTATIVE_LIMITS,
    Progress,
    RoundTripProbe,
    TickSource,
    build_engine,
    engine_logging,
    injected_fill,
    throughput_settings,
)
from livetrade.dispatcher import Dispatcher
from livetrade.events import MarketData, OrderFill

TITLE = "order_round_trip: submit -> risk -> paper broker -> on_fill (threaded)"
P99_TARGET_US = 500.0
SYMBOL = "AAA"


def engine_round_trip(sizes: Sizes) -> JsonObject:
    probe = RoundTripProbe(sizes.round_trip_order_every)
    engine = build_engine(probe, throughput_settings(), risk_limits=REPRESENTATIVE_LIMITS)
    source = TickSource((SYMBOL,))
    publish = engine.dispatcher.publish  # what engine.start() hands every feed
    engine.start()
    try:
        paced = run_paced(sizes.round_trip_md_rate_hz, sizes.round_trip_duration_s,
                          lambda i: publish(source.trusted(i)))
        deadline = time.perf_counter() + sizes.drain_timeout_s
        while (probe.ticks < paced.published or probe.sent_ns) and time.perf_counter() < deadline:
            time.sleep(0.001)
    finally:
        engine.stop()
    out = summarize_ns(probe.samples)
    out.update(orders=len(probe.samples), rejects=probe.rejects,
               offered_ticks_per_s=round(paced.offered_hz))
    return out


class _BareHop:
    """Bare Dispatcher: a tick handler publishes a pre-built fill; the fill handler times it."""

    def __init__(self, order_every: int) -> None:
        self.dispatcher = Dispatcher(market_data_policy="unbounded")
        self.dispatcher.subscribe(MarketData, self._on_tick)
        self.dispatcher.subscribe(OrderFill, self._on_fill)
        self._fill = injected_fill(0, SYMBOL)
        self._every = order_every
        self.ticks = 0
        self._sent = 0
        self.samples: list[int] = []

    def _on_tick(self, event: Any) -> None:
        self.ticks += 1
        if self.ticks % self._every == 0:
            self._sent = perf_counter_ns()
            self.dispatcher.publish(self._fill)

    def _on_fill(self, event: Any) -> None:
        self.samples.append(perf_counter_ns() - self._sent)


def bare_round_trip(sizes: Sizes) -> JsonObject:
    hop = _BareHop(sizes.round_trip_order_every)
    source = TickSource((SYMBOL,))
    publish = hop.dispatcher.publish
    hop.dispatcher.start()
    try:
        run_paced(sizes.round_trip_md_rate_hz, sizes.round_trip_duration_s,
                  lambda i: publish(source.trusted(i)))
    finally:
        hop.dispatcher.stop(drain=True, timeout_s=sizes.drain_timeout_s)
    out = summarize_ns(hop.samples)
    out["orders"] = len(hop.samples)
    return out


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("order_round_trip", TITLE)
    settle()
    bare = bare_round_trip(sizes)
    progress(f"bare dispatcher hop: p99 {bare['p99_us']} us")
    settle()
    quiet = engine_round_trip(sizes)
    progress(f"engine, logs filtered: p99 {quiet['p99_us']} us over {quiet['orders']} orders")
    settle()
    with engine_logging("info", "json"):
        logged = engine_round_trip(sizes)
    progress(f"engine, info logs rendered: p99 {logged['p99_us']} us")
    settle()
    with engine_logging("info", "json", background=False):
        inline = engine_round_trip(sizes)
    progress(f"engine, info logs rendered on the dispatcher thread: p99 {inline['p99_us']} us")
    result.figures.update(
        md_rate_hz=sizes.round_trip_md_rate_hz, order_every_ticks=sizes.round_trip_order_every,
        bare_dispatcher_hop=bare, engine_logs_filtered=quiet, engine_logs_rendered=logged,
        engine_logs_rendered_inline=inline)
    bare_p99 = bare["p99_us"]
    assert isinstance(bare_p99, float)
    for key, label, data in (("p99_us_logs_filtered", "logs filtered", quiet),
                             ("p99_us_logs_rendered", "info logs rendered (writer thread)",
                              logged)):
        p99 = data["p99_us"]
        assert isinstance(p99, float)
        result.targets[key] = Target(p99, P99_TARGET_US, "<")
        result.rows.append(Row(f"engine, {label}: p50/p99/p99.9/max ({data['orders']:,} orders)",
                               latency_text(data), baseline=f"bare hop {latency_text(bare)}",
                               ratio=p99 / bare_p99 if bare_p99 else None, target=key))
    inline_p99 = inline["p99_us"]
    logged_p99 = logged["p99_us"]
    assert isinstance(inline_p99, float) and isinstance(logged_p99, float)
    result.rows.append(Row(
        f"  same, info logs rendered on the dispatcher thread ({inline['orders']:,} orders)",
        latency_text(inline), baseline=f"writer thread p99 {logged_p99:,.0f} us",
        ratio=inline_p99 / logged_p99 if logged_p99 else None))
    result.notes.append("Ratio is engine p99 / bare-dispatcher hop p99. Risk limits: all "
                        "enabled, none binding. One order in flight at a time.")
    return result
