"""Extra suite, hotpath: what one market data event costs, stage by stage, in one thread.

No threads and no contention here: each stage of the path a tick takes is timed alone over
``hotpath_events`` calls (best of three), next to the bare queue put+get and to the full
engine in synchronous drive mode (``engine.process``), which is the sum of the stages plus
glue. A cProfile of the synchronous engine names the functions the time goes to. The
threaded suites show what the GIL hand-offs add on top.
"""

from __future__ import annotations

import cProfile
import io
import itertools
import pstats
import queue
import statistics
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from time import perf_counter_ns
from typing import Any

import structlog

from benchmarks.config import Sizes
from benchmarks.results import JsonObject, JsonValue, Row, SuiteResult
from benchmarks.stats import settle
from benchmarks.workloads import (
    NO_CONFLATION_DEPTH,
    REPRESENTATIVE_LIMITS,
    SYMBOLS,
    MarkToMarket,
    Progress,
    RoundTripProbe,
    TickSource,
    build_engine,
    engine_logging,
)
from livetrade.dispatcher import Dispatcher
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import MarketData, trusted
from livetrade.logs import configure_logging

TITLE = "hotpath: per-event cost by stage, single thread (us/event)"
REPEATS = 3


def _best_us(n: int, body: Callable[[int], None], setup: Callable[[], None] | None = None
             ) -> float:
    """Best of three: microseconds per call of ``body(n)``, which does ``n`` events."""
    best = float("inf")
    for _ in range(REPEATS):
        if setup is not None:
            setup()
        settle()
        started = perf_counter_ns()
        body(n)
        best = min(best, (perf_counter_ns() - started) / n / 1000)
    return best


