"""Faults at the adapter boundary around a real paper venue, shared by the resilience tests."""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal

from livetrade.brokers.base import AccountInfo
from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.brokers.paper_ledger import PaperOrder
from livetrade.clock import SystemClock
from livetrade.errors import TransientBrokerError
from livetrade.events import Event
from livetrade.orders import OrderRequest


class FlakyVenue(PaperBroker):
    """A paper venue whose next calls can be told to fail.

    ``lose_answers``: the next N submits are executed, then raise a timeout (the dropped
    response). ``refuse``: the next N submits raise a 503 without executing.
    ``lookups_fail``: the next N ``get_order`` calls raise a transient error.
    ``hang_s``: every query sleeps this long first. ``muted``: the venue's events are
    lost (a dropped stream). ``down``: every call raises a
    connection error without reaching the venue (an outage).
    """

    def __init__(self) -> None:
        super().__init__(PaperBrokerConfig(initial_cash=Decimal(100_000)), SystemClock())
        self.lose_answers = 0
        self.refuse = 0
        self.lookups_fail = 0
        self.hang_s = 0.0
        self.down = False
        self.muted = False
        self.submits: list[str] = []

    def _emit(self, event: Event) -> None:
        if not self.muted:  # muted: the venue acts, but its events are lost on the way
            super()._emit(event)

    def _outage(self) -> None:
        if self.down:
            raise TransientBrokerError("connection refused")

    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        self._outage()
        self.submits.append(client_order_id)
        if self.refuse:
            self.refuse -= 1
            raise TransientBrokerError("503 service unavailable")
        super().submit_order(client_order_id, request)
        if self.lose_answers:
            self.lose_answers -= 1
            raise TransientBrokerError("read timed out")

    def get_order(self, client_order_id: str) -> PaperOrder | None:
        self._outage()
        if self.lookups_fail:
            self.lookups_fail -= 1
            raise TransientBrokerError("lookup timed out")
        return super().get_order(client_order_id)

    def get_positions(self) -> Mapping[str, Decimal]:
        self._outage()
        time.sleep(self.hang_s)
        return super().get_positions()

    def get_account_info(self) -> AccountInfo:
        self._outage()
        time.sleep(self.hang_s)
        return super().get_account_info()
