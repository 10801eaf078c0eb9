"""The process suite 13 runs under callgrind: ``python -m benchmarks.instructions_child N``.

Why a separate process: callgrind counts every instruction of the process it runs, so the
work to count must be alone in one, and each phase must be cut out of the total. The cut is
``os.getppid()``: the suite asks callgrind to dump its counters each time libc's
``getppid`` is entered (``--dump-before=getppid``), and nothing else here calls it, so dump k
holds exactly what ran between the (k-1)-th and the k-th call.

Everything is built and warmed up first (the first dump: interpreter start, imports, setup),
then the phases run back to back, one ``getppid`` after each:

* ``floor``: ``queue.PriorityQueue`` put then get, 50 at a time, one pre-built payload in the
  dispatcher's tuple shape: the same bare queue the floor suite times between two threads;
* ``build_tick``: building one trade tick the way feeds do (``TickSource.trusted``);
* the engine's stages one at a time, on pre-built ticks, like the hotpath suite's:
  ``dispatcher`` (``Dispatcher.publish`` 50 ticks, then ``run_pending``, one no-op handler),
  ``mark`` (``Portfolio.on_market_data``), ``paper_broker`` (the paper broker's tick),
  ``strategy`` (the mark-to-market strategy: last price and ``equity()``);
* ``engine_tick``: the full engine in drive mode: build a tick, ``Dispatcher.publish``, and
  every 50 ticks ``run_pending`` (portfolio mark, paper broker, a mark-to-market strategy);
* ``engine_order``: the same strategy also sending a market order every second tick (risk
  check, paper fill, the order events back, the fill booked, ``on_fill``).

Logging is at ``warning`` (the order path's info lines filtered out, as in the order round
trip suite's headline figure) with no writer thread. One thread, no GIL hand-offs: this is
the Python work per event, which is what the threaded engine's ceiling is made of. It prints
one JSON line: the phases in dump order.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import sys
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from benchmarks.workloads import (
    NO_CONFLATION_DEPTH,
    REPRESENTATIVE_LIMITS,
    MarkToMarket,
    MarkToMarketTrader,
    TickSource,
    build_engine,
    engine_logging,
)
from livetrade.dispatcher import Dispatcher
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import MarketData

BATCH = 50
WARMUP = 400


def _drive(engine: LiveTradingEngine, source: TickSource, first: int, count: int) -> None:
    publish = engine.dispatcher.publish
    run_pending = engine.dispatcher.run_pending
    make = source.trusted
    for start in range(first, first + count, BATCH):
        for i in range(start, min(start + BATCH, first + count)):
            publish(make(i))
        run_pending()


def main(argv: list[str]) -> int:
    """Count phases of ``argv[0]`` events (rounded down to whole batches); print the JSON."""
    n = max(BATCH, int(argv[0]) // BATCH * BATCH)
    # Info lines filtered out, as in the order round trip suite's headline figure, and no
    # writer thread: the whole process is this one thread.
    with engine_logging(background=False):
        return _count(n)


def _count(n: int) -> int:
    """Build everything, warm every phase up, then run the phases between dumps."""
    source = TickSource()
    payload = source.trusted(0)
    floor_queue: queue.PriorityQueue[tuple[int, int, int, Any]] = queue.PriorityQueue()
    seq = itertools.count()

    def floor(count: int) -> None:
        put, get = floor_queue.put, floor_queue.get
        for _ in range(count // BATCH):
            for _ in range(BATCH):
                put((4, next(seq), perf_counter_ns(), payload))
            for _ in range(BATCH):
                get()

    def build(count: int) -> None:
        make = source.trusted
        for i in range(count):
            make(i)

    ticker = MarkToMarket()
    tick_engine = build_engine(ticker, EngineSettings(market_data_policy="unbounded"))
    tick_engine.start_sync()
    # The same strategy plus a market order every second tick (one in flight; the paper
    # broker fills it inside the same run_pending), so engine_order - engine_tick is the
    # order path alone.
    trader = MarkToMarketTrader(0, order_every=2)
    order_engine = build_engine(trader, EngineSettings(market_data_policy="unbounded"),
                                risk_limits=REPRESENTATIVE_LIMITS)
    order_engine.start_sync()
    # The stages see pre-built ticks; a second, unsubscribed strategy so the engine's own
    # strategy count stays exact.
    events = [source.trusted(i) for i in range(n)]
    staged = MarkToMarket()
    staged.equity = tick_engine.portfolio.equity
    staged.bind(tick_engine.context)
    lone = Dispatcher(market_data_policy="conflate", conflate_depth=NO_CONFLATION_DEPTH)
    lone.subscribe(MarketData, lambda event: None, "noop")

    def dispatcher(first: int, count: int) -> None:
        publish, run_pending = lone.publish, lone.run_pending
        for start in range(0, count, BATCH):
            for event in events[start:start + BATCH]:
                publish(event)
            run_pending()

    def each(handler: Callable[[Any], None]) -> Callable[[int, int], None]:
        def body(first: int, count: int) -> None:
            for event in events[:count]:
                handler(event)
        return body

    phases: list[tuple[str, Callable[[int, int], None]]] = [
        ("floor", lambda first, count: floor(count)),
        ("build_tick", lambda first, count: build(count)),
        ("dispatcher", dispatcher),
        ("mark", each(tick_engine.portfolio.on_market_data)),
        ("paper_broker", each(tick_engine.broker.on_market_data)),
        ("strategy", each(staged.on_market_data)),
        ("engine_tick", lambda first, count: _drive(tick_engine, source, first, count)),
        ("engine_order", lambda first, count: _drive(order_engine, source, first, count)),
    ]
    for _, body in phases:  # warm every path up, outside the counted phases
        body(0, WARMUP)
    warm_orders = trader.orders
    os.getppid()  # dump 1: start, imports, setup, warm-up
    for _, body in phases:
        body(WARMUP, n)
        os.getppid()  # the next dump: this phase alone
    tick_engine.stop_sync()
    order_engine.stop_sync()
    for strategy in (ticker, trader):
        if strategy.seen != WARMUP + n:
            raise RuntimeError(f"a strategy saw {strategy.seen} ticks, not {WARMUP + n}")
    print(json.dumps({"events": n, "batch": BATCH,
                      "phases": [name for name, _ in phases],
                      "orders": trader.orders - warm_orders}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
