"""``CCXTAdapter``: any ccxt venue (Binance, Bybit, Hyperliquid...) as a livetrade broker.

Uses ccxt's synchronous classes; no asyncio. One ccxt exchange object serves the
adapter, and ccxt objects are not safe to share between threads, so every venue call
holds ``_io`` (the execution thread's submits, the poller and the reconciler's queries
take turns).

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
  the matching event once every fill the venue reports for it has been handed over.
* **Accounts**: spot positions are the base-asset balances of the configured symbols;
  cash is the quote currency's total balance; linear perpetuals come from
  ``fetch_positions`` as signed contracts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import ccxt
import structlog

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.brokers.ccxt.capabilities import LINEAR, VenueCapabilities, find_by_client_id
from livetrade.brokers.ccxt.errors import Operation, classify, scrub
from livetrade.brokers.ccxt.mapping import (
    order_to_broker_order,
    to_decimal,
    trade_to_fill,
)
from livetrade.brokers.ccxt.precision import check_order
from livetrade.brokers.ccxt.tracking import OrderTracker, Tracked
from livetrade.clock import Clock, SystemClock
from livetrade.errors import (
    BrokerError,
    EngineStateError,
    OrderRejectedError,
    TransientBrokerError,
)
from livetrade.events import (
    Event,
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFill,
    OrderReject,
    OrderType,
    Severity,
    Side,
    SystemErrorEvent,
    trusted,
)
from livetrade.orders import OrderRequest

_log = structlog.get_logger("livetrade.brokers.ccxt")
T = TypeVar("T")
_GIVE_UP_LOOKUPS = 10  # lookups (~6 min at 1 s polls); reconciliation settles the order
_CATCH_UP_FALLBACK_MS = 3_600_000  # an order answer without a creation time: look back 1 h
_FINAL = {"canceled": "canceled", "cancelled": "canceled", "expired": "expired",
          "rejected": "rejected"}
_ANSWERED_FINAL = frozenset({"closed", *_FINAL})
_LOOKUP_BACKOFF_CAP = 64  # polls between two asks about one order (lookup, catch-up), at most


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
        self.poll_interval_s = poll_interval_s
        self._clock: Clock = clock or SystemClock()
        self._secrets = tuple(s for s in secrets if s)
        redact_library_logs(self._secrets)  # before the first request is ever logged
        self._io = threading.RLock()
        self._sink: EventSink | None = None
        self._orders = OrderTracker()
        self._since_ms: dict[str, int] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._markets: dict[str, Any] = {}
        self._last_price: dict[str, Decimal] = {}
        self._ours: dict[str, str] = {}  # the venue's form of a client id -> ours
        self.polls = 0
        self.poll_errors = 0

    def __repr__(self) -> str:  # never the exchange object: it holds the credentials
        return f"CCXTAdapter({self.name}, symbols={list(self.symbols)})"

    # ------------------------------------------------------------------ plumbing
    def _call(self, operation: Operation, fn: Callable[[], T], **context: Any) -> T:
        """One venue call under the I/O lock, its errors mapped onto ours."""
        with self._io:
            try:
                return fn()
            except ccxt.BaseError as exc:
                raise classify(exc, operation, venue=self.name, secrets=self._secrets,
                               headers=getattr(self.exchange, "last_response_headers", None),
                               **context) from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                if operation == "query":
                    raise
                # ccxt failed *after* the request, parsing the answer: it may have acted.
                raise classify(exc, operation, venue=self.name, secrets=self._secrets,
                               **context) from None

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
        now_ms = int(self._clock.now().timestamp() * 1000)
        for symbol in self.symbols:
            self._since_ms.setdefault(symbol, now_ms - 60_000)
        for order in self._fetch_open():
            tracked = self._orders.track(self._client_id(order), str(order.get("symbol")),
                                         to_decimal(order.get("amount") or 0, "amount"),
                                         str(order.get("id")))
            # Fills it had before we started are older than the polling window; the engine
            # finds them through get_fills when it reconciles. Count them as reported.
            tracked.filled = max(tracked.filled, to_decimal(order.get("filled") or 0,
                                                            "filled"))
        if self._poller is None:
            self._stop.clear()
            self._poller = threading.Thread(target=self._poll_loop, daemon=True,
                                            name=f"livetrade-ccxt-{self.name}")
            self._poller.start()

    def disconnect(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(10)
            self._poller = None

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
        self._watch_from_now(request.symbol)
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
        self._report_trades(order.get("trades") or [], client_order_id, request.symbol,
                            request.side, venue_id)
        if str(order.get("status") or "").lower() in _ANSWERED_FINAL:
            # Filled (or canceled, IOC) in the answer itself: settled now, not looked up
            # again by the poller - a market order costs the venue one request, not two.
            self._settle(self._orders.track(client_order_id, request.symbol,
                                            request.quantity, venue_id), order)

    def on_market_data(self, event: MarketData) -> None:
        """Remember the last price (dispatcher thread): market orders are checked against
        the minimum notional with it instead of asking the venue for a ticker."""
        self._last_price[event.symbol] = event.price

    def _watch_from_now(self, symbol: str) -> None:
        """Poll this symbol's trades from (a little before) now: a symbol quiet for days
        would otherwise be asked for a window the venue no longer serves."""
        others = [t for t in self._orders.active() if t.symbol == symbol and t.venue_id]
        if others:
            return  # fills of orders already working may still be unread: keep the window
        now_ms = int(self._clock.now().timestamp() * 1000) - 5_000
        self._since_ms[symbol] = max(self._since_ms.get(symbol, 0), now_ms)

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
        if str(answer.get("status") or "").lower() in _FINAL:
            self._settle(entry, answer)

    # ------------------------------------------------------------------ polling
    def _poll_loop(self) -> None:
        wait_s = self.poll_interval_s
        while not self._stop.wait(wait_s):
            wait_s = self.poll_interval_s
            try:
                self.poll_once()
            except TransientBrokerError as exc:
                self.poll_errors += 1
                # A rate limit says when to come back; polling sooner extends the ban.
                wait_s = max(wait_s, exc.retry_after_s or 0.0)
                _log.warning("ccxt_poll_failed", venue=self.name, error=str(exc),
                             next_poll_s=wait_s)
            except BrokerError as exc:
                self.poll_errors += 1
                _log.warning("ccxt_poll_failed", venue=self.name, error=str(exc))
            except Exception as exc:  # noqa: BLE001 - the poller must outlive a venue bug
                self.poll_errors += 1
                _log.error("ccxt_poll_crashed", venue=self.name,
                           error=f"{type(exc).__name__}: {exc}")

    def poll_once(self) -> None:
        """One round, cheap when nothing happened: the open orders of every active symbol
        (one call each), the trades only of symbols where an order filled more than we
        reported, one lookup per order that left the open list; then settle finished
        orders. Asking per order every round would spend the venue's request weight (a
        Binance minute is 6,000) on orders that did not change, until it bans the account
        endpoints the engine needs most in a storm. Blocks."""
        self.polls += 1
        for tracked in self._orders.active():
            # A submit whose answer was lost: did it land? Asked at polls 1, 3, 7, 15, ...
            # after it was sent (each lookup costs request weight); after many "no", stop.
            if tracked.venue_id or self.polls < tracked.next_lookup_poll:
                continue
            if self.get_order(tracked.client_order_id) is None:
                tracked.misses += 1
                tracked.next_lookup_poll = _backed_off(self.polls, tracked.misses)
                if tracked.misses >= _GIVE_UP_LOOKUPS:
                    self._orders.forget(tracked.client_order_id)
        active = [t for t in self._orders.active() if t.venue_id]
        symbols = sorted({t.symbol for t in active})
        still_open: dict[str, Mapping[str, Any]] = {}
        for symbol in symbols:
            for order in self._call("query", partial(self.exchange.fetch_open_orders, symbol)):
                still_open[str(order.get("id"))] = order
        finished: list[tuple[Tracked, Mapping[str, Any]]] = []
        lagging: set[str] = set()  # symbols with fills we have not reported yet
        for tracked in active:
            order = still_open.get(tracked.venue_id)
            if order is None:  # left the open list (or never on it): ask once
                order = self._call("query", partial(self.exchange.fetch_order,
                                                    tracked.venue_id, tracked.symbol),
                                   client_order_id=tracked.client_order_id)
                finished.append((tracked, order))
            venue_filled = _filled(order)
            if venue_filled is None or tracked.filled < venue_filled:
                lagging.add(tracked.symbol)
        for symbol in sorted(lagging):
            self._poll_trades(symbol)
        for tracked, order in finished:
            self._settle(tracked, order)
        self._orders.forget_finished()

    def _poll_trades(self, symbol: str) -> None:
        """Trades since the cursor (a little before the newest seen), reported once each."""
        since = self._since_ms.get(symbol, 0)
        trades = self._call("query", partial(self.exchange.fetch_my_trades, symbol,
                                             max(0, since - 5_000)))
        for trade in trades:
            stamp = trade.get("timestamp")
            if isinstance(stamp, int):
                self._since_ms[symbol] = max(self._since_ms.get(symbol, 0), stamp)
            cid = self._orders.client_id_for(str(trade.get("order")))
            if cid is not None:
                self._report_trades([trade], cid, symbol, None, str(trade.get("order")))

    def _settle(self, tracked: Tracked, order: Mapping[str, Any]) -> None:
        """Close our story of an order the venue has finished, once its fills are in."""
        status = str(order.get("status") or "").lower()
        filled = to_decimal(order.get("filled") or 0, "filled")
        if (status in _ANSWERED_FINAL and tracked.filled < filled
                and self.polls >= tracked.next_catch_up_poll):
            tracked.catch_ups += 1  # backs off if the venue's trades keep disagreeing
            tracked.next_catch_up_poll = _backed_off(self.polls, tracked.catch_ups)
            self._catch_up_fills(tracked, order)
        if status == "closed":
            tracked.done = True
            tracked.final_sent = tracked.filled >= filled
            return
        final = _FINAL.get(status)
        if final is None or tracked.filled < filled:
            return  # still working, or fills the poller has not reported yet
        tracked.done = True
        if tracked.final_sent:
            return
        tracked.final_sent = True
        now = self._clock.now()
        cid, venue_id = tracked.client_order_id, tracked.venue_id
        if final == "canceled":
            self._emit(trusted(OrderCanceled, order_id=venue_id, client_order_id=cid,
                               timestamp=now, reason=f"{self.name}: canceled"))
        elif final == "expired":
            self._emit(trusted(OrderExpired, order_id=venue_id, client_order_id=cid,
                               timestamp=now))
        else:
            self._emit(trusted(OrderReject, order_id=venue_id, client_order_id=cid,
                               reason=f"{self.name} rejected the order", timestamp=now,
                               symbol=tracked.symbol))

    def _catch_up_fills(self, tracked: Tracked, order: Mapping[str, Any]) -> None:
        """The venue has finished an order with more filled than we reported: the trade
        poller's window moved past its trades (its submit answer was lost and the lookup
        that found it came seconds later, under retries). Read this order's trades from its
        own creation time, so its fills are booked before its final event."""
        stamp = order.get("timestamp")
        now_ms = int(self._clock.now().timestamp() * 1000)
        since_ms = stamp - 1_000 if isinstance(stamp, int) else now_ms - _CATCH_UP_FALLBACK_MS
        venue_id = tracked.venue_id
        mine = [t for t in self._trades_since(tracked.symbol, since_ms)
                if str(t.get("order")) == venue_id]
        fills = self._report_trades(mine, tracked.client_order_id, tracked.symbol, None,
                                    venue_id)
        # Every trade of the order is in hand now, whether or not an earlier path (a
        # reconnect, another id) already handed some over: its filled total is their sum.
        self._orders.filled_at_least(tracked.client_order_id,
                                     sum((f.fill_amount for f in fills), Decimal(0)))
        _log.info("ccxt_fills_caught_up", venue=self.name,
                  client_order_id=tracked.client_order_id, trades=len(mine))

    def _report_trades(self, trades: Iterable[Mapping[str, Any]], client_order_id: str,
                       symbol: str, side: Side | None, venue_id: str) -> list[OrderFill]:
        """Hand each trade not seen before to the engine; return all of them as fills."""
        market = self._market(symbol)
        built: list[OrderFill] = []
        for trade in trades:
            if trade.get("id") is None:
                continue
            fill = trade_to_fill({**trade, "symbol": symbol}, client_order_id=client_order_id,
                                 market_id=str(market["id"]), base=str(market["base"]),
                                 quote=str(market["quote"]), side=side,
                                 now=self._clock.now(), order_id=venue_id)
            built.append(fill)
            if self._orders.first_sighting(fill.fill_id, client_order_id, fill.fill_amount):
                self._emit(fill)
        return built

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
                    self._watch_from_now(symbol)
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
        positions: dict[str, Decimal] = {}
        spot = [s for s in self.symbols if self.caps.market_kind(s) != LINEAR]
        if spot:
            balances = self._call("query", self.exchange.fetch_balance)
            for symbol in spot:
                base = str(self._market(symbol)["base"])
                positions[symbol] = _total(balances, base)
        linear = [s for s in self.symbols if self.caps.market_kind(s) == LINEAR]
        if linear:
            for position in self._call("query", partial(self.exchange.fetch_positions, linear)):
                contracts = to_decimal(position.get("contracts") or 0, "contracts")
                side = str(position.get("side") or "long")
                positions[str(position.get("symbol"))] = -contracts if side == "short" \
                    else contracts
        return {s: q for s, q in positions.items() if q != 0}

    def get_account_info(self) -> AccountInfo:
        balances = self._call("query", self.exchange.fetch_balance)
        cash = _total(balances, self.quote)
        free = _free(balances, self.quote)
        equity = cash
        for symbol, quantity in self.get_positions().items():
            if self.caps.market_kind(symbol) == LINEAR:
                continue
            ticker = self._call("query", partial(self.exchange.fetch_ticker, symbol))
            last = ticker.get("last")
            if last is not None:
                equity += quantity * to_decimal(last, "last price")
        return AccountInfo(currency=self.quote, cash=cash, equity=equity, buying_power=free)

    def get_fills(self, since: datetime) -> list[OrderFill]:
        fills: list[OrderFill] = []
        since_ms = int(since.timestamp() * 1000)
        for symbol in self.symbols:
            market = self._market(symbol)
            for trade in self._trades_since(symbol, since_ms):
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

    def _trades_since(self, symbol: str, since_ms: int) -> list[Mapping[str, Any]]:
        """Every trade of ``symbol`` since ``since_ms``, page by page: a venue answers a
        ``startTime`` query with the oldest page only (Binance: 500 by default), so one call
        would drop the newest fills - exactly the ones a restarted engine missed."""
        page = self.caps.fills_page
        found: dict[str, Mapping[str, Any]] = {}
        while True:
            trades = self._call("query", partial(self.exchange.fetch_my_trades, symbol,
                                                 since_ms, page))
            fresh = [t for t in trades if str(t.get("id")) not in found]
            found.update((str(t.get("id")), t) for t in fresh)
            stamps = [t["timestamp"] for t in fresh if isinstance(t.get("timestamp"), int)]
            if len(trades) < page or not fresh or not stamps:
                return list(found.values())
            since_ms = max(stamps)  # trades at that millisecond come again: deduplicated

    def _lookup_client_id(self, symbol: str, venue_id: str) -> str:
        order = self._call("query", lambda: self.exchange.fetch_order(venue_id, symbol))
        return self._client_id(order)

    def report(self, message: str) -> None:
        """A warning event from the adapter (used by the factory for config notes)."""
        self._emit(trusted(SystemErrorEvent, error_type="VenueNotice", message=message,
                           severity=Severity.WARNING, source=f"broker:{self.name}",
                           timestamp=self._clock.now(), context={}))


class _Redact(logging.Filter):
    """Scrubs credentials from ccxt's own debug log lines (it logs request headers)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = scrub(record.getMessage(), self.secrets)
            record.args = ()
        return True


_REDACT = _Redact()


def redact_library_logs(secrets: Iterable[str]) -> None:
    """Make sure ccxt's loggers never print ``secrets`` (idempotent, process-wide)."""
    _REDACT.secrets.update(s for s in secrets if s and len(s) >= 4)
    for name in ("ccxt", "ccxt.base.exchange"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


def _backed_off(poll: int, tries: int) -> int:
    """The poll at which to ask again after ``tries`` fruitless asks: 2, 4, 8, ... polls
    later, at most ``_LOOKUP_BACKOFF_CAP`` (each ask costs the venue's request weight)."""
    return poll + min(1 << tries, _LOOKUP_BACKOFF_CAP)


def _filled(order: Mapping[str, Any]) -> Decimal | None:
    """How much of an order the venue says is filled; ``None`` when it does not say."""
    value = order.get("filled")
    return None if value is None else to_decimal(value, "filled")


def _total(balances: Mapping[str, Any], asset: str) -> Decimal:
    entry = balances.get(asset) or {}
    raw = _raw_balance(balances, asset)
    if raw is not None:
        return raw[0] + raw[1]
    return to_decimal(entry.get("total") or 0, f"{asset} balance")


def _free(balances: Mapping[str, Any], asset: str) -> Decimal:
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

