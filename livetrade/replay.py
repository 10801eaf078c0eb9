"""``livetrade replay``: the live code path, fed from a CSV as fast as possible.

Same engine, paper broker and strategy code as live; what makes it deterministic:

* the clock is a :class:`~livetrade.clock.ManualClock` advanced to each event's timestamp,
  so fills, order times and rate limits follow the data, not the machine;
* market data is never conflated: the feed blocks while ``max_pending_market_data`` events
  wait (the ``"block"`` policy);
* the paper broker is inline, so a market order sent while handling bar *t* fills at bar
  *t*'s price, and the fill (higher priority) reaches the strategy before bar *t+1*;
* ids are sequential from fixed prefixes.

So two runs on the same file give identical reports (timings are printed, not reported).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.clock import ManualClock
from livetrade.engine import EngineSettings, EngineStatus, LiveTradingEngine
from livetrade.events import OrderFill
from livetrade.feeds.replay import ReplayFeed
from livetrade.orders import ClientOrderIdGenerator
from livetrade.strategy import Strategy


@dataclass(frozen=True)
class ReplayProgress:
    rows: int
    bad_rows: int
    bytes_total: int
    events_dispatched: int
    fills: int


@dataclass
class ReplayReport:
    """What a replay produced; :meth:`to_json` is the ``--report`` file."""

    data: str
    strategy: str
    fills: list[dict[str, str]] = field(default_factory=list)
    final_cash: Decimal = Decimal(0)
    final_positions: dict[str, str] = field(default_factory=dict)
    final_equity: Decimal = Decimal(0)
    initial_cash: Decimal = Decimal(0)
    rows: int = 0
    bad_rows: int = 0
    orders_submitted: int = 0
    orders_rejected: int = 0
    bad_row_errors: list[str] = field(default_factory=list)
    completed: bool = True
    interrupted: bool = False
    strategy_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "strategy": self.strategy,
            "initial_cash": str(self.initial_cash),
            "final_cash": str(self.final_cash),
            "final_equity": str(self.final_equity),
            "final_positions": self.final_positions,
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "bad_row_errors": self.bad_row_errors,
            "completed": self.completed,
            "interrupted": self.interrupted,
            "strategy_errors": self.strategy_errors,
            "orders_submitted": self.orders_submitted,
            "orders_rejected": self.orders_rejected,
            "fills": self.fills,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def run_replay(
    data: str | Path,
    strategy: Strategy,
    *,
    strategy_name: str = "",
    symbol: str | None = None,
    cash: Decimal = Decimal(100_000),
    commission_bps: Decimal = Decimal(0),
    slippage_bps: Decimal = Decimal(0),
    on_bad_row: Literal["skip", "fail"] = "skip",
    progress: Callable[[ReplayProgress], None] | None = None,
    progress_interval_s: float = 0.5,
) -> ReplayReport:
    """Replay ``data`` through ``strategy``; blocks until the file is done (or Ctrl-C)."""
    clock = ManualClock()
    broker = PaperBroker(PaperBrokerConfig(initial_cash=cash, commission_bps=commission_bps,
                                           slippage_bps=slippage_bps), clock=clock)
    feed = ReplayFeed(data, symbol=symbol, speed=None, on_bad_row=on_bad_row, clock=clock)
    feed.check()
    engine = LiveTradingEngine(
        strategy, broker=broker, feeds=[feed], clock=clock,
        # Offline: as fast as the file goes, nothing waits for a fill in wall time, so the
        # GIL keeps CPython's throughput interval (switch_interval.py).
        settings=EngineSettings(market_data_policy="block", initial_cash=cash,
                                switch_interval_s=0),
        order_ids=ClientOrderIdGenerator("r"),
    )
    report = ReplayReport(data=str(data), strategy=strategy_name or type(strategy).__name__,
                          initial_cash=cash)

    def record(fill: OrderFill) -> None:
        report.fills.append({
            "timestamp": fill.timestamp.isoformat(),
            "symbol": fill.symbol,
            "side": fill.side.value,
            "quantity": str(fill.fill_amount),
            "price": str(fill.fill_price),
            "commission": str(fill.commission),
            "client_order_id": fill.client_order_id,
        })

    engine.add_fill_listener(record)

    def on_status(status: EngineStatus) -> None:
        if progress is not None:
            progress(ReplayProgress(feed.rows, feed.bad_rows, feed.bytes_total,
                                    status.events_dispatched, len(report.fills)))

    engine.run_forever(on_status=on_status, status_interval_s=progress_interval_s)
    book = engine.portfolio.snapshot()
    orders = engine.orders.stats()
    report.final_cash = book.cash
    report.final_equity = book.equity
    report.final_positions = {s: str(p.quantity) for s, p in sorted(book.positions.items())}
    report.rows = feed.rows
    report.bad_rows = feed.bad_rows
    report.bad_row_errors = [str(e) for e in feed.errors]
    report.orders_submitted = orders.submitted
    report.orders_rejected = orders.rejected
    report.interrupted = not feed.exhausted and not feed.failed
    report.strategy_errors = engine.dispatcher.handler_errors
    good_rows = feed.rows - feed.bad_rows
    report.completed = feed.exhausted and not feed.failed and good_rows > 0
    return report
