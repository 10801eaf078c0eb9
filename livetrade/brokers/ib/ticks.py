"""IB tickers -> ``MarketData`` events (market data over the same IB connection).

Each trade tick becomes one event (price and size); a quotes-only update gives IB's market
price (the midpoint, or the close). Timestamps are ours (the clock's ``now``): IB
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


LAST_TICK_TYPES = (4, 68)  # last trade price: live, delayed


def market_data_from(tickers: Iterable[Any], symbol_of: Callable[[Any], str],
                     now: datetime) -> list[MarketData]:
    """One validated ``MarketData`` per last-trade tick, in arrival order.

    ib_insync coalesces a ticker's updates per loop iteration (``ticker.last`` is only the
    latest), so every trade is read from ``ticker.ticks``; a ticker with no trade tick in
    this update but a market price (quotes only) gives one event at that price.
    """
    out: list[MarketData] = []
    for ticker in tickers:
        symbol = symbol_of(ticker.contract)
        trades = [(t.price, t.size) for t in ticker.ticks if t.tickType in LAST_TICK_TYPES]
        if not trades:
            quote = float(ticker.marketPrice())
            trades = [(quote, 0.0)] if math.isfinite(quote) and quote > 0 else []
        for price, size in trades:
            if not math.isfinite(price) or price <= 0:
                continue
            try:
                out.append(MarketData(symbol=symbol, timestamp=now, price=dec(float(price)),
                                      volume=dec(float(size) if size > 0 else 0.0)))
            except ValueError as exc:  # pydantic's ValidationError: an unusable tick
                _log.warning("ib_bad_tick", error=str(exc))
    return out
