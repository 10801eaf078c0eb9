"""The paper venue's memory and the one way it changes.

:class:`PaperVenueState` owns everything the venue knows (working orders, account, last
prices, id counters, its :class:`~livetrade.brokers.paper_ledger.Ledger` or store) and
applies a built :class:`~livetrade.brokers.paper_ledger.Batch` all or nothing: in memory,
recorded (with a store: one SQLite transaction), and only then emitted; if recording fails
it reloads the store's last committed state. Order intake and matching
(:class:`~livetrade.brokers.paper.PaperBroker`) only build batches; apart from the last
price per tick they never change the venue's state themselves. See
``livetrade.brokers.paper`` for the persistence contract.

A base class rather than a component the broker holds: the per-tick path reads
``_working_by_symbol`` and calls ``_commit`` on the broker itself, and a component would add
an attribute lookup per market-data event.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from livetrade.brokers.base import EventSink
from livetrade.brokers.paper_config import PaperBrokerConfig
from livetrade.brokers.paper_ledger import Batch, Ledger, MemoryLedger, VenueView, Working
from livetrade.brokers.paper_store import Loaded, VenueStore
from livetrade.clock import Clock, SystemClock
from livetrade.errors import EngineStateError, PermanentBrokerError, StateError
from livetrade.events import Event, MarketData
from livetrade.matching import FillModel
from livetrade.portfolio import Portfolio

__all__ = ["PaperVenueState"]

_log = structlog.get_logger("livetrade.brokers.paper")


class PaperVenueState:
    """The paper venue's state, its store, and the atomic change of both (``_commit``).

    Exists so that the broker's order and market-data code cannot leave the venue half
    changed: every change goes through :meth:`_commit`, under the caller's ``_lock``.
    The constructor's ``store_dir`` is described on
    :class:`~livetrade.brokers.paper.PaperBroker`.
    """

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
