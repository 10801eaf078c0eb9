"""Embedding livetrade in a legacy synchronous loop: no threads, the caller drives.

An old backtest or research loop already walks through its own bars. It can hand each bar
to the engine with ``engine.process(event)``: the engine runs the strategy, risk checks,
the paper broker and the portfolio *in this thread* and returns when everything the bar
caused (orders, fills) is booked. Nothing runs in the background; the result is
deterministic.

    python examples/embed_in_backtest_loop.py
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # to import the example strategy

from sma_crossover import SmaCrossover

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.clock import ManualClock
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import MarketData
from livetrade.orders import ClientOrderIdGenerator


def legacy_bars() -> list[tuple[datetime, Decimal]]:
    """Stands in for the legacy system's own data: a zig-zag of daily closes."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    prices = [100 + (i % 40 if (i // 40) % 2 == 0 else 40 - i % 40) for i in range(200)]
    return [(start + timedelta(days=i), Decimal(p)) for i, p in enumerate(prices)]


def run() -> dict[str, str]:
    clock = ManualClock()
    engine = LiveTradingEngine(
        SmaCrossover(fast=3, slow=10, quantity=5),
        broker=PaperBroker(PaperBrokerConfig(initial_cash=Decimal(10_000),
                                             commission_bps=Decimal(1)), clock=clock),
        clock=clock,
        settings=EngineSettings(market_data_policy="unbounded"),
        order_ids=ClientOrderIdGenerator("bt"),
    )
    engine.start_sync()
    for when, close in legacy_bars():  # <- the legacy loop, unchanged in spirit
        engine.process(MarketData(symbol="XYZ", timestamp=when, price=close))
        # ... legacy code can read the book right here, in the same thread:
        _ = engine.portfolio.snapshot().equity
    engine.stop_sync()
    book = engine.portfolio.snapshot()
    return {
        "fills": str(engine.status().fills),
        "cash": str(book.cash),
        "position": str(book.quantity("XYZ")),
        "equity": str(book.equity),
    }


if __name__ == "__main__":
    result = run()
    print(" ".join(f"{k}={v}" for k, v in result.items()))