class _HeldStream(io.StringIO):
    """A log stream whose first write blocks until released (holds the writer thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait(60)
        return len(text)


def _sync_engine(n: int) -> tuple[LiveTradingEngine, MarkToMarket]:
    strategy = MarkToMarket(n)
    engine = build_engine(strategy, EngineSettings(market_data_policy="unbounded"))
    engine.start_sync()
    return engine, strategy


def _profile_top(body: Callable[[], object], units: int, count: int = 12) -> list[JsonValue]:
    """cProfile ``body``; the ``count`` functions with most own time, per unit of work."""
    profile = cProfile.Profile()
    profile.enable()
    body()
    profile.disable()
    rows: list[tuple[float, int, str]] = []
    raw = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, ncalls, tottime, _ct, _callers) in raw.items():
        where = "/".join(filename.rsplit("/", 2)[-2:]) if filename not in ("~", "") else "builtin"
        rows.append((tottime, ncalls, f"{where}:{line}({name})"))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows) or 1.0
    return [{"function": label, "calls_per_unit": round(calls / max(units, 1), 2),
             "tottime_share": round(t / total, 3)} for t, calls, label in rows[:count]]


def _order_round_trip_us(n: int) -> float:
    """Median submit→on_fill of market orders in synchronous mode: the order path's CPU cost."""
    probe = RoundTripProbe(order_every=2)
    engine = build_engine(probe, EngineSettings(market_data_policy="unbounded"),
                          risk_limits=REPRESENTATIVE_LIMITS)
    engine.start_sync()
    source = TickSource((SYMBOLS[0],))
    for i in range(max(2, n // 5)):
        engine.process(source.trusted(i))
    engine.stop_sync()
    return statistics.median(probe.samples) / 1000 if probe.samples else 0.0


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("hotpath", TITLE)
    n = sizes.hotpath_events
    source = TickSource()
    events = [source.trusted(i) for i in range(n)]
    stages: dict[str, float] = {}

    # Baseline: the queue alone, with the dispatcher's tuple shape, filled then drained.
    payload = events[0]

    def bare_queue(count: int) -> None:
        q: queue.PriorityQueue[tuple[int, int, int, Any]] = queue.PriorityQueue()
        seq = itertools.count()
        for _ in range(count):
            q.put((4, next(seq), perf_counter_ns(), payload))
        for _ in range(count):
            q.get()

    stages["queue put+get (baseline)"] = _best_us(n, bare_queue)

    def now_only(count: int) -> None:
        for _ in range(count):
            datetime.now(UTC)

    def build_trusted(count: int) -> None:
        for i in range(count):
            source.trusted(i)

    def build_generic(count: int) -> None:
        symbols, prices, volume = source.symbols, source.prices, source.volume
        for i in range(count):
            trusted(MarketData, symbol=symbols[i % len(symbols)], timestamp=datetime.now(UTC),
                    price=prices[i & 255], volume=volume)

    def build_validated(count: int) -> None:
        for i in range(count):
            source.validated(i)

    stages["datetime.now(UTC)"] = _best_us(n, now_only)
    stages["build event: trade_tick() incl. now"] = _best_us(n, build_trusted)
    stages["build event: trusted(MarketData, ...) incl. now"] = _best_us(n, build_generic)
    stages["build event: MarketData() validated incl. now"] = _best_us(n, build_validated)

    holder: list[Dispatcher] = []

    def fresh_dispatcher() -> None:
        holder.clear()
        d = Dispatcher(market_data_policy="conflate", conflate_depth=NO_CONFLATION_DEPTH)
        d.subscribe(MarketData, lambda e: None, "noop")
        holder.append(d)

    def publish_all(count: int) -> None:
        publish = holder[0].publish
        for e in events[:count]:
            publish(e)

    def fill_and_reset() -> None:
        fresh_dispatcher()
        publish_all(n)

    def drain(count: int) -> None:
        holder[0].run_pending()

    stages["Dispatcher.publish"] = _best_us(n, publish_all, fresh_dispatcher)
    stages["Dispatcher get + dispatch, 1 no-op handler"] = _best_us(n, drain, fill_and_reset)

    engine, strategy = _sync_engine(n)
    book = engine.portfolio
    broker = engine.broker
    ctx = engine.context

    def marks(count: int) -> None:
        mark = book.on_market_data  # what the engine subscribes in live mode
        for e in events[:count]:
            mark(e)

    def broker_md(count: int) -> None:
        for e in events[:count]:
            broker.on_market_data(e)

    def strategy_md(count: int) -> None:
        for e in events[:count]:
            strategy.on_market_data(e)

    def snapshot_equity(count: int) -> None:
        for e in events[:count]:
            ctx.last_price(e.symbol)
            _ = ctx.portfolio.equity

    stages["engine handler: Portfolio.on_market_data (mark)"] = _best_us(n, marks)
    stages["paper broker on_market_data"] = _best_us(n, broker_md)
    stages["strategy: last_price + Portfolio.equity()"] = _best_us(n, strategy_md)
    stages["(alt) last_price + ctx.portfolio.equity (snapshot)"] = _best_us(n, snapshot_equity)

    def process_all(count: int) -> None:
        process = engine.process
        for e in events[:count]:
            process(e)

    full = _best_us(n, process_all)
    stages["full engine, sync process() per event"] = full
    progress(f"full engine sync: {full:.2f} us/event")

    log = structlog.get_logger("benchmarks.hotpath")

    def filtered_logs(count: int) -> None:
        for _ in range(count):
            log.info("order_submitted", client_order_id="c1", symbol="AAA", side="buy")

    def rendered_logs(count: int) -> None:
        for _ in range(count):
            log.warning("fill_for_unknown_order", client_order_id="c1", symbol="AAA")

    # Logging as the harness configured it: livetrade.logs JSON at "warning", to /dev/null.
    stages["log call filtered out (info at level warning)"] = _best_us(n, filtered_logs)
    # The caller's share with the background writer (what livetrade run does): the writer
    # is held inside its first write, so what is timed is the hand-over alone.
    held = _HeldStream()
    with engine_logging("warning", "json"):
        configure_logging("json", "warning", stream=held, queue_lines=4 * n + 1)
        log.warning("hold_the_writer")
        held.entered.wait(10)
        stages["log call rendered, caller's share (background writer)"] = _best_us(
            n, rendered_logs)
        held.release.set()
    with engine_logging("warning", "json", background=False):
        stages["log call rendered on the calling thread (JSON to /dev/null)"] = _best_us(
            n, rendered_logs)
    calls = max(3, n // 1000)
    ring = engine.dispatcher.latency
    while ring.count < 65_536:
        ring.record(ring.count * 7919 % 100_000)  # fill the ring, as a long run does

    def statuses(count: int) -> None:
        for _ in range(count):
            engine.status()

    stages["engine.status() once the latency ring is full (per call)"] = _best_us(
        calls, statuses)
    orders = _order_round_trip_us(n)
    stages["order submit->on_fill, sync, median per order"] = orders
    progress(f"order round trip sync: {orders:.1f} us/order")

    top = _profile_top(lambda: process_all(n), n)
    engine.stop_sync()
    order_top = _profile_top(lambda: _order_round_trip_us(n), max(2, n // 5) // 2)

    result.figures["events"] = n
    result.figures["us_per_event"] = {k: round(v, 3) for k, v in stages.items()}
    result.figures["profile_top_tottime"] = top
    result.figures["order_path_profile_top_tottime"] = order_top
    baseline = stages["queue put+get (baseline)"]
    for label, us in stages.items():
        result.rows.append(Row(label, f"{us:.2f} us", baseline=f"full engine {full:.2f} us",
                               ratio=us / full if full else None))
    profile_json: JsonObject = {}
    for entry in top[:6]:
        assert isinstance(entry, dict)
        profile_json[str(entry["function"])] = entry["tottime_share"]
    result.rows.append(Row("bare queue put+get as share of full engine",
                           f"{baseline / full:.0%}" if full else "-"))
    result.notes.append("Ratio column: stage cost / full synchronous engine cost per event. "
                        "Symbols: " + ", ".join(SYMBOLS) + "; 4 seeded positions.")
    result.notes.append("cProfile, market data path, top by own time (share of profiled "
                        "time): " + "; ".join(f"{k} {v:.0%}" for k, v in profile_json.items()
                                              if isinstance(v, float)))
    order_json = [e for e in order_top[:6] if isinstance(e, dict)]
    result.notes.append("cProfile, order path (ticks + one order per 2 ticks), top by own "
                        "time: " + "; ".join(f"{e['function']} {e['tottime_share']}"
                                             for e in order_json))
    return result
