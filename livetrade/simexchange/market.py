"""The simulated price path: last price, top of book and 1-minute candles per symbol.

Why here and not in a front door: every dialect publishes the same steps (a trade, a
best bid/ask, a candle update); only their JSON differs. Thread-safe: the venue steps it
under its own lock while REST handlers read it from their threads.
"""

from __future__ import annotations

import threading
from collections import deque
from decimal import Decimal

from livetrade.simexchange.config import SymbolSpec
from livetrade.simexchange.records import Kline, MarketTick

KLINE_HISTORY = 1440  # one day of 1-minute candles, enough for a 24h ticker


class MarketState:
    """Last price per symbol and the candles built from each ``step``.

    The book is one tick either side of the last price, so a quote always has a spread
    and ``bid < price < ask``; matching uses the last price (the PaperBroker's rule).
    """

    def __init__(self, specs: dict[str, SymbolSpec], prices: dict[str, Decimal]) -> None:
        self._specs = specs
        self._prices = dict(prices)
        self._volumes: dict[str, Decimal] = {s: Decimal(0) for s in specs}
        self._klines: dict[str, deque[Kline]] = {s: deque(maxlen=KLINE_HISTORY) for s in specs}
        self._last_tick: dict[str, MarketTick] = {}
        self._lock = threading.Lock()

    def price(self, symbol: str) -> Decimal:
        with self._lock:
            return self._prices[symbol]

    def volume(self, symbol: str) -> Decimal:
        """Volume of the last step (what participation shares out)."""
        with self._lock:
            return self._volumes.get(symbol, Decimal(0))

    def prices(self) -> dict[str, Decimal]:
        with self._lock:
            return dict(self._prices)

    def book(self, symbol: str) -> tuple[Decimal, Decimal]:
        return self._book(symbol, self.price(symbol))

    def _book(self, symbol: str, price: Decimal) -> tuple[Decimal, Decimal]:
        tick = self._specs[symbol].tick_size
        return max(price - tick, tick), price + tick

    def step(self, symbol: str, price: Decimal, volume: Decimal, time_ms: int,
             trade_id: int) -> tuple[MarketTick, Kline, Kline | None]:
        """Record one step; returns the tick, the current candle, and the previous candle
        when this step closed it (its final ``x: true`` update is due)."""
        bid, ask = self._book(symbol, price)
        tick = MarketTick(symbol, trade_id, price, volume, bid, ask, time_ms)
        open_ms = time_ms - time_ms % 60_000
        with self._lock:
            self._prices[symbol] = price
            self._volumes[symbol] = volume
            self._last_tick[symbol] = tick
            candles = self._klines[symbol]
            closed = None
            if candles and candles[-1].open_ms == open_ms:
                candles[-1].add(price, volume)
            else:
                closed = _copy(candles[-1]) if candles else None
                candles.append(Kline(open_ms, price, price, price, price, volume))
            return tick, _copy(candles[-1]), closed

    def klines(self, symbol: str) -> list[Kline]:
        with self._lock:
            return [_copy(k) for k in self._klines[symbol]]

    def last_tick(self, symbol: str) -> MarketTick | None:
        with self._lock:
            return self._last_tick.get(symbol)


def _copy(k: Kline) -> Kline:
    return Kline(k.open_ms, k.open, k.high, k.low, k.close, k.volume, k.trades)
