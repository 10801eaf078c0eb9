"""The engine process that suite 6 kills with SIGKILL: ``python -m benchmarks.restore_child``.

It opens the persisted paper venue (``--broker``, its own diskcache store) and the engine's
state store (``--state``) that the suite prepared, starts the engine in threaded mode
(restoring the book there), and trades: it publishes ticks for four symbols of its own
at ``--rate`` per second (paced by sleeping) and its strategy sends a market order every
``--order-every`` ticks and alternately places or cancels a far-away limit order, so the
journal, the debounced checkpoints and the periodic ones (``--interval``) all run.

Protocol: one JSON object per line on stdout. ``{"event": "started", ...}`` once ``start()``
returned; ``{"event": "ready", ...}`` once at least two checkpoints were written and a few
fills booked (the suite kills it any time after that); ``{"event": "status", ...}`` every
0.1 s. Engine logs go to /dev/null. Bounded: after ``--max-seconds`` it stops cleanly and
exits 0 on its own, so a parent that died cannot leave it running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.statebench import VENUE, state_settings, tick
from benchmarks.workloads import engine_logging
from livetrade.brokers.paper import PaperBroker
from livetrade.clock import SystemClock
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import MarketData, OrderFill, OrderType, Side
from livetrade.state.manager import StateManager
from livetrade.strategy import Strategy

SYMBOLS = ("T0", "T1", "T2", "T3")
READY_CHECKPOINTS = 2
READY_FILLS = 4
BATCH_INTERVAL_S = 0.002
STATUS_INTERVAL_S = 0.1


class ChurnTrader(Strategy):
    """Market orders (alternating sides) and a resting limit order placed and canceled."""

    def __init__(self, order_every: int) -> None:
        self.order_every = order_every
        self.ticks = 0
        self.fills = 0
        self.orders = 0
        self._resting: str | None = None

    def on_market_data(self, event: MarketData) -> None:
        if event.symbol not in SYMBOLS:
            return
        self.ticks += 1
        if self.ticks % self.order_every:
            return
        self.orders += 1
        side = Side.BUY if self.orders % 2 else Side.SELL
        self.ctx.submit_order(event.symbol, side, Decimal(1))
        if self._resting is not None:
            self.ctx.cancel_order(self._resting)
            self._resting = None
        else:
            self._resting = self.ctx.submit_order(event.symbol, Side.BUY, Decimal(1),
                                                  OrderType.LIMIT, limit_price=Decimal(50))

    def on_fill(self, fill: OrderFill) -> None:
        self.fills += 1

    def get_state(self) -> dict[str, Any]:
        return {"ticks": self.ticks, "fills": self.fills, "orders": self.orders}

    def set_state(self, state: dict[str, Any]) -> None:
        self.ticks = int(state.get("ticks", 0))
        self.fills = int(state.get("fills", 0))
        self.orders = int(state.get("orders", 0))


def _say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.restore_child",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=Path, required=True, help="the engine's state directory")
    p.add_argument("--broker", type=Path, required=True, help="the paper venue's store_dir")
    p.add_argument("--interval", type=float, default=0.05, help="checkpoint_interval_s")
    p.add_argument("--debounce", type=float, default=0.05, help="debounce_s")
    p.add_argument("--rate", type=float, default=500.0, help="ticks per second")
    p.add_argument("--order-every", type=int, default=25, help="ticks between orders")
    p.add_argument("--max-seconds", type=float, default=60.0, help="stop on its own after")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    began = time.perf_counter()
    with engine_logging("warning", "json"):
        clock = SystemClock()
        broker = PaperBroker(VENUE, clock, store_dir=args.broker)
        state = StateManager(state_settings(args.state, interval_s=args.interval,
                                            debounce_s=args.debounce), clock)
        trader = ChurnTrader(args.order_every)
        engine = LiveTradingEngine(trader, broker=broker, clock=clock, state=state,
                                   settings=EngineSettings(stop_timeout_s=30.0))
        engine.start()
        _say(event="started", startup_s=round(time.perf_counter() - began, 3),
             journal_sequence=state.store.journal_sequence())
        try:
            _trade(engine, trader, state, args)
        finally:
            engine.stop()
            state.store.close()
            broker.close()
    _say(event="stopped")
    return 0


def _trade(engine: LiveTradingEngine, trader: ChurnTrader, state: StateManager,
           args: argparse.Namespace) -> None:
    """Publish paced ticks until ``max_seconds``; announce readiness and status."""
    per_batch = max(1, round(args.rate * BATCH_INTERVAL_S))
    interval = per_batch / args.rate
    started = time.perf_counter()
    deadline = started + args.max_seconds
    fills_before = trader.fills  # restored by set_state: count only this run's
    next_due = started
    next_status = started
    ready = False
    i = 0
    while True:
        for _ in range(per_batch):
            symbol = SYMBOLS[i % len(SYMBOLS)]
            engine.publish(tick(symbol, Decimal(100 + (i * 7) % 13)))
            i += 1
        now = time.perf_counter()
        if now >= next_status:
            next_status = now + STATUS_INTERVAL_S
            fields = {"ticks": i, "fills": trader.fills, "orders": trader.orders,
                      "checkpoints": state.checkpoints_written,
                      "queue_depth": engine.dispatcher.queue_depth}
            if not ready and (state.checkpoints_written >= READY_CHECKPOINTS
                              and trader.fills - fills_before >= READY_FILLS):
                ready = True
                _say(event="ready", **fields)
            else:
                _say(event="status", **fields)
        if now >= deadline:
            return
        next_due += interval
        if next_due > now:
            time.sleep(next_due - now)


if __name__ == "__main__":
    sys.exit(main())
