"""Executions -> ``OrderFill`` events: commission attached, each execution id once.

TWS sends an execution (execDetails) and its commission (commissionReport) as two
messages. An ``OrderFill`` carries both, so a fill waits here for its commission report
for up to ``commission_wait_s``; if none comes it leaves with commission 0 (and a later
report is logged, not re-emitted: the fill id is already booked). After a reconnect TWS
re-sends the day's executions; ids already emitted are dropped, so a fill never counts
twice even before the engine's own duplicate check. Loop-thread only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from livetrade.brokers.base import EventSink
from livetrade.brokers.ib.translate import commission_of, order_fill
from livetrade.clock import Clock
from livetrade.events import OrderFill, Severity, SystemErrorEvent

_log = structlog.get_logger("livetrade.brokers.ib")
SEEN_CAPACITY = 100_000  # far more executions than one TWS day holds


class FillRouter:
    """See the module docstring."""

    def __init__(self, sink: EventSink, clock: Clock, commission_wait_s: float,
                 symbol_of: Callable[[Any], str]) -> None:
        self._sink = sink
        self._clock = clock
        self._wait_s = commission_wait_s
        self._symbol_of = symbol_of
        self._pending: dict[str, tuple[Any, asyncio.TimerHandle]] = {}
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._emitted: deque[OrderFill] = deque(maxlen=SEEN_CAPACITY)
        self._filled: dict[str, Decimal] = {}
        self.duplicates_dropped = 0

    def on_execution(self, fill: Any) -> None:
        exec_id = fill.execution.execId
        if not fill.execution.orderRef:
            return  # not placed by livetrade (manual TWS order, another client's)
        if exec_id in self._seen or exec_id in self._pending:
            self.duplicates_dropped += 1
            return
        commission = commission_of(fill)
        if commission is not None:
            self._emit(fill, commission)
            return
        handle = asyncio.get_running_loop().call_later(self._wait_s, self._expire, exec_id)
        self._pending[exec_id] = (fill, handle)

    def on_commission(self, fill: Any) -> None:
        exec_id = fill.execution.execId
        entry = self._pending.pop(exec_id, None)
        if entry is None:
            if exec_id in self._seen:
                _log.info("ib_commission_for_booked_fill", exec_id=exec_id,
                             commission=str(commission_of(fill)))
            return
        entry[1].cancel()
        self._emit(fill, commission_of(fill) or Decimal(0))

    def replay(self, fills: Iterable[Any]) -> None:
        """Executions re-read after a (re)connect; only unseen ones become events."""
        for fill in fills:
            self.on_execution(fill)

    def absorb(self, fills: Iterable[Any]) -> None:
        """Executions from before this adapter started: remembered (for ``history`` and
        duplicate checks) but not emitted - the engine's restart reconciliation asks for
        them with ``get_fills`` and decides."""
        for fill in fills:
            exec_id = fill.execution.execId
            if not fill.execution.orderRef or exec_id in self._seen:
                continue
            self._remember(exec_id)
            try:
                self._emitted.append(order_fill(self._symbol_of(fill.contract), fill,
                                                commission_of(fill) or Decimal(0),
                                                self._clock.now()))
            except ValueError as exc:
                _log.error("ib_bad_execution", exec_id=exec_id, error=str(exc))

    def flush_all(self) -> None:
        """Emit every fill still waiting for its commission (on shutdown)."""
        for exec_id in list(self._pending):
            self._expire(exec_id)

    def _expire(self, exec_id: str) -> None:
        entry = self._pending.pop(exec_id, None)
        if entry is None:
            return
        entry[1].cancel()
        _log.warning("ib_commission_missing", exec_id=exec_id, waited_s=self._wait_s)
        self._emit(entry[0], Decimal(0))

    def _emit(self, fill: Any, commission: Decimal) -> None:
        exec_id = fill.execution.execId
        self._remember(exec_id)
        try:
            event = order_fill(self._symbol_of(fill.contract), fill, commission,
                               self._clock.now())
        except ValueError as exc:  # pydantic's ValidationError: TWS sent nonsense
            _log.error("ib_bad_execution", exec_id=exec_id, error=str(exc))
            self._sink(SystemErrorEvent(
                error_type="IBBadExecution", message=f"unusable execution {exec_id}: {exc}",
                severity=Severity.ERROR, source="broker:ib", timestamp=self._clock.now(),
                context={"exec_id": exec_id}))
            return
        cid = event.client_order_id
        self._filled[cid] = self._filled.get(cid, Decimal(0)) + event.fill_amount
        self._emitted.append(event)
        self._sink(event)

    def _remember(self, exec_id: str) -> None:
        self._seen.add(exec_id)
        self._seen_order.append(exec_id)
        if len(self._seen_order) > SEEN_CAPACITY:
            self._seen.discard(self._seen_order.popleft())

    def fully_filled(self, cid: str, quantity: Decimal) -> bool:
        return self._filled.get(cid, Decimal(0)) >= quantity

    def history(self, since: datetime) -> list[OrderFill]:
        return [f for f in self._emitted if f.timestamp >= since]

    @property
    def seen_count(self) -> int:
        return len(self._seen)

