"""The paper venue's settings, on their own so every part of the venue can read them.

:class:`PaperBrokerConfig` is public through ``livetrade.brokers.paper``; it lives here,
below the venue's modules, so that they import it without importing the broker itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["PaperBrokerConfig"]


@dataclass(frozen=True)
class PaperBrokerConfig:
    """Settings of the simulated venue. ``symbols`` empty means any symbol is tradable.

    ``fill_history``: past fills the venue reports through ``get_fills`` (oldest dropped).
    ``closed_order_history``: closed orders a venue *without* a store remembers for
    ``get_order`` and duplicate detection; a venue with a store remembers every order.
    """

    initial_cash: Decimal = Decimal(100_000)
    currency: str = "USD"
    slippage_bps: Decimal = Decimal(0)
    commission_bps: Decimal = Decimal(0)
    commission_per_order: Decimal = Decimal(0)
    participation: Decimal | None = None
    symbols: tuple[str, ...] = ()
    fill_history: int = 100_000
    closed_order_history: int = 10_000

    def __post_init__(self) -> None:
        if self.fill_history < 1 or self.closed_order_history < 1:
            raise ValueError("fill_history and closed_order_history must be >= 1")
