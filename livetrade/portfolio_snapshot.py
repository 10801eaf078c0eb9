"""What a reader gets of the book: immutable values of one instant.

Why apart from :mod:`livetrade.portfolio`: the portfolio is the mutable book, written by the
dispatcher thread only; these are what every other thread (status line, health endpoint,
strategy context, checkpoints) holds instead, copied under the book's lock, so nothing a
reader keeps can change under it or expose half of a fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class PositionSnapshot:
    """One position at one instant."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal
    mark_price: Decimal
    realized_pnl: Decimal

    @property
    def market_value(self) -> Decimal:
        return self.quantity * self.mark_price

    @property
    def unrealized_pnl(self) -> Decimal:
        return self.quantity * (self.mark_price - self.average_cost)


@dataclass(frozen=True)
class PortfolioSnapshot:
    """The whole account at one instant; ``positions`` holds non-flat positions only."""

    cash: Decimal
    initial_cash: Decimal
    positions: Mapping[str, PositionSnapshot]
    realized_pnl: Decimal
    commissions: Decimal

    @property
    def market_value(self) -> Decimal:
        return sum((p.market_value for p in self.positions.values()), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions.values()), ZERO)

    @property
    def equity(self) -> Decimal:
        return self.cash + self.market_value

    def quantity(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.quantity if position is not None else ZERO
