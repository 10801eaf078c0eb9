"""A seeded random walk: the market the default ``livetrade run`` trades against."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from livetrade.brokers.base import EventSink
from livetrade.clock import Clock
from livetrade.events import MarketData, trade_tick
from livetrade.feeds.base import DataFeed


class SimulatedFeed(DataFeed):
    """Geometric random walk per symbol, quantized to ``tick_size``, at ``rate_hz`` events/s.

    The price path is a pure function of ``seed`` (the timing is the machine's). ``rate_hz``
    counts events over all symbols, which take turns; ``0`` means as fast as possible.
    ``max_events`` ends the feed after that many events (``None``: run until stopped).
    """

    name = "simulated"

    def __init__(
        self,
        symbols: Sequence[str] = ("BTC-USD", "ETH-USD", "SOL-USD"),
        *,
        rate_hz: float = 50.0,
        seed: int = 42,
        start_price: Decimal = Decimal(100),
        volatility_bps: float = 20.0,
        tick_size: Decimal = Decimal("0.01"),
        max_events: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock)
        if not symbols:
            raise ValueError("SimulatedFeed needs at least one symbol")
        if rate_hz < 0 or volatility_bps < 0 or start_price <= 0 or tick_size <= 0:
            raise ValueError("rate_hz, volatility_bps must be >= 0; prices and ticks > 0")
        self.symbols = tuple(symbols)
        self.rate_hz = rate_hz
        self.seed = seed
        self.start_price = start_price
        self.volatility = volatility_bps / 10_000.0
        self.tick_size = tick_size
        self.max_events = max_events

    def prices(self) -> list[MarketData]:
        """The first ``max_events`` events this feed would publish (for tests)."""
        if self.max_events is None:
            raise ValueError("prices() needs max_events: the walk is otherwise endless")
        out: list[MarketData] = []
        self._walk(out.append, pace=False)
        return out

    def run(self, sink: EventSink) -> None:
        self._walk(sink, pace=True)

    def _walk(self, sink: Callable[[MarketData], None], pace: bool) -> None:
        rng = random.Random(self.seed)
        prices = {s: float(self.start_price) for s in self.symbols}
        floor = float(self.tick_size)
        interval = 1.0 / self.rate_hz if self.rate_hz > 0 else 0.0
        next_at = time.monotonic()
        n = 0
        limit = self.max_events
        quantum = self.tick_size
        symbols = self.symbols
        while not self._stop.is_set() and (limit is None or n < limit):
            symbol = symbols[n % len(symbols)]
            price = max(floor, prices[symbol] * math.exp(rng.gauss(0.0, self.volatility)))
            prices[symbol] = price
            event = trade_tick(
                symbol,
                self._clock.now(),
                (Decimal(repr(price)) / quantum).to_integral_value() * quantum,
                Decimal(rng.randint(1, 100)),
            )
            sink(event)
            n += 1
            self.published = n
            if pace and interval:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # fell behind: do not burst to catch up
