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
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import structlog

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.brokers.paper_ledger import (
    Batch,
    Ledger,
    MemoryLedger,
    PaperOrder,
    PaperOrderStatus,
    VenueView,
    Working,
)
from livetrade.brokers.paper_store import Loaded, VenueStore
from livetrade.clock import Clock, SystemClock
from livetrade.errors import (
    EngineStateError,
    InvalidOrderError,
    OrderRejectedError,
    PermanentBrokerError,
    StateError,
    TransientBrokerError,
)
from livetrade.events import (
    Event,
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFill,
    OrderType,
    TimeInForce,
    trusted,
)
from livetrade.frozen import build, evolve
from livetrade.matching import (
    ZERO,
    FillModel,
    MatchOutcome,
    Quote,
    SimOrder,
    on_arrival,
    on_quote,
)
from livetrade.orders import OrderRequest, validate_request
from livetrade.portfolio import Portfolio

__all__ = ["PaperBroker", "PaperBrokerConfig", "PaperOrder", "PaperOrderStatus"]

_log = structlog.get_logger("livetrade.brokers.paper")

_BPS = Decimal(10_000)


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


class PaperBroker(BrokerAdapter):
    """Simulated broker with its own account. Thread-safe; see the module docstring.

    ``store_dir``: keep the venue's state in this diskcache directory (created if absent,
    reloaded if it holds a paper venue store; anything else raises ``StateError``). Only
    one ``PaperBroker`` may use a store at a time; :meth:`close` releases it.
    """

    name = "paper"
    inline = True

    def __init__(self, config: PaperBrokerConfig | None = None, clock: Clock | None = None,
                 store_dir: str | Path | None = None) -> None:
        self.config = config or PaperBrokerConfig()
        self._clock = clock or SystemClock()
        self._model = FillModel(self.config.slippage_bps, self.config.participation)
        self._account = Portfolio(self.config.initial_cash)
        self._last: dict[str, MarketData] = {}
        self._working: dict[str, Working] = {}
        # The working orders' ids again, by symbol, in _working's order (time priority):
        # a tick looks only at its symbol's orders (one dict lookup if it has none), and a
        # submit changes one entry. Kept in step with _working by _commit and _install;
        # rebuilding it per change made every submit O(working orders).
        self._working_by_symbol: dict[str, dict[str, None]] = {}
        self._lock = threading.RLock()
        self._sink: EventSink | None = None
        self._next_order_id = 1
        self._next_fill_id = 1
        self._closed = False
        self._broken: StateError | None = None
        self._store: VenueStore | None = None
        self._ledger: Ledger
        if store_dir is None:
            self._ledger = MemoryLedger(self.config.fill_history,
                                        self.config.closed_order_history)
            return
        store = VenueStore(Path(store_dir), currency=self.config.currency,
                           initial_cash=self.config.initial_cash,
                           fill_history=self.config.fill_history)
        try:
            loaded = store.load()
            if loaded is None:
                store.create(self._view())
            else:
                self._install(loaded)
                self._last = dict(loaded.prices)
        except BaseException:
            store.close(None)
            raise
        self._store = self._ledger = store

    # ----------------------------------------------------------- session
    def connect(self, sink: EventSink) -> None:
        self._sink = sink

    def disconnect(self) -> None:
        self._sink = None

    def close(self) -> None:
        """Persist what is only in memory (last prices) and release the store. Idempotent.

        The venue cannot be used afterwards. Without a store there is nothing to release.
        Blocks on disk I/O.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._ledger.close(self._view() if self._broken is None else None)

    def _require_sink(self) -> None:
        if self._sink is None:
            raise EngineStateError("paper broker used before connect()")

    def _check_usable(self) -> None:
        if self._closed:
            raise EngineStateError("paper broker is closed")
        if self._broken is not None:
            raise PermanentBrokerError(f"paper venue store is unusable: {self._broken.message}",
                                       hint="restart; the store holds the last good state")

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
                self._match(batch, working, on_arrival(working.sim, quote, self._model), now,
                            arriving=True)
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

    def _match(self, batch: Batch, working: Working, outcome: MatchOutcome, now: datetime,
               arriving: bool) -> None:
        """Add what ``outcome`` does to ``working`` to ``batch``: fills, then its new state."""
        charged = working.charged_per_order
        config = self.config
        for execution in outcome.executions:
            commission = execution.price * execution.quantity * config.commission_bps / _BPS
            if not charged:
                commission += config.commission_per_order
                charged = True
            fill = trusted(
                OrderFill,
                order_id=working.sim.order_id,
                client_order_id=working.client_order_id,
                symbol=working.request.symbol,
                side=working.request.side,
                fill_price=execution.price,
                fill_amount=execution.quantity,
                commission=commission,
                timestamp=now,
                fill_id=f"PF{batch.next_fill_id}",
            )
            batch.next_fill_id += 1
            batch.fills.append(fill)
            batch.events.append(fill)
        # The matching rules return the same order object when nothing happened to it;
        # a new one means a fill or a stop that triggered silently.
        changed = outcome.order is not working.sim
        updated = evolve(working, sim=outcome.order, charged_per_order=charged,
                         updated_at=now) if changed else working
        if outcome.canceled_reason is not None:
            batch.close(evolve(updated, updated_at=now), PaperOrderStatus.CANCELED,
                        outcome.canceled_reason)
            batch.events.append(trusted(OrderCanceled, order_id=working.sim.order_id,
                                        client_order_id=working.client_order_id, timestamp=now,
                                        reason=outcome.canceled_reason))
        elif outcome.done:
            batch.close(updated, PaperOrderStatus.FILLED)
        elif arriving or changed:
            batch.resting[working.client_order_id] = updated

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
                    self._match(batch, working, outcome, self._clock.now(), arriving=False)
            if batch is None:
                return
            if batch.events:
                self._require_sink()
            self._commit(batch)

    # ----------------------------------------------------------- changes
    def _batch(self) -> Batch:
        return Batch(self._next_order_id, self._next_fill_id)

    def _view(self) -> VenueView:
        return VenueView(self._working, self._account, self._last, self._next_order_id,
                         self._next_fill_id)

    def _commit(self, batch: Batch) -> None:
        """Apply ``batch`` in memory, record it (one transaction with a store), then emit.

        If recording fails, the venue reloads its last committed state from the store and
        the error propagates: nothing of the batch is visible and none of its events left.
        """
        working_orders = self._working
        by_symbol = self._working_by_symbol
        for cid, working in batch.resting.items():
            if cid not in working_orders:
                by_symbol.setdefault(working.symbol, {})[cid] = None
            working_orders[cid] = working  # a known key keeps its place: matching order holds
        for cid in batch.closed:
            gone = working_orders.pop(cid, None)
            if gone is not None:
                same_symbol = by_symbol[gone.symbol]
                del same_symbol[cid]
                if not same_symbol:
                    del by_symbol[gone.symbol]
        account = self._account
        for fill in batch.fills:
            account.apply_fill(fill.symbol, fill.side, fill.fill_amount, fill.fill_price,
                               fill.commission)
        self._next_order_id, self._next_fill_id = batch.next_order_id, batch.next_fill_id
        try:
            self._ledger.record(batch, self._view())
        except BaseException:
            self._roll_back()
            raise
        emit = self._emit
        for event in batch.events:
            emit(event)

    def _roll_back(self) -> None:
        store = self._store
        if store is None:
            return  # memory only: recording cannot fail short of a bug; nothing to reload
        try:
            self._install(store.load())
        except StateError as exc:
            self._broken = exc
            _log.error("paper_store_unusable", directory=str(store.directory), error=str(exc))

    def _install(self, loaded: Loaded | None) -> None:
        if loaded is None:
            raise StateError("paper venue store lost its contents while in use")
        self._account = loaded.account
        self._working = loaded.working
        self._working_by_symbol = {}
        for cid, working in self._working.items():
            self._working_by_symbol.setdefault(working.symbol, {})[cid] = None
        self._next_order_id = loaded.header.next_order_id
        self._next_fill_id = loaded.header.next_fill_id

    def _emit(self, event: Event) -> None:
        sink = self._sink
        if sink is None:
            raise EngineStateError("paper broker used before connect()")
        sink(event)

    # ----------------------------------------------------------- queries
    def _mark_account(self) -> None:
        for symbol, event in list(self._last.items()):
            self._account.mark(symbol, event.price)

    def get_positions(self) -> Mapping[str, Decimal]:
        with self._lock:
            self._check_usable()
            snapshot = self._account.snapshot()
        return {s: p.quantity for s, p in snapshot.positions.items()}

    def get_open_orders(self) -> list[BrokerOrder]:
        with self._lock:
            self._check_usable()
            return [
                BrokerOrder(w.client_order_id, w.sim.order_id, w.request, w.sim.filled)
                for w in self._working.values()
            ]

    def get_order(self, client_order_id: str) -> PaperOrder | None:
        """The order with this client id, working or closed, or ``None`` if the venue does
        not know it (never accepted, or a closed order a venue without a store forgot).
        With a store this reads the disk for closed orders. Blocks."""
        with self._lock:
            self._check_usable()
            working = self._working.get(client_order_id)
            if working is not None:
                return working.view(PaperOrderStatus.WORKING)
            try:
                return self._ledger.closed_order(client_order_id)
            except StateError as exc:
                raise PermanentBrokerError(f"paper venue cannot read order "
                                           f"{client_order_id}: {exc.message}") from exc

    def get_fills(self, since: datetime) -> list[OrderFill]:
        """Fills emitted at or after ``since`` that the venue still keeps, oldest first.

        The newest ``fill_history`` fills are kept. Cost is proportional to the fills
        returned; with a store they are read from disk under the venue's lock, so keep
        ``since`` recent while trading. Blocks.
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        with self._lock:
            self._check_usable()
            try:
                return self._ledger.fills_since(since)
            except StateError as exc:
                raise PermanentBrokerError(f"paper venue cannot list its fills: "
                                           f"{exc.message}") from exc

    def get_account_info(self) -> AccountInfo:
        with self._lock:
            self._check_usable()
            self._mark_account()
            snapshot = self._account.snapshot()
        return AccountInfo(
            currency=self.config.currency,
            cash=snapshot.cash,
            equity=snapshot.equity,
            buying_power=snapshot.cash,
        )

    def subscribe_market_data(self, symbols: Iterable[str]) -> None:
        """The paper venue has no market data of its own: it watches the engine's feeds."""


def _quote(event: MarketData) -> Quote:
    # build(): one per order and per quote a working order sees (see livetrade.frozen).
    return build(Quote, price=event.price, volume=event.volume, open=event.open,
                 high=event.high, low=event.low)

