"""Following the venue's orders until their story is complete: fills found, final state said.

ccxt's synchronous classes push nothing, so this is where fills and finished orders are
found: a poller thread asks every ``poll_interval_s``, cheaply (the open orders of each
active symbol; trades only where an order filled more than was reported; one lookup per
order that left the open list), and the answers to submits and cancels are fed in too.
The same trade never counts twice (fill ids are ``<market id>:<trade id>``; the
:class:`~livetrade.brokers.ccxt.tracking.OrderTracker` and the engine both deduplicate).
Closed orders are settled with ``fetch_order``: canceled, expired or rejected becomes the
matching event once every fill the venue reports for it has been handed over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from types import MappingProxyType
from typing import Any

import ccxt
import structlog

from livetrade.brokers.base import BrokerAdapter, EventSink
from livetrade.brokers.ccxt.calls import VenueCaller
from livetrade.brokers.ccxt.capabilities import VenueCapabilities
from livetrade.brokers.ccxt.mapping import to_decimal, trade_to_fill
from livetrade.brokers.ccxt.tracking import OrderTracker, Tracked
from livetrade.clock import Clock
from livetrade.errors import BrokerError, TransientBrokerError
from livetrade.events import (
    OrderCanceled,
    OrderExpired,
    OrderFill,
    OrderReject,
    Side,
    trusted,
)

_log = structlog.get_logger("livetrade.brokers.ccxt")
_GIVE_UP_LOOKUPS = 10  # lookups (~6 min at 1 s polls); reconciliation settles the order
_CATCH_UP_FALLBACK_MS = 3_600_000  # an order answer without a creation time: look back 1 h
FINAL: Mapping[str, str] = MappingProxyType({
    "canceled": "canceled", "cancelled": "canceled", "expired": "expired", "rejected": "rejected"})
"""A venue's final order status -> ours (read-only: the adapter shares it)."""
ANSWERED_FINAL = frozenset({"closed", *FINAL})
_LOOKUP_BACKOFF_CAP = 64  # polls between two asks about one order (lookup, catch-up), at most


