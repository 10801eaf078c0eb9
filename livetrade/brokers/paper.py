"""The paper broker: the embedded default venue, filling orders against the market data.

It is ``inline``: the engine calls it on the dispatcher thread. That is what makes a replay
deterministic: its last price is the last ``MarketData`` the dispatcher processed, a market
order sent while handling bar *t* fills at bar *t*'s price, and its fill event (higher
priority than market data) reaches the strategy before bar *t+1*.

The matching rules are in :mod:`livetrade.matching`; this class adds the account (its own
:class:`~livetrade.portfolio.Portfolio`, the "broker side" of a reconciliation), commission,
ids and events. Commission is ``commission_bps`` of each fill's notional plus
``commission_per_order`` on an order's first fill. DAY orders expire when the first market
data of a later UTC date arrives.

Like a real venue it remembers: a client order id it knows is refused as a duplicate (the
idempotency key; see :meth:`PaperBroker.get_order`), and it keeps the fills it emitted for
:meth:`PaperBroker.get_fills` (the newest ``fill_history``).

**Persistence** (``store_dir``, optional): the venue keeps its whole state in its own
diskcache directory (:mod:`livetrade.brokers.paper_store`), so an engine restarted after a
``kill -9`` reconciles against a venue that, like a real one, remembered everything. Every
change is built first (a :class:`~livetrade.brokers.paper_ledger.Batch`), applied in
memory, written in ONE SQLite transaction, and only then are its events emitted: a kill
leaves the venue before or after the change, never half-way, and if after, the engine finds
the fill again through ``get_fills``. That transaction (about 0.4-0.7 ms, 2 ms p99 here, on
the dispatcher thread) is paid per order change only. The last price per symbol is
written lazily, with the next order change and on :meth:`PaperBroker.close`: market data
never touches the disk while no order is working, at the cost that after a crash the venue
may remember an older last price than it saw (a market order sent before the next tick
fills at that older price). Without ``store_dir`` it does no I/O at all.

The venue is split by job: :mod:`~livetrade.brokers.paper_config` (settings),
:mod:`~livetrade.brokers.paper_state` (its state and the all-or-nothing change above),
:mod:`~livetrade.brokers.paper_outcome` (a matching outcome as fills and order states),
:mod:`~livetrade.brokers.paper_queries` (the account and order queries), and this module:
order intake and matching resting orders against the market data.
"""

from __future__ import annotations

from collections.abc import Iterable

from livetrade.brokers.base import BrokerAdapter, EventSink
from livetrade.brokers.paper_config import PaperBrokerConfig
from livetrade.brokers.paper_ledger import Batch, PaperOrder, PaperOrderStatus, Working
from livetrade.brokers.paper_outcome import add_outcome
from livetrade.brokers.paper_queries import PaperVenueQueries
from livetrade.errors import (
    InvalidOrderError,
    OrderRejectedError,
    PermanentBrokerError,
    StateError,
    TransientBrokerError,
)
from livetrade.events import (
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderType,
    TimeInForce,
    trusted,
)
from livetrade.frozen import build, evolve
from livetrade.matching import ZERO, Quote, SimOrder, on_arrival, on_quote
from livetrade.orders import OrderRequest, validate_request

__all__ = ["PaperBroker", "PaperBrokerConfig", "PaperOrder", "PaperOrderStatus"]


