"""What each ccxt venue can take, in one table: the CCXT adapter asks here before sending.

With ccxt, Binance, Bybit and Hyperliquid are one adapter, but they differ where it hurts:

========== ================= =============================== ===================================
venue      client order id   order types / time in force     positions / fills lookback
========== ================= =============================== ===================================
binance    newClientOrderId  market, limit, stop-limit;      spot (balances); myTrades: 1000 per
           <=36 [A-Za-z0-9   GTC/IOC/FOK                     call, startTime..endTime <= 24 h
           _-]; origClient..
bybit      orderLinkId <=36  market, limit; GTC/IOC/FOK      spot + linear perpetuals (signed
           [A-Za-z0-9_-]                                     contracts, cross, leverage
                                                             read-only); executions: last 7
                                                             days per query, 100 per page
hyperliqu. cloid: 0x + 32    limit GTC/IOC; market = IOC     USDC linear perpetuals; userFills:
           hex (128 bit),    limit at a reference price +-   the 2000 most recent (10000 reach-
           derived: first    slippage (needs a price)        able by time)
           16 bytes of
           sha256(our id)
========== ================= =============================== ===================================

Rate limits (the venue's, documented; ccxt's own limiter spaces calls by ``rate_limit_ms``):
Binance 6000 REQUEST_WEIGHT/min (order 1, query 4, openOrders 6, myTrades/account 20);
Bybit 600 requests/5 s per IP and per-UID endpoint limits (create/cancel 10/s linear, 20/s
spot; queries 50/s); Hyperliquid 1200 weight/min per IP (``/exchange`` 1, ``/info``
allMids/clearinghouseState/orderStatus 2, most other info 20) plus an address budget of
one request per USDC traded after a 10000 buffer.

Every venue here rejects a client id only while the order is open (the simulator does the
same), so a resend after an ambiguous submit is safe only after :func:`find_by_client_id`
says the order is not there. ``DAY`` time in force and stop-market orders are refused
before sending: no venue in this table takes them as such.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import ccxt

from livetrade.errors import ConfigError, OrderRejectedError
from livetrade.events import OrderType, TimeInForce
from livetrade.orders import OrderRequest

SPOT, LINEAR = "spot", "linear"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


def _derived_id(our_id: str, limit: int = 36) -> str:
    """Our id when the venue can carry it as is, else a stable hash of it (same alphabet)."""
    if _SAFE_ID.match(our_id) and len(our_id) <= limit:
        return our_id
    return "lt-" + hashlib.sha256(our_id.encode()).hexdigest()[: limit - 3]


def cloid_for(our_id: str) -> str:
    """Hyperliquid's 128-bit ``cloid`` for our client order id: ``0x`` + the first 16
    bytes of sha256(our id) in hex. Deterministic, so a retry after a restart sends (and
    looks up) the same cloid; collisions need 2^64 orders."""
    return "0x" + hashlib.sha256(our_id.encode()).digest()[:16].hex()


@dataclass(frozen=True)
class VenueCapabilities:
    """One venue's row of the table. Frozen; shared by every adapter of that venue."""

    exchange_id: str
    client_id_field: str  # the venue's wire name (ccxt's unified param is "clientOrderId")
    client_id_for: Callable[[str], str]
    markets: frozenset[str]  # SPOT and/or LINEAR
    order_types: dict[str, frozenset[OrderType]]  # per market kind
    time_in_force: frozenset[TimeInForce]
    market_order_needs_price: bool
    fills_lookback: timedelta | None  # how far back one fills query reaches (None: no limit)
    fills_page: int
    rate_limit_ms: int  # ccxt's spacing between calls with enableRateLimit
    weights: dict[str, int]  # documented cost of the calls the adapter makes
    sim_options: dict[str, Any] = field(default_factory=dict)
    credentials: tuple[str, str] = ("apiKey", "secret")
    # ccxt options the adapter needs on the real venue too (Bybit's fetch_order refuses to
    # run without "acknowledged": it only sees the last 500 orders, which our polling of
    # live orders respects).
    required_options: dict[str, Any] = field(default_factory=dict)

    def market_kind(self, symbol: str) -> str:
        """``"linear"`` for ``BASE/QUOTE:SETTLE`` symbols, ``"spot"`` otherwise."""
        return LINEAR if ":" in symbol else SPOT

    def check(self, request: OrderRequest) -> None:
        """Refuse, before sending, what this venue cannot take (``OrderRejectedError``
        with the reason); silence means the venue accepts this shape of order."""
        kind = self.market_kind(request.symbol)
        if kind not in self.markets:
            raise OrderRejectedError(f"{self.exchange_id} has no {kind} markets "
                                     f"({request.symbol})", symbol=request.symbol)
        allowed = self.order_types[kind]
        if request.order_type not in allowed:
            names = ", ".join(sorted(t.value for t in allowed))
            raise OrderRejectedError(
                f"{self.exchange_id} cannot take a {request.order_type.value} order on "
                f"{kind} markets (supported: {names})", symbol=request.symbol,
                order_type=request.order_type.value)
        if request.time_in_force not in self.time_in_force:
            names = ", ".join(sorted(t.value for t in self.time_in_force))
            raise OrderRejectedError(
                f"{self.exchange_id} cannot take time in force {request.time_in_force.value} "
                f"(supported: {names})", symbol=request.symbol)

    def client_order_id(self, our_id: str) -> str:
        """What goes on the wire for our client order id (deterministic)."""
        return self.client_id_for(our_id)

    def sim_urls(self, base_url: str) -> dict[str, str]:
        """``exchange.urls["api"]`` that points ccxt at ``livetrade sim-exchange --dialect
        <venue>`` (or any host speaking the venue's API) at ``base_url``."""
        base = base_url.rstrip("/")
        if self.exchange_id == "binance":
            return {"public": base + "/api/v3", "private": base + "/api/v3"}
        return {"public": base, "private": base}


