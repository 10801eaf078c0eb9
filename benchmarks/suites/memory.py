"""Suite 8, memory: RSS growth while a long stream of events passes through the engine.

The producer uses the replay policy ("block": at most 1,000 ticks queued), so the queue
cannot hold the growth and whatever RSS is gained is state the engine keeps. The strategy
marks to market on every tick and sends a market order every ``memory_order_every`` ticks,
so order history, fill ids and the risk window are exercised too (order history is bounded
at ``closed_orders_kept``). RSS is read from /proc/self/status after a warm-up, every
0.25 s during the run, and at the end. Full mode runs 10M events (the issue's figure), cut
at 5 minutes on a machine too slow for that; the row says how many it reached.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from decimal import Decimal

from benchmarks.config import Sizes
from benchmarks.results import Row, SuiteResult, Target
from benchmarks.stats import rss_mb, settle
from benchmarks.workloads import MarkToMarket, Progress, TickSource, build_engine
from livetrade.engine import EngineSettings
from livetrade.events import MarketData, OrderFill, Side

TITLE = "memory: RSS growth over a long run through the engine"
FLAT_MB = 1.0
"""'Flat after warm-up': the second half of the run may add at most this much RSS."""


class _Trader(MarkToMarket):
    """:class:`MarkToMarket` plus a market order every ``every`` ticks, one in flight."""

    def __init__(self, every: int) -> None:
        super().__init__(0)
        self.every = every
        self.orders = 0
        self._long = False
        self._in_flight = False

    def on_market_data(self, event: MarketData) -> None:
        super().on_market_data(event)
        if self._in_flight or self.seen % self.every:
            return
        self._in_flight = True
        self.orders += 1
        self.ctx.submit_order(event.symbol, Side.SELL if self._long else Side.BUY, Decimal(1))

    def on_fill(self, fill: OrderFill) -> None:
        self._long = fill.side is Side.BUY
        self._in_flight = False


def _mb(delta: float) -> float:
    """A few kB either way is noise (one page is 4 kB): show it as 0.00, not -0.00."""
    return 0.0 if abs(delta) < 0.005 else delta


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("memory", TITLE)
    settle()
    trader = _Trader(sizes.memory_order_every)
    engine = build_engine(trader, EngineSettings(market_data_policy="block",
                                                 stop_timeout_s=sizes.drain_timeout_s))
    source = TickSource()
    stop = threading.Event()
    published = [0]
    limit = sizes.memory_max_events

    def produce() -> None:
        publish = engine.publish
        make = source.trusted
        i = 0
        while i < limit and not stop.is_set():
            publish(make(i))
            i += 1
            if i & 1023 == 0:
                published[0] = i
        published[0] = i

    producer = threading.Thread(target=produce, name="bench-memory-producer", daemon=True)
    samples: list[tuple[float, int, float]] = []
    engine.start()
    try:
        started = time.perf_counter()
        deadline = started + sizes.memory_duration_s
        producer.start()
        while trader.seen < sizes.memory_warmup_events and producer.is_alive():
            time.sleep(0.01)
        warm_events = trader.seen
        warm_rss = rss_mb()
        warm_blocks = sys.getallocatedblocks()
        warm_objects = len(gc.get_objects())
        warm_at = time.perf_counter()
        progress(f"warm-up done at {warm_events:,} events, RSS {warm_rss:.1f} MB")
        next_report = warm_at + 10.0
        while producer.is_alive() and time.perf_counter() < deadline:
            time.sleep(0.25)
            samples.append((time.perf_counter() - started, trader.seen, rss_mb()))
            if time.perf_counter() >= next_report:
                next_report += 10.0
                progress(f"{trader.seen:,} events, RSS {samples[-1][2]:.1f} MB")
        stop.set()
        producer.join(sizes.drain_timeout_s)
        engine.wait_until_idle(sizes.drain_timeout_s)
        end_events = trader.seen
        end_rss = rss_mb()
        end_blocks = sys.getallocatedblocks()
        end_objects = len(gc.get_objects())
        elapsed = time.perf_counter() - warm_at
    finally:
        engine.stop()
    settle()
    after_gc = rss_mb()
    peak = max([warm_rss, end_rss, *(s[2] for s in samples)])
    mid = [s for s in samples if s[1] >= (warm_events + end_events) / 2]
    second_half = end_rss - mid[0][2] if mid else 0.0
    counted = end_events - warm_events
    growth = _mb(end_rss - warm_rss)
    second_half = _mb(second_half)
    result.figures.update(
        events=end_events, events_after_warmup=counted, warmup_events=warm_events,
        seconds_after_warmup=round(elapsed, 2), orders=trader.orders,
        rss_warmup_mb=round(warm_rss, 1), rss_end_mb=round(end_rss, 1),
        rss_peak_mb=round(peak, 1), rss_after_stop_gc_mb=round(after_gc, 1),
        growth_mb=round(growth, 2),
        growth_mb_per_million_events=round(growth / counted * 1e6, 2) if counted else 0.0,
        growth_second_half_mb=round(second_half, 2),
        allocated_blocks_warmup=warm_blocks, allocated_blocks_end=end_blocks,
        allocated_blocks_growth=end_blocks - warm_blocks,
        gc_objects_warmup=warm_objects, gc_objects_end=end_objects,
        rss_samples=[[round(t, 2), n, round(r, 1)] for t, n, r in samples],
    )
    result.rows += [
        Row(f"events after warm-up ({warm_events:,} warm-up), orders",
            f"{counted:,} in {elapsed:.1f} s, {trader.orders:,} orders"),
        Row("RSS at warm-up / end / peak",
            f"{warm_rss:.1f} / {end_rss:.1f} / {peak:.1f} MB"),
        Row("RSS growth (total / second half of run)",
            f"{growth:+.2f} MB / {second_half:+.2f} MB", target="flat_after_warmup"),
        Row("pymalloc blocks / gc-tracked objects, growth",
            f"{end_blocks - warm_blocks:+,} / {end_objects - warm_objects:+,}",
            baseline=f"at warm-up {warm_blocks:,} / {warm_objects:,}"),
        Row("RSS growth per million events",
            f"{growth / counted * 1e6 if counted else 0.0:+.2f} MB"),
    ]
    result.notes.append("RSS can hide growth that fits in memory freed by earlier suites, so "
                        "pymalloc's allocated blocks and gc-tracked objects are counted too "
                        "(both at warm-up and after the queue drained, engine still up). Order "
                        "history is kept up to closed_orders_kept (10,000 orders), so some "
                        "block growth per order is expected until that cap.")
    result.targets["flat_after_warmup"] = Target(
        round(second_half, 2), FLAT_MB, "<=", note="RSS growth (MB) in the run's second half")
    result.notes.append("No timing target here: the run length is whatever fits the mode's "
                        "time budget; growth in the second half separates a leak from "
                        "bounded buffers still filling.")
    return result
