"""IB tickers -> ``MarketData`` events (market data over the same IB connection).

Each update carries the last trade price (or, when there is none yet, IB's market price:
the midpoint or close) and the last size. Timestamps are ours (the clock's ``now``): IB
tick messages carry no time of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import structlog

from livetrade.brokers.ib.translate import dec
from livetrade.events import MarketData

_log = structlog.get_logger("livetrade.brokers.ib")


def market_data_from(tickers: Iterable[Any], symbol_of: Callable[[Any], str],
                     now: datetime) -> list[MarketData]:
    """One validated ``MarketData`` per ticker that has a usable price; others skipped."""
    out: list[MarketData] = []
    for ticker in tickers:
        last = float(ticker.last)
        price = last if math.isfinite(last) else float(ticker.marketPrice())
        if not math.isfinite(price) or price <= 0:
            continue
        size = float(ticker.lastSize)
        try:
            out.append(MarketData(symbol=symbol_of(ticker.contract), timestamp=now,
                                  price=dec(price), volume=dec(size if size > 0 else 0.0)))
        except ValueError as exc:  # pydantic's ValidationError: an unusable tick
            _log.warning("ib_bad_tick", error=str(exc))
    return out
