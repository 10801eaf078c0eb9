"""What the account holds, as the venue states it: positions, cash, equity.

Spot positions are the base-asset balances of the configured symbols; cash is the quote
currency's total balance; linear perpetuals come from ``fetch_positions`` as signed
contracts. Balances are read exactly where the venue's raw answer allows it (Binance's
``info.balances``), since ccxt's unified figures are floats. Everything here is a query:
nothing is followed or emitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

import ccxt

from livetrade.brokers.base import AccountInfo
from livetrade.brokers.ccxt.calls import VenueCaller
from livetrade.brokers.ccxt.capabilities import LINEAR, VenueCapabilities
from livetrade.brokers.ccxt.mapping import to_decimal


class AccountReader:
    """Reads positions and the account's cash and equity from the venue. Every method
    blocks on venue calls (through the adapter's :class:`VenueCaller`)."""

    def __init__(self, exchange: ccxt.Exchange, caps: VenueCapabilities, call: VenueCaller, *,
                 market: Callable[[str], dict[str, Any]], symbols: tuple[str, ...],
                 quote: str) -> None:
        self._exchange = exchange
        self._caps = caps
        self._call = call
        self._market = market
        self._symbols = symbols
        self._quote = quote

    def positions(self) -> dict[str, Decimal]:
        """Non-zero positions by symbol: spot from balances, linear from the venue's
        positions (negative when short)."""
        positions: dict[str, Decimal] = {}
        spot = [s for s in self._symbols if self._caps.market_kind(s) != LINEAR]
        if spot:
            balances = self._call("query", self._exchange.fetch_balance)
            for symbol in spot:
                base = str(self._market(symbol)["base"])
                positions[symbol] = total_balance(balances, base)
        linear = [s for s in self._symbols if self._caps.market_kind(s) == LINEAR]
        if linear:
            for position in self._call("query", partial(self._exchange.fetch_positions,
                                                        linear)):
                contracts = to_decimal(position.get("contracts") or 0, "contracts")
                side = str(position.get("side") or "long")
                positions[str(position.get("symbol"))] = -contracts if side == "short" \
                    else contracts
        return {s: q for s, q in positions.items() if q != 0}

    def account_info(self, positions: Callable[[], Mapping[str, Decimal]]) -> AccountInfo:
        """Cash and buying power in the quote currency; equity adds the spot positions
        from ``positions`` (the broker's own ``get_positions``) at the venue's last price."""
        balances = self._call("query", self._exchange.fetch_balance)
        cash = total_balance(balances, self._quote)
        free = free_balance(balances, self._quote)
        equity = cash
        for symbol, quantity in positions().items():
            if self._caps.market_kind(symbol) == LINEAR:
                continue
            ticker = self._call("query", partial(self._exchange.fetch_ticker, symbol))
            last = ticker.get("last")
            if last is not None:
                equity += quantity * to_decimal(last, "last price")
        return AccountInfo(currency=self._quote, cash=cash, equity=equity, buying_power=free)


def total_balance(balances: Mapping[str, Any], asset: str) -> Decimal:
    """Free plus locked of ``asset`` in a ``fetch_balance`` answer."""
    entry = balances.get(asset) or {}
    raw = _raw_balance(balances, asset)
    if raw is not None:
        return raw[0] + raw[1]
    return to_decimal(entry.get("total") or 0, f"{asset} balance")


def free_balance(balances: Mapping[str, Any], asset: str) -> Decimal:
    """What of ``asset`` is free to trade in a ``fetch_balance`` answer."""
    raw = _raw_balance(balances, asset)
    if raw is not None:
        return raw[0]
    entry = balances.get(asset) or {}
    return to_decimal(entry.get("free") or 0, f"{asset} balance")


def _raw_balance(balances: Mapping[str, Any], asset: str) -> tuple[Decimal, Decimal] | None:
    """Binance-shaped raw balances (``info.balances[{asset, free, locked}]``), exact."""
    info = balances.get("info")
    rows = info.get("balances") if isinstance(info, Mapping) else None
    if not isinstance(rows, list):
        return None
    for row in rows:
        if isinstance(row, Mapping) and row.get("asset") == asset:
            return (to_decimal(row.get("free") or "0", f"{asset} free"),
                    to_decimal(row.get("locked") or "0", f"{asset} locked"))
    return (Decimal(0), Decimal(0))
