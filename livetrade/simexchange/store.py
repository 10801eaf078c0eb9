"""Persistence of the simulated venue in a diskcache directory.

Why diskcache: it is SQLite underneath, so ``transact()`` makes one change (an order, its
fills, the balances they moved and the id counters) land together or not at all; a killed
simulator restarts on a consistent account. Values are JSON text with Decimals as strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import diskcache

from livetrade.errors import StateError
from livetrade.simexchange.records import VenueOrder, VenueTrade


@dataclass
class VenueSnapshot:
    """Everything the venue needs to resume: account, orders, trades, counters, prices."""

    balances: dict[str, tuple[Decimal, Decimal]]
    counters: dict[str, int]
    prices: dict[str, Decimal]
    orders: list[VenueOrder] = field(default_factory=list)
    trades: list[VenueTrade] = field(default_factory=list)


class VenueStore:
    """A venue's state on disk; one ``commit`` is one transaction. Thread-safe (SQLite)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._cache = diskcache.Cache(str(directory))

    def load(self) -> VenueSnapshot | None:
        """The stored venue, or None for a fresh directory. Raises ``StateError`` if corrupt."""
        meta = self._cache.get("meta")
        if meta is None:
            return None
        try:
            data: dict[str, Any] = json.loads(str(meta))
            orders = []
            trades = []
            for key in self._cache.iterkeys():
                if str(key).startswith("order:"):
                    orders.append(VenueOrder.from_json(json.loads(self._cache[key])))
                elif str(key).startswith("trade:"):
                    trades.append(VenueTrade.from_json(json.loads(self._cache[key])))
            return VenueSnapshot(
                balances={a: (Decimal(f), Decimal(lk)) for a, (f, lk) in data["balances"].items()},
                counters={k: int(v) for k, v in data["counters"].items()},
                prices={s: Decimal(p) for s, p in data["prices"].items()},
                orders=sorted(orders, key=lambda o: o.order_id),
                trades=sorted(trades, key=lambda t: t.trade_id),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise StateError(f"simulator state is unreadable: {exc}") from exc

    def commit(self, snapshot: VenueSnapshot) -> None:
        """Write the changed orders and new trades with the account, atomically."""
        meta = {
            "balances": {a: [str(f), str(lk)] for a, (f, lk) in snapshot.balances.items()},
            "counters": snapshot.counters,
            "prices": {s: str(p) for s, p in snapshot.prices.items()},
        }
        with self._cache.transact():
            for order in snapshot.orders:
                self._cache.set(f"order:{order.order_id}", json.dumps(order.to_json()))
            for trade in snapshot.trades:
                self._cache.set(f"trade:{trade.trade_id}", json.dumps(trade.to_json()))
            self._cache.set("meta", json.dumps(meta))

    def credentials(self) -> tuple[str, str] | None:
        """The API key and secret this venue was first started with, if any."""
        stored = self._cache.get("credentials")
        if stored is None:
            return None
        key, secret = json.loads(str(stored))
        return str(key), str(secret)

    def save_credentials(self, api_key: str, api_secret: str) -> None:
        """Keep generated credentials so a restarted venue accepts the same client."""
        self._cache.set("credentials", json.dumps([api_key, api_secret]))

    def close(self) -> None:
        self._cache.close()
