"""``CCXTAdapter``: any ccxt venue (Binance, Bybit, Hyperliquid...) as a livetrade broker.

Uses ccxt's synchronous classes; no asyncio. One ccxt exchange object serves the
adapter, and ccxt objects are not safe to share between threads, so every venue call
goes through one :class:`~livetrade.brokers.ccxt.calls.VenueCaller` and holds its I/O
lock (the execution thread's submits, the poller and the reconciler's queries take
turns).

The adapter is the contract and the order path; what is not lives next to it:
``following.py`` finds fills and settles finished orders (the poller thread),
``account.py`` reads positions and balances, ``calls.py`` is the door to the venue and
``redaction.py`` keeps credentials out of ccxt's own logs.

* **Submit**: the venue's capability row refuses what it cannot take; quantity and prices
  are checked against ccxt's market precision and limits (lot step, tick, minimum amount
  and notional) and an order that does not fit is rejected **with the nearest valid value
  in the reason** — never silently changed, because the engine would then book a
  different order than the venue holds. Our client order id travels in ccxt's unified
  ``clientOrderId`` param (the venue's own field and format come from the capability row).
  The acknowledgement and any fills in the venue's answer become events at once.
* **Ambiguity**: a network error or timeout during a submit or cancel raises
  ``AmbiguousOutcomeError``; :meth:`get_order` looks the order up by client id, which is
  what :class:`~livetrade.resilience.guarded.ResilientBroker` does before any resend.
* **Fills** are detected by polling ``fetch_my_trades`` per active symbol every
  ``poll_interval_s`` (and from order responses); the same trade never counts twice
  (fill ids are ``<market id>:<trade id>``; the adapter and the engine both deduplicate).
  Closed orders are settled with ``fetch_order``: canceled, expired or rejected becomes
  the matching event once every fill the venue reports for it has been handed over
  (:class:`~livetrade.brokers.ccxt.following.OrderFollower`).
* **Accounts**: spot positions are the base-asset balances of the configured symbols;
  cash is the quote currency's total balance; linear perpetuals come from
  ``fetch_positions`` as signed contracts
  (:class:`~livetrade.brokers.ccxt.account.AccountReader`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import ccxt

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.brokers.ccxt.account import AccountReader
from livetrade.brokers.ccxt.calls import VenueCaller
from livetrade.brokers.ccxt.capabilities import VenueCapabilities, find_by_client_id
from livetrade.brokers.ccxt.following import ANSWERED_FINAL, FINAL, OrderFollower
from livetrade.brokers.ccxt.mapping import (
    order_to_broker_order,
    to_decimal,
    trade_to_fill,
)
from livetrade.brokers.ccxt.precision import check_order
from livetrade.brokers.ccxt.redaction import redact_library_logs
from livetrade.brokers.ccxt.tracking import OrderTracker
from livetrade.clock import Clock, SystemClock
from livetrade.errors import EngineStateError, OrderRejectedError
from livetrade.events import (
    Event,
    MarketData,
    OrderAccepted,
    OrderFill,
    OrderType,
    Severity,
    SystemErrorEvent,
    trusted,
)
from livetrade.orders import OrderRequest


class CCXTAdapter(BrokerAdapter):
    """A ccxt exchange behind the broker contract; see the module docstring."""

    inline = False

    def __init__(self, exchange: ccxt.Exchange, capabilities: VenueCapabilities, *,
                 symbols: Iterable[str], quote_currency: str, poll_interval_s: float = 1.0,
                 clock: Clock | None = None, secrets: Iterable[str] = ()) -> None:
        self.exchange = exchange
        self.caps = capabilities
        self.name = capabilities.exchange_id  # type: ignore[misc]  # per instance
        self.symbols = tuple(symbols)
        self.quote = quote_currency
        self._clock: Clock = clock or SystemClock()
        kept = tuple(s for s in secrets if s)
        redact_library_logs(kept)  # before the first request is ever logged
        self._call = VenueCaller(exchange, self.name, kept)
        self._sink: EventSink | None = None
        self._orders = OrderTracker()
        self._markets: dict[str, Any] = {}
        self._last_price: dict[str, Decimal] = {}
        self._ours: dict[str, str] = {}  # the venue's form of a client id -> ours
        self._follow = OrderFollower(exchange, capabilities, self._call, broker=self,
                                     orders=self._orders, market=self._market,
                                     emit=self._emit, clock=self._clock, venue=self.name,
                                     poll_interval_s=poll_interval_s)
        self._account = AccountReader(exchange, capabilities, self._call,
                                      market=self._market, symbols=self.symbols,
                                      quote=quote_currency)

    def __repr__(self) -> str:  # never the exchange object: it holds the credentials
        return f"CCXTAdapter({self.name}, symbols={list(self.symbols)})"

    # ------------------------------------------------------------------ plumbing
    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    def _market(self, symbol: str) -> dict[str, Any]:
        market = self._markets.get(symbol)
        if market is None:
            raise OrderRejectedError(f"{self.name} has no market {symbol}", symbol=symbol)
        return dict(market)

    # ------------------------------------------------------------------ lifecycle
    def connect(self, sink: EventSink) -> None:
        """Load markets, adopt the venue's open orders for tracking, start polling. Blocks."""
        self._sink = sink
        markets = self._call("query", self.exchange.load_markets)
        self._markets = dict(markets)
        missing = [s for s in self.symbols if s not in self._markets]
        if missing:
            raise OrderRejectedError(f"{self.name} does not list {missing}",
                                     symbols=",".join(missing))
        self._follow.watch_symbols(self.symbols)
        for order in self._fetch_open():
            tracked = self._orders.track(self._client_id(order), str(order.get("symbol")),
                                         to_decimal(order.get("amount") or 0, "amount"),
                                         str(order.get("id")))
            # Fills it had before we started are older than the polling window; the engine
            # finds them through get_fills when it reconciles. Count them as reported.
            tracked.filled = max(tracked.filled, to_decimal(order.get("filled") or 0,
                                                            "filled"))
        self._follow.start()

    def disconnect(self) -> None:
        self._follow.stop()

    # ------------------------------------------------------------------ orders
    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        """Validate, send once, report the ack and any fills in the answer. Blocks."""
        if self._sink is None:
            raise EngineStateError(f"{self.name} adapter is not connected")
        self.caps.check(request)
        market = self._market(request.symbol)
        reference = self._reference_price(request)
        check_order(self.exchange, market, request, reference)
        params: dict[str, Any] = {"clientOrderId": self.caps.client_order_id(client_order_id)}
        if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            params["timeInForce"] = request.time_in_force.value
        if request.stop_price is not None:
            params["triggerPrice"] = str(request.stop_price)
        kind = "market" if request.order_type in (OrderType.MARKET, OrderType.STOP) else "limit"
        price = request.limit_price
        if kind == "market" and self.caps.market_order_needs_price:
            price = reference
        self._orders.track(client_order_id, request.symbol, request.quantity)
        self._ours[params["clientOrderId"]] = client_order_id
        self._follow.watch_from_now(request.symbol)
        try:
            order = self._call("submit", lambda: self.exchange.create_order(
                request.symbol, kind, request.side.value, str(request.quantity),
                None if price is None else str(price), params),
                client_order_id=client_order_id)
        except OrderRejectedError:
            self._orders.forget(client_order_id)  # refused: nothing to follow
            raise
        venue_id = str(order.get("id") or "")
        self._orders.track(client_order_id, request.symbol, request.quantity, venue_id)
        self._emit(trusted(OrderAccepted, order_id=venue_id, client_order_id=client_order_id,
                           timestamp=self._clock.now()))
        self._follow.report_trades(order.get("trades") or [], client_order_id,
                                   request.symbol, request.side, venue_id)
        if str(order.get("status") or "").lower() in ANSWERED_FINAL:
            # Filled (or canceled, IOC) in the answer itself: settled now, not looked up
            # again by the poller - a market order costs the venue one request, not two.
            self._follow.settle(self._orders.track(client_order_id, request.symbol,
                                                   request.quantity, venue_id), order)

    def on_market_data(self, event: MarketData) -> None:
        """Remember the last price (dispatcher thread): market orders are checked against
        the minimum notional with it instead of asking the venue for a ticker."""
        self._last_price[event.symbol] = event.price

    def _reference_price(self, request: OrderRequest) -> Decimal | None:
        if request.limit_price is not None:
            return request.limit_price
        if request.stop_price is not None:
            return request.stop_price
        cached = self._last_price.get(request.symbol)
        if cached is not None:
            return cached
        ticker = self._call("query", lambda: self.exchange.fetch_ticker(request.symbol))
        last = ticker.get("last") or ticker.get("close")
        return None if last is None else to_decimal(last, "last price")

    def cancel_order(self, client_order_id: str) -> None:
        """Ask the venue to cancel; the ``OrderCanceled`` comes from its answer. Blocks."""
        tracked = self._orders.get(client_order_id)
        if tracked is None or not tracked.venue_id:
            found = self.get_order(client_order_id)
            if found is None:
                raise OrderRejectedError(f"{self.name} has no order {client_order_id}",
                                         client_order_id=client_order_id)
            tracked = self._orders.track(client_order_id, found.request.symbol,
                                         found.request.quantity, found.broker_order_id)
        entry = tracked
        answer = self._call("cancel", lambda: self.exchange.cancel_order(
            entry.venue_id, entry.symbol), client_order_id=client_order_id)
        if str(answer.get("status") or "").lower() in FINAL:
            self._follow.settle(entry, answer)

    # ------------------------------------------------------------------ polling
    @property
    def poll_interval_s(self) -> float:
        """Seconds between two poll rounds (a rate limit's ``Retry-After`` can stretch one wait)."""
        return self._follow.poll_interval_s

    @poll_interval_s.setter
    def poll_interval_s(self, value: float) -> None:
        self._follow.poll_interval_s = value

    @property
    def polls(self) -> int:
        """Poll rounds begun since the adapter was built."""
        return self._follow.polls

    @property
    def poll_errors(self) -> int:
        """Poll rounds that failed (the poller carries on)."""
        return self._follow.poll_errors

    def poll_once(self) -> None:
        """One poll round (what the poller thread runs every ``poll_interval_s``); see
        :meth:`OrderFollower.poll_once`. Blocks."""
        self._follow.poll_once()

    # ------------------------------------------------------------------ queries
    def learn_client_ids(self, client_order_ids: Iterable[str]) -> None:
        """Map the venue's form of each id (a hash on Hyperliquid) back to ours."""
        for cid in client_order_ids:
            wire = self.caps.client_order_id(cid)
            self._ours[wire] = cid
            if wire != cid:
                self._orders.rename(wire, cid)  # found open at connect under its wire id

    def _client_id(self, order: Mapping[str, Any]) -> str:
        venue_id = str(order.get("id") or "")
        tracked = self._orders.client_id_for(venue_id)
        if tracked:
            return tracked
        wire = str(order.get("clientOrderId") or "")
        return self._ours.get(wire, wire) or f"{self.name}-{venue_id}"

    def _fetch_open(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = []
        for symbol in self.symbols:
            orders.extend(self._call("query", partial(self.exchange.fetch_open_orders, symbol)))
        return orders

    def get_open_orders(self) -> list[BrokerOrder]:
        return [order_to_broker_order(o, self._client_id(o)) for o in self._fetch_open()]

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The venue's order with this client id, or ``None`` when it has none. Blocks."""
        tracked = self._orders.get(client_order_id)
        candidates = [tracked.symbol] if tracked is not None else list(self.symbols)
        for symbol in candidates:
            found = self._call("query", partial(find_by_client_id, self.exchange, self.caps,
                                                symbol, client_order_id),
                               client_order_id=client_order_id)
            if found is not None:
                order = order_to_broker_order(found, client_order_id)
                if tracked is not None:
                    self._orders.track(client_order_id, symbol, tracked.quantity,
                                       order.broker_order_id)
                    self._follow.watch_from_now(symbol)
                return order
        return None

    def ping(self) -> None:
        """The venue's clock (Binance weight 1, against 20 for the account and 20 more
        for positions): answering at all is what the watchdog asks."""
        if self.exchange.has.get("fetchTime"):
            self._call("query", self.exchange.fetch_time)
        else:
            self._call("query", self.exchange.fetch_balance)

    def get_positions(self) -> Mapping[str, Decimal]:
        return self._account.positions()

    def get_account_info(self) -> AccountInfo:
        return self._account.account_info(self.get_positions)

    def get_fills(self, since: datetime) -> list[OrderFill]:
        fills: list[OrderFill] = []
        since_ms = int(since.timestamp() * 1000)
        for symbol in self.symbols:
            market = self._market(symbol)
            for trade in self._follow.trades_since(symbol, since_ms):
                venue_id = str(trade.get("order"))
                cid = self._orders.name_of(venue_id)
                if cid is None:  # one fetch_order per order never seen, then remembered
                    cid = self._lookup_client_id(symbol, venue_id)
                    self._orders.remember(venue_id, cid)
                fills.append(trade_to_fill({**trade, "symbol": symbol}, client_order_id=cid,
                                           market_id=str(market["id"]),
                                           base=str(market["base"]),
                                           quote=str(market["quote"]), side=None,
                                           now=self._clock.now(), order_id=venue_id))
        return sorted(fills, key=lambda f: f.timestamp)

    def _lookup_client_id(self, symbol: str, venue_id: str) -> str:
        order = self._call("query", lambda: self.exchange.fetch_order(venue_id, symbol))
        return self._client_id(order)

    def report(self, message: str) -> None:
        """A warning event from the adapter (used by the factory for config notes)."""
        self._emit(trusted(SystemErrorEvent, error_type="VenueNotice", message=message,
                           severity=Severity.WARNING, source=f"broker:{self.name}",
                           timestamp=self._clock.now(), context={}))
