"""What the paper venue answers about its account and orders, without changing anything.

:class:`PaperVenueQueries` is the read side of the venue: positions, open orders, one order
by client id, past fills and account money, each read under the venue's lock. They are the
"broker side" of a reconciliation and how an ambiguous submit is resolved, so they answer
from exactly the state that :meth:`~livetrade.brokers.paper_state.PaperVenueState._commit`
last applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from livetrade.brokers.base import AccountInfo, BrokerOrder
from livetrade.brokers.paper_ledger import PaperOrder, PaperOrderStatus
from livetrade.brokers.paper_state import PaperVenueState
from livetrade.errors import PermanentBrokerError, StateError
from livetrade.events import OrderFill

__all__ = ["PaperVenueQueries"]


class PaperVenueQueries(PaperVenueState):
    """The venue's account and order queries (the read side of ``BrokerAdapter``).

    Kept apart from order intake and matching, which change the venue; these only read it.
    """

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
