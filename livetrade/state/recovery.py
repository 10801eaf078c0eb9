"""Crash recovery: newest valid checkpoint, then the journal after it, then the broker.

Runs on the thread that starts the engine, before the dispatcher thread and the feeds start
and before ``strategy.on_start`` (so nothing else touches the book meanwhile)::

    1. load the newest checkpoint that validates (an invalid newest one is reported; the
       previous one is used only if ``fall_back_to_previous``; otherwise StateError)
    2. warn if it is older than ``stale_checkpoint_s``
    3. restore portfolio, orders, id sequence, strategy state (``set_state``)
    4. replay the journal written after it: intents become SUBMITTED orders whose outcome
       is unknown; acknowledgements, fills, cancels, expiries, rejects are re-applied
       (fill ids already booked are skipped, stale updates ignored)
    5. reconcile with the broker (open orders, fills since the checkpoint, positions, cash)
       under the configured policy, and store the report

Nothing is ever re-sent: an order whose intent is journaled is only ever looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from livetrade.brokers.base import BrokerAdapter
from livetrade.errors import BrokerError, StateError
from livetrade.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFill,
    OrderReject,
    Severity,
    SystemErrorEvent,
    trusted,
)
from livetrade.order_manager import OrderManager
from livetrade.order_records import request_from_dict
from livetrade.portfolio import Portfolio
from livetrade.risk import KillSwitch
from livetrade.state.corrections import apply_plan
from livetrade.state.manager import StateManager
from livetrade.state.reconcile import ReconciliationPlan, plan_reconciliation
from livetrade.state.records import JournalKind
from livetrade.strategy import Strategy

_log = structlog.get_logger("livetrade.recovery")

EVENT_KINDS: dict[type[Event], JournalKind] = {
    OrderAccepted: "ack",
    OrderFill: "fill",
    OrderCanceled: "canceled",
    OrderExpired: "expired",
    OrderReject: "rejected",
    OrderCancelRejected: "cancel_rejected",
}
_CLASSES: dict[str, type[Event]] = {kind: cls for cls, kind in EVENT_KINDS.items()}
_SNAPSHOT_ATTEMPTS = 5


@dataclass
class RecoveryReport:
    checkpoint: int | None = None
    checkpoint_age_s: float | None = None
    stale: bool = False
    fallback_problems: list[str] = field(default_factory=list)
    journal_entries_replayed: int = 0
    intents_restored: list[str] = field(default_factory=list)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    halted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class Recovery:
    """Restores one engine's book; see the module docstring."""

    def __init__(self, *, state: StateManager, portfolio: Portfolio, orders: OrderManager,
                 strategy: Strategy, broker: BrokerAdapter, publish: Callable[[Event], None],
                 apply_fill: Callable[[OrderFill], object], kill_switch: KillSwitch,
                 now: Callable[[], datetime]) -> None:
        self._state = state
        self._portfolio = portfolio
        self._orders = orders
        self._strategy = strategy
        self._broker = broker
        self._publish = publish
        self._apply_fill = apply_fill
        self._kill_switch = kill_switch
        self._now = now

    def _warn(self, error_type: str, message: str, severity: Severity = Severity.WARNING
              ) -> None:
        # Logged once, by the engine's system_error handler when the event is dispatched.
        self._publish(trusted(SystemErrorEvent, error_type=error_type, message=message,
                              severity=severity, source="recovery", timestamp=self._now(),
                              context={}))

    def run(self) -> RecoveryReport:
        """Restore, replay and reconcile. Raises ``StateError`` when it must not start."""
        report = RecoveryReport()
        settings = self._state.settings
        checkpoint, problems = self._state.store.latest_valid_checkpoint(
            fall_back=settings.fall_back_to_previous)
        report.fallback_problems = problems
        for problem in problems:
            self._warn("checkpoint_invalid", f"{problem}; using an older checkpoint")
        since: datetime | None = None
        if checkpoint is not None:
            report.checkpoint = checkpoint.number
            # Staleness is a wall-clock question (how long was the engine away?), even in a
            # replay whose engine clock is data time.
            age = (datetime.now(UTC) - checkpoint.written_at).total_seconds()
            report.checkpoint_age_s = age
            if age > settings.stale_checkpoint_s:
                report.stale = True
                self._warn("stale_checkpoint", f"checkpoint {checkpoint.number} is "
                           f"{age:.0f}s old (limit {settings.stale_checkpoint_s:.0f}s)")
            # Parse everything before changing anything: nothing is half-loaded.
            entries = self._state.journal_since(checkpoint.journal_sequence)
            portfolio = checkpoint.portfolio.model_dump()
            # A record's fields as they are (the dict order_from_dict reads): model_dump()
            # copies every field of every order through pydantic, ~0.1 ms each.
            orders = {"orders": [dict(vars(o)) for o in checkpoint.orders],
                      "prefix": checkpoint.order_id_prefix,
                      "next_sequence": checkpoint.next_order_sequence,
                      "recent_fill_ids": checkpoint.processed_fill_ids.get("recent", []),
                      "counters": dict(checkpoint.counters)}
            self._portfolio.restore_state(portfolio)
            self._orders.restore_state(orders)
            self._strategy.set_state(dict(checkpoint.strategy_state))
            since = checkpoint.created_at
        else:
            entries = self._state.journal_since(self._state.store.journal_first() - 1)
        for entry in entries:
            self._replay(entry.kind, entry.client_order_id, entry.data, report)
            since = entry.recorded_at if since is None else min(since, entry.recorded_at)
        report.journal_entries_replayed = len(entries)
        # A venue carrying a derived form of our ids maps its orders back with these.
        self._broker.learn_client_ids(o.client_order_id for o in self._orders.all_orders())
        plan = self._reconcile(since)
        report.reconciliation = plan.to_dict()
        report.halted = plan.halt
        self._state.store.save_report({"at": self._now().isoformat(), **report.to_dict()})
        _log.info("recovered", **{k: v for k, v in report.to_dict().items()
                                  if k != "reconciliation"},
                  differences=len(plan.differences))
        return report

    def _fills(self, start: datetime, failures: list[str]) -> list[OrderFill]:
        try:
            return list(self._broker.get_fills(start))
        except BrokerError as exc:
            failures.append(str(exc))
            return []

    def _replay(self, kind: str, cid: str, data: dict[str, Any], report: RecoveryReport) -> None:
        if kind == "intent":
            request = request_from_dict(data["request"])
            created = datetime.fromisoformat(data["created_at"])
            if self._orders.restore_intent(cid, request, created):
                report.intents_restored.append(cid)
            return
        cls = _CLASSES.get(kind)
        if cls is None:
            return  # cancel_request / sent: informational
        try:
            event = cls.model_validate(data["event"])
        except (KeyError, ValueError) as exc:
            raise StateError(f"journal entry for {cid} ({kind}) is unreadable: {exc}") from exc
        if isinstance(event, OrderFill):
            self._apply_fill(event)
        elif isinstance(event, OrderAccepted):
            self._orders.on_accepted(event)
        elif isinstance(event, OrderCanceled):
            self._orders.on_canceled(event)
        elif isinstance(event, OrderExpired):
            self._orders.on_expired(event)
        elif isinstance(event, OrderReject):
            self._orders.on_reject(event)
        elif isinstance(event, OrderCancelRejected):
            self._orders.on_cancel_rejected(event)

    def _reconcile(self, since: datetime | None) -> ReconciliationPlan:
        settings = self._state.settings
        broker = self._broker
        start = (since - timedelta(minutes=5)) if since else datetime(1970, 1, 1, tzinfo=UTC)
        try:
            # A venue keeps trading while we ask: a fill landing between the positions and
            # the fills query would be booked and then "corrected" away by adopting the
            # older position. So the snapshot is bracketed by two fills queries and taken
            # again (a few times at most) until no fill arrived in between.
            failures: list[str] = []
            broker_fills = self._fills(start, failures)
            for _attempt in range(_SNAPSHOT_ATTEMPTS):
                broker_open = broker.get_open_orders()
                broker_positions = broker.get_positions()
                broker_cash = broker.get_account_info().cash
                after = self._fills(start, failures)
                stable = {f.fill_id for f in after} == {f.fill_id for f in broker_fills}
                broker_fills = after
                if stable:
                    break
        except BrokerError as exc:
            raise StateError(f"cannot reconcile: the broker did not answer ({exc})",
                             hint="check the broker connection; nothing was changed") from exc
        if failures:
            self._warn("fills_unavailable", f"cannot list fills since {start}: {failures[0]}")
        book = self._portfolio.snapshot()
        plan = plan_reconciliation(
            policy=settings.reconcile_policy,
            local_open=self._orders.open_orders(),
            booked_fill_ids=self._orders.booked_fill_ids(),
            local_positions={s: p.quantity for s, p in book.positions.items()},
            local_cash=book.cash,
            broker_open=broker_open,
            broker_fills=broker_fills,
            broker_positions=broker_positions,
            broker_cash=broker_cash,
            cash_tolerance=settings.cash_tolerance,
        )
        apply_plan(plan, apply_fill=self._apply_fill, orders=self._orders,
                   portfolio=self._portfolio, kill_switch=self._kill_switch, warn=self._warn,
                   close_reason="not open at the broker after restart")
        return plan
