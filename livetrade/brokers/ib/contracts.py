"""Contract specs from config -> IB contracts, qualified once and cached.

A spec is ``SYMBOL:SECTYPE:EXCHANGE:CURRENCY[:EXPIRY[:MULTIPLIER]]``:
``AAPL:STK:SMART:USD``, ``EUR:CASH:IDEALPRO:USD``, ``ES:FUT:CME:USD:202612:50``,
``BTC:CRYPTO:PAXOS:USD``. The engine symbol is the key of ``[broker] contracts`` or, for a
spec listed in ``symbols``, its first part; a bare symbol is a stock on the configured
exchange and currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from livetrade.errors import ConfigError


@dataclass(frozen=True)
class ContractSpec:
    """What identifies one instrument at IB (before qualification adds its conId)."""

    symbol: str
    sec_type: str
    exchange: str
    currency: str
    expiry: str = ""
    multiplier: str = ""

    @classmethod
    def parse(cls, text: str) -> ContractSpec:
        parts = text.split(":")
        if not 4 <= len(parts) <= 6 or not all(parts[:4]):
            raise ConfigError(f"bad IB contract spec {text!r}: want "
                              "SYMBOL:SECTYPE:EXCHANGE:CURRENCY[:EXPIRY[:MULTIPLIER]]")
        return cls(*parts)

    def to_ib(self, lib: Any) -> Any:
        """An unqualified ``Contract`` of the chosen library (ib_insync or ib_async)."""
        return lib.Contract(symbol=self.symbol, secType=self.sec_type, exchange=self.exchange,
                            currency=self.currency, lastTradeDateOrContractMonth=self.expiry,
                            multiplier=self.multiplier)


def spec_table(symbols: Iterable[str], contracts: Mapping[str, str], exchange: str,
               currency: str) -> dict[str, ContractSpec]:
    """Engine symbol -> spec, from ``[broker] symbols`` and ``[broker] contracts``."""
    table: dict[str, ContractSpec] = {}
    for entry in symbols:
        spec = ContractSpec.parse(entry) if ":" in entry else \
            ContractSpec(entry, "STK", exchange, currency)
        table[spec.symbol if ":" in entry else entry] = spec
    for name, text in contracts.items():
        table[name] = ContractSpec.parse(text)
    return table


class ContractBook:
    """Qualified contracts by engine symbol, and the reverse map from IB's ``conId``.

    Lives on the adapter's loop thread (never shared). Unknown engine symbols default to a
    stock on ``exchange``/``currency``.
    """

    def __init__(self, specs: Mapping[str, ContractSpec], exchange: str, currency: str
                 ) -> None:
        self.specs = dict(specs)
        self._exchange = exchange
        self._currency = currency
        self._qualified: dict[str, Any] = {}
        self._symbol_of: dict[int, str] = {}

    def spec(self, symbol: str) -> ContractSpec:
        return self.specs.get(symbol) or ContractSpec(symbol, "STK", self._exchange,
                                                      self._currency)

    def cached(self, symbol: str) -> Any | None:
        return self._qualified.get(symbol)

    def remember(self, symbol: str, contract: Any) -> None:
        self._qualified[symbol] = contract
        self._symbol_of[int(contract.conId)] = symbol

    def symbol_of(self, contract: Any) -> str:
        """Our engine symbol for an IB contract (by conId, else its IB symbol)."""
        known = self._symbol_of.get(int(contract.conId or 0))
        if known is not None:
            return known
        for name, spec in self.specs.items():
            if spec.symbol == contract.symbol and spec.sec_type == contract.secType:
                return name
        return str(contract.localSymbol or contract.symbol)