class PaperBroker(PaperVenueQueries, BrokerAdapter):
    """Simulated broker with its own account. Thread-safe; see the module docstring.

    ``store_dir``: keep the venue's state in this diskcache directory (created if absent,
    reloaded if it holds a paper venue store; anything else raises ``StateError``). Only
    one ``PaperBroker`` may use a store at a time; :meth:`close` releases it.

    This class takes orders and matches them against the market data; its state and the
    one way it changes are :class:`~livetrade.brokers.paper_state.PaperVenueState`, its
    queries :class:`~livetrade.brokers.paper_queries.PaperVenueQueries`.
    """

    name = "paper"
    inline = True

    # ----------------------------------------------------------- session
    def connect(self, sink: EventSink) -> None:
        self._sink = sink

    def disconnect(self) -> None:
        self._sink = None

    # ----------------------------------------------------------- orders
    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        with self._lock:
            if self._closed or self._broken is not None:
                self._check_usable()
            try:
                known = client_order_id in self._working or self._ledger.knows(client_order_id)
            except StateError as exc:
                raise PermanentBrokerError(f"paper venue cannot check the client order id: "
                                           f"{exc.message}",
                                           client_order_id=client_order_id) from exc
            if known:
                raise OrderRejectedError("duplicate client order id",
                                         client_order_id=client_order_id)
            try:
                validate_request(request)  # once per request: the order manager's is reused
            except InvalidOrderError as exc:
                raise OrderRejectedError(exc.message, client_order_id=client_order_id) from exc
            symbols = self.config.symbols
            if symbols and request.symbol not in symbols:
                raise OrderRejectedError(
                    f"unknown symbol {request.symbol!r}; this paper venue trades "
                    f"{', '.join(symbols)}",
                    client_order_id=client_order_id,
                )
            last = self._last.get(request.symbol)
            quote = _quote(last) if last is not None else None
            if quote is None and request.order_type is OrderType.MARKET:
                raise OrderRejectedError(
                    f"no market price seen yet for {request.symbol}",
                    client_order_id=client_order_id,
                )
            if self._sink is None:
                self._require_sink()
            batch = self._batch()
            broker_id = f"PB{batch.next_order_id}"
            batch.next_order_id += 1
            now = self._clock.now()
            # Built with livetrade.frozen (every field given): the same records the
            # constructors make, without their per-field frozen __init__ on every order.
            working = build(
                Working,
                client_order_id=client_order_id,
                request=request,
                sim=build(
                    SimOrder,
                    order_id=broker_id,
                    side=request.side,
                    quantity=request.quantity,
                    order_type=request.order_type,
                    limit_price=request.limit_price,
                    stop_price=request.stop_price,
                    time_in_force=request.time_in_force,
                    filled=ZERO,
                    triggered=False,
                ),
                day=now.date(),
                accepted_at=now,
                updated_at=now,
                charged_per_order=False,
            )
            batch.events.append(trusted(OrderAccepted, order_id=broker_id,
                                        client_order_id=client_order_id, timestamp=now))
            if quote is None:
                if request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                    # Nothing to match against now, and these must never rest.
                    reason = (f"no market price for {request.symbol} to match "
                              f"a {request.time_in_force.value} order")
                    batch.close(working, PaperOrderStatus.CANCELED, reason)
                    batch.events.append(trusted(OrderCanceled, order_id=broker_id,
                                                client_order_id=client_order_id,
                                                timestamp=now, reason=reason))
                else:
                    batch.resting[client_order_id] = working
            else:
                add_outcome(batch, working, on_arrival(working.sim, quote, self._model), now,
                            self.config, arriving=True)
            try:
                self._commit(batch)
            except StateError as exc:
                raise self._unpersisted(client_order_id, exc) from exc

    def _unpersisted(self, client_order_id: str, exc: StateError) -> Exception:
        """The error for a submit whose change could not be written (and was rolled back).

        Normally the order does not exist: a refusal. If the venue reloaded it anyway (the
        commit reached SQLite before the failure), or cannot tell, the outcome is unknown.
        """
        try:
            exists = self._broken is not None or self._ledger.knows(client_order_id)
        except StateError:
            exists = True
        if exists:
            return TransientBrokerError(f"paper venue store failed; the order may exist: "
                                        f"{exc.message}", client_order_id=client_order_id)
        return PermanentBrokerError(f"paper venue could not persist the order, so it was not "
                                    f"accepted: {exc.message}", client_order_id=client_order_id)

    def cancel_order(self, client_order_id: str) -> None:
        with self._lock:
            self._check_usable()
            self._require_sink()
            working = self._working.get(client_order_id)
            now = self._clock.now()
            if working is None:
                self._emit(trusted(OrderCancelRejected, order_id="",
                                   client_order_id=client_order_id,
                                   reason="order is not open at the paper broker", timestamp=now))
                return
            batch = self._batch()
            batch.close(evolve(working, updated_at=now), PaperOrderStatus.CANCELED,
                        "canceled on request")
            batch.events.append(trusted(OrderCanceled, order_id=working.sim.order_id,
                                        client_order_id=client_order_id, timestamp=now,
                                        reason="canceled on request"))
            try:
                self._commit(batch)
            except StateError as exc:
                raise PermanentBrokerError(
                    f"paper venue could not persist the cancel; the order still works: "
                    f"{exc.message}", client_order_id=client_order_id) from exc

    # ----------------------------------------------------------- market data
    def on_market_data(self, event: MarketData) -> None:
        # Hot path: one dict store per event. The quote object and the account's marks are
        # only built when something needs them (a resting order, an account query); the
        # price reaches the store only with the next change (see the module docstring).
        self._last[event.symbol] = event
        if event.symbol not in self._working_by_symbol:  # a fast exit only: read again below
            return
        quote = _quote(event)
        with self._lock:
            self._check_usable()
            # Under the lock: another thread's change (or its rollback, which replaces the
            # index) may have come in between.
            same_symbol = self._working_by_symbol.get(event.symbol)
            if same_symbol is None:
                return
            today = event.timestamp.date()
            batch: Batch | None = None  # built on the first change: most quotes make none
            working_orders = self._working
            for cid in tuple(same_symbol):
                working = working_orders[cid]
                if working.request.time_in_force is TimeInForce.DAY and today > working.day:
                    batch = batch or self._batch()
                    now = self._clock.now()
                    batch.close(evolve(working, updated_at=now), PaperOrderStatus.EXPIRED,
                                "DAY order expired")
                    batch.events.append(trusted(OrderExpired, order_id=working.sim.order_id,
                                                client_order_id=working.client_order_id,
                                                timestamp=now))
                    continue
                outcome = on_quote(working.sim, quote, self._model)
                if outcome.order is not working.sim or outcome.canceled_reason is not None:
                    batch = batch or self._batch()
                    add_outcome(batch, working, outcome, self._clock.now(), self.config,
                                arriving=False)
            if batch is None:
                return
            if batch.events:
                self._require_sink()
            self._commit(batch)

    def subscribe_market_data(self, symbols: Iterable[str]) -> None:
        """The paper venue has no market data of its own: it watches the engine's feeds."""


def _quote(event: MarketData) -> Quote:
    # build(): one per order and per quote a working order sees (see livetrade.frozen).
    return build(Quote, price=event.price, volume=event.volume, open=event.open,
                 high=event.high, low=event.low)

