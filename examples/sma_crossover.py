"""SMA crossover on the paper broker and a simulated feed: the engine from a plain script.

    python examples/sma_crossover.py            # runs for 10 seconds
    python examples/sma_crossover.py 30         # runs for 30 seconds (Ctrl-C stops earlier)

``SmaCrossover`` is the strategy ``livetrade run`` uses by default. It is long-only: it buys
``quantity`` when the fast SMA of prices crosses above the slow SMA while flat, and sells the
whole position when the fast SMA crosses below the slow one while long.
"""

from __future__ import annotations

import sys
from collections import deque
from decimal import Decimal
from typing import Any

from livetrade.events import MarketData, OrderFill, OrderReject
from livetrade.strategy import Strategy


class SmaCrossover(Strategy):
    """Fast/slow simple-moving-average crossover, one symbol stream per symbol, long-only."""

    def __init__(self, fast: int = 5, slow: int = 20, quantity: Decimal | int | str = 1) -> None:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (fast, slow)):
            raise ValueError(f"fast and slow must be whole numbers of prices, got fast={fast!r} "
                             f"slow={slow!r}")
        if not 0 < fast < slow:
            raise ValueError(f"need 0 < fast < slow, got fast={fast} slow={slow}")
        self.fast = fast
        self.slow = slow
        try:
            self.quantity = Decimal(str(quantity))
        except ArithmeticError:
            raise ValueError(f"quantity must be a number, got {quantity!r}") from None
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise ValueError(f"quantity must be a positive number, got {quantity!r}")
        self._prices: dict[str, deque[Decimal]] = {}
        self._above: dict[str, bool] = {}
        self._pending: set[str] = set()

    def on_market_data(self, event: MarketData) -> None:
        prices = self._prices.setdefault(event.symbol, deque(maxlen=self.slow))
        prices.append(event.price)
        if len(prices) < self.slow:
            return
        fast = sum(list(prices)[-self.fast:], Decimal(0)) / self.fast
        slow = sum(prices, Decimal(0)) / self.slow
        above = fast > slow
        was_above = self._above.get(event.symbol)
        self._above[event.symbol] = above
        if was_above is None or was_above == above or event.symbol in self._pending:
            return
        held = self.ctx.position(event.symbol)
        if above and held == 0:
            self._pending.add(event.symbol)
            self.ctx.buy(event.symbol, self.quantity)
        elif not above and held > 0:
            self._pending.add(event.symbol)
            self.ctx.sell(event.symbol, held)

    def on_fill(self, fill: OrderFill) -> None:
        order = self.ctx.order(fill.client_order_id)
        if order is None or not order.is_open:
            self._pending.discard(fill.symbol)

    def on_reject(self, reject: OrderReject) -> None:
        self._pending.discard(reject.symbol)

    def get_state(self) -> dict[str, Any]:
        return {
            "prices": {s: [str(p) for p in q] for s, q in self._prices.items()},
            "above": dict(self._above),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._prices = {s: deque((Decimal(p) for p in q), maxlen=self.slow)
                        for s, q in state.get("prices", {}).items()}
        self._above = dict(state.get("above", {}))


def main(argv: list[str]) -> int:
    from livetrade.engine import LiveTradingEngine
    from livetrade.feeds import SimulatedFeed
    from livetrade.logs import configure_logging

    configure_logging("console")
    duration = float(argv[1]) if len(argv) > 1 else 10.0
    engine = LiveTradingEngine(SmaCrossover(fast=5, slow=20, quantity=1),
                               feeds=[SimulatedFeed(rate_hz=50)])
    report = engine.run_forever(duration)
    status = engine.status()
    print(f"equity {status.equity:.2f}  positions {status.positions}  "
          f"undelivered {len(report.undelivered)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