CAPABILITIES: dict[str, VenueCapabilities] = {
    "binance": VenueCapabilities(
        exchange_id="binance", client_id_field="newClientOrderId",
        client_id_for=_derived_id, markets=frozenset({SPOT}),
        order_types={SPOT: frozenset({OrderType.MARKET, OrderType.LIMIT,
                                      OrderType.STOP_LIMIT})},
        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
        market_order_needs_price=False, fills_lookback=timedelta(hours=24), fills_page=1000,
        rate_limit_ms=50,
        weights={"create_order": 1, "cancel_order": 1, "fetch_order": 4,
                 "fetch_open_orders": 6, "fetch_my_trades": 20, "fetch_balance": 20},
        sim_options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                     "fetchMargins": False, "warnOnFetchOpenOrdersWithoutSymbol": False}),
    "bybit": VenueCapabilities(
        exchange_id="bybit", client_id_field="orderLinkId", client_id_for=_derived_id,
        markets=frozenset({SPOT, LINEAR}),
        order_types={SPOT: frozenset({OrderType.MARKET, OrderType.LIMIT}),
                     LINEAR: frozenset({OrderType.MARKET, OrderType.LIMIT})},
        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
        market_order_needs_price=False, fills_lookback=timedelta(days=7), fills_page=100,
        rate_limit_ms=20,
        weights={"create_order": 1, "cancel_order": 1, "fetch_open_orders": 1,
                 "fetch_my_trades": 1, "fetch_positions": 1, "fetch_balance": 1},
        sim_options={"fetchMarkets": {"types": ["spot", "linear"]},
                     "enableUnifiedAccount": True, "enableUnifiedMargin": False,
                     "fetchOrder": {"acknowledged": True}},
        required_options={"fetchOrder": {"acknowledged": True}}),
    "hyperliquid": VenueCapabilities(
        exchange_id="hyperliquid", client_id_field="cloid", client_id_for=cloid_for,
        markets=frozenset({LINEAR}),
        order_types={LINEAR: frozenset({OrderType.MARKET, OrderType.LIMIT})},
        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC}),
        market_order_needs_price=True, fills_lookback=None, fills_page=2000,
        rate_limit_ms=50,
        weights={"create_order": 1, "cancel_order": 1, "fetch_order": 2,
                 "fetch_open_orders": 20, "fetch_my_trades": 20, "fetch_balance": 2,
                 "fetch_positions": 2},
        sim_options={"fetchMarkets": {"types": ["swap"]}, "builderFee": False},
        credentials=("walletAddress", "privateKey")),
}


def capabilities(exchange_id: str) -> VenueCapabilities:
    """The row for ``exchange_id``; ``ConfigError`` for a venue not in the table."""
    try:
        return CAPABILITIES[exchange_id]
    except KeyError:
        raise ConfigError(f"no capability table for ccxt exchange {exchange_id!r}",
                          [f"supported: {', '.join(sorted(CAPABILITIES))}"]) from None


def find_by_client_id(client: ccxt.Exchange, caps: VenueCapabilities, symbol: str,
                      our_id: str) -> dict[str, Any] | None:
    """The venue's order (ccxt unified dict) carrying our client order id, or None when the
    venue has none: the check that must precede any resend of an ambiguous submit. Blocks;
    raises ccxt's errors other than ``OrderNotFound``."""
    wire = caps.client_order_id(our_id)
    try:
        if caps.exchange_id == "bybit":
            for fetch in (client.fetch_open_orders, client.fetch_closed_orders):
                found = fetch(symbol, None, None, {"orderLinkId": wire})
                if found:
                    return dict(found[0])
            return None
        if caps.exchange_id == "hyperliquid":
            return dict(client.fetch_order("", symbol, {"clientOrderId": wire}))
        return dict(client.fetch_order(None, symbol, {"clientOrderId": wire}))
    except ccxt.OrderNotFound:
        return None


def point_at(client: ccxt.Exchange, caps: VenueCapabilities, base_url: str) -> None:
    """Aim an already built ccxt client at ``base_url`` (the simulator, or a proxy that
    speaks the venue's API): replaces ``urls["api"]`` and adds the options that avoid calls
    the simulator does not serve. Any API family not listed then fails with ``NotSupported``
    instead of reaching the internet."""
    client.urls["api"] = caps.sim_urls(base_url)
    client.options.update(caps.sim_options)