class OrderFollower:
    """Finds the fills and final states of the orders the adapter follows and hands each
    to the engine exactly once.

    The poller thread (:meth:`start`) and the adapter's callers (a submit's or cancel's
    answer, :meth:`report_trades` and :meth:`settle`) share the
    :class:`~livetrade.brokers.ccxt.tracking.OrderTracker`, which is thread-safe; venue
    calls take turns on the adapter's :class:`~livetrade.brokers.ccxt.calls.VenueCaller`.
    """

    def __init__(self, exchange: ccxt.Exchange, caps: VenueCapabilities, call: VenueCaller,
                 *, broker: BrokerAdapter, orders: OrderTracker,
                 market: Callable[[str], dict[str, Any]], emit: EventSink, clock: Clock,
                 venue: str, poll_interval_s: float) -> None:
        self._exchange = exchange
        self._caps = caps
        self._call = call
        # A lost submit is looked up through the broker's own get_order (which also
        # records the venue id it finds), asked of the broker at each lookup rather than
        # bound here, so a get_order replaced on the instance is the one asked.
        self._broker = broker
        self._orders = orders
        self._market = market
        self._emit = emit
        self._clock = clock
        self._venue = venue
        self.poll_interval_s = poll_interval_s
        self._since_ms: dict[str, int] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.polls = 0
        self.poll_errors = 0

    # ------------------------------------------------------------------ the poller thread
    def start(self) -> None:
        """Start the poller thread, unless it runs already."""
        if self._poller is None:
            self._stop.clear()
            self._poller = threading.Thread(target=self._poll_loop, daemon=True,
                                            name=f"livetrade-ccxt-{self._venue}")
            self._poller.start()

    def stop(self) -> None:
        """Stop the poller thread. Blocks until it ends (at most 10 s)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(10)
            self._poller = None

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
                _log.warning("ccxt_poll_failed", venue=self._venue, error=str(exc),
                             next_poll_s=wait_s)
            except BrokerError as exc:
                self.poll_errors += 1
                _log.warning("ccxt_poll_failed", venue=self._venue, error=str(exc))
            except Exception as exc:  # noqa: BLE001 - the poller must outlive a venue bug
                self.poll_errors += 1
                _log.error("ccxt_poll_crashed", venue=self._venue,
                           error=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ trade windows
    def watch_symbols(self, symbols: Iterable[str]) -> None:
        """Poll each symbol's trades from a minute ago unless a window is open already."""
        now_ms = int(self._clock.now().timestamp() * 1000)
        for symbol in symbols:
            self._since_ms.setdefault(symbol, now_ms - 60_000)

    def watch_from_now(self, symbol: str) -> None:
        """Poll this symbol's trades from (a little before) now: a symbol quiet for days
        would otherwise be asked for a window the venue no longer serves."""
        others = [t for t in self._orders.active() if t.symbol == symbol and t.venue_id]
        if others:
            return  # fills of orders already working may still be unread: keep the window
        now_ms = int(self._clock.now().timestamp() * 1000) - 5_000
        self._since_ms[symbol] = max(self._since_ms.get(symbol, 0), now_ms)

    # ------------------------------------------------------------------ one round
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
            if self._broker.get_order(tracked.client_order_id) is None:
                tracked.misses += 1
                tracked.next_lookup_poll = _backed_off(self.polls, tracked.misses)
                if tracked.misses >= _GIVE_UP_LOOKUPS:
                    self._orders.forget(tracked.client_order_id)
        active = [t for t in self._orders.active() if t.venue_id]
        symbols = sorted({t.symbol for t in active})
        still_open: dict[str, Mapping[str, Any]] = {}
        for symbol in symbols:
            for order in self._call("query", partial(self._exchange.fetch_open_orders, symbol)):
                still_open[str(order.get("id"))] = order
        finished: list[tuple[Tracked, Mapping[str, Any]]] = []
        lagging: set[str] = set()  # symbols with fills we have not reported yet
        for tracked in active:
            order = still_open.get(tracked.venue_id)
            if order is None:  # left the open list (or never on it): ask once
                order = self._call("query", partial(self._exchange.fetch_order,
                                                    tracked.venue_id, tracked.symbol),
                                   client_order_id=tracked.client_order_id)
                finished.append((tracked, order))
            venue_filled = _filled(order)
            if venue_filled is None or tracked.filled < venue_filled:
                lagging.add(tracked.symbol)
        for symbol in sorted(lagging):
            self.poll_trades(symbol)
        for tracked, order in finished:
            self.settle(tracked, order)
        self._orders.forget_finished()

    def poll_trades(self, symbol: str) -> None:
        """Trades since the cursor (a little before the newest seen), reported once each."""
        since = self._since_ms.get(symbol, 0)
        trades = self._call("query", partial(self._exchange.fetch_my_trades, symbol,
                                             max(0, since - 5_000)))
        for trade in trades:
            stamp = trade.get("timestamp")
            if isinstance(stamp, int):
                self._since_ms[symbol] = max(self._since_ms.get(symbol, 0), stamp)
            cid = self._orders.client_id_for(str(trade.get("order")))
            if cid is not None:
                self.report_trades([trade], cid, symbol, None, str(trade.get("order")))

    # ------------------------------------------------------------------ settling
    def settle(self, tracked: Tracked, order: Mapping[str, Any]) -> None:
        """Close our story of an order the venue has finished, once its fills are in."""
        status = str(order.get("status") or "").lower()
        filled = to_decimal(order.get("filled") or 0, "filled")
        if (status in ANSWERED_FINAL and tracked.filled < filled
                and self.polls >= tracked.next_catch_up_poll):
            tracked.catch_ups += 1  # backs off if the venue's trades keep disagreeing
            tracked.next_catch_up_poll = _backed_off(self.polls, tracked.catch_ups)
            self._catch_up_fills(tracked, order)
        if status == "closed":
            tracked.done = True
            tracked.final_sent = tracked.filled >= filled
            return
        final = FINAL.get(status)
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
                               timestamp=now, reason=f"{self._venue}: canceled"))
        elif final == "expired":
            self._emit(trusted(OrderExpired, order_id=venue_id, client_order_id=cid,
                               timestamp=now))
        else:
            self._emit(trusted(OrderReject, order_id=venue_id, client_order_id=cid,
                               reason=f"{self._venue} rejected the order", timestamp=now,
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
        mine = [t for t in self.trades_since(tracked.symbol, since_ms)
                if str(t.get("order")) == venue_id]
        fills = self.report_trades(mine, tracked.client_order_id, tracked.symbol, None,
                                   venue_id)
        # Every trade of the order is in hand now, whether or not an earlier path (a
        # reconnect, another id) already handed some over: its filled total is their sum.
        self._orders.filled_at_least(tracked.client_order_id,
                                     sum((f.fill_amount for f in fills), Decimal(0)))
        _log.info("ccxt_fills_caught_up", venue=self._venue,
                  client_order_id=tracked.client_order_id, trades=len(mine))

    def report_trades(self, trades: Iterable[Mapping[str, Any]], client_order_id: str,
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

    def trades_since(self, symbol: str, since_ms: int) -> list[Mapping[str, Any]]:
        """Every trade of ``symbol`` since ``since_ms``, page by page: a venue answers a
        ``startTime`` query with the oldest page only (Binance: 500 by default), so one call
        would drop the newest fills - exactly the ones a restarted engine missed. Blocks."""
        page = self._caps.fills_page
        found: dict[str, Mapping[str, Any]] = {}
        while True:
            trades = self._call("query", partial(self._exchange.fetch_my_trades, symbol,
                                                 since_ms, page))
            fresh = [t for t in trades if str(t.get("id")) not in found]
            found.update((str(t.get("id")), t) for t in fresh)
            stamps = [t["timestamp"] for t in fresh if isinstance(t.get("timestamp"), int)]
            if len(trades) < page or not fresh or not stamps:
                return list(found.values())
            since_ms = max(stamps)  # trades at that millisecond come again: deduplicated


def _backed_off(poll: int, tries: int) -> int:
    """The poll at which to ask again after ``tries`` fruitless asks: 2, 4, 8, ... polls
    later, at most ``_LOOKUP_BACKOFF_CAP`` (each ask costs the venue's request weight)."""
    return poll + min(1 << tries, _LOOKUP_BACKOFF_CAP)


def _filled(order: Mapping[str, Any]) -> Decimal | None:
    """How much of an order the venue says is filled; ``None`` when it does not say."""
    value = order.get("filled")
    return None if value is None else to_decimal(value, "filled")
