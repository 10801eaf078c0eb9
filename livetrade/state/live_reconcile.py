"""Reconciliation while trading: periodically, on request, and when a broker comes back.

Why it is split in two halves: asking the broker blocks on the network, which must never
happen on the dispatcher thread; changing the book must happen *only* on the dispatcher
thread. So a worker thread takes a :class:`BrokerSnapshot` (open orders, positions, cash,
recent fills) and publishes it as an event; the dispatcher compares and corrects when the
snapshot's turn comes. Snapshots travel in the order-update lane, behind every fill and
order update published before them.

A live book is in motion, so the comparison leaves out what is legitimately in flight:

* orders that changed within ``grace_s`` before the snapshot started (a submit not yet
  acknowledged is not "missing at the broker"), and shadow orders (they never were at the
  live broker);
* fills are compared by id, so a fill the broker reports before its event reached us is
  booked once from the snapshot and its late event is dropped as a duplicate.

The policy is the ``[state]`` one (``adopt_broker`` | ``halt`` | ``warn``); a resume from
shadow mode always adopts the broker (that is what discarding the shadow book means).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import structlog
from pydantic import ConfigDict

from livetrade.brokers.base import BrokerAdapter, BrokerOrder
from livetrade.clock import Clock
from livetrade.errors import BrokerError
from livetrade.events import Event, OrderFill, Priority, Severity, SystemErrorEvent, trusted
from livetrade.order_manager import OrderManager
from livetrade.portfolio import Portfolio
from livetrade.risk import KillSwitch
from livetrade.state.corrections import apply_plan
from livetrade.state.reconcile import Difference, Policy, ReconciliationPlan, plan_reconciliation

_log = structlog.get_logger("livetrade.reconcile")


class BrokerSnapshot(Event):
    """Internal: the broker's view, taken off the dispatcher, compared on it."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    priority: ClassVar[int] = Priority.ORDER_UPDATE
    reason: str
    policy: str
    started_at: datetime
    open_orders: tuple[BrokerOrder, ...] = ()
    positions: dict[str, Decimal] = {}
    cash: Decimal | None = None
    fills: tuple[OrderFill, ...] = ()
    error: str = ""
    fills_ok: bool = True  # False: the venue would not list fills (positions not adopted)
    known_closed: frozenset[str] = frozenset()  # our open orders the venue has, closed
    quiet: bool = False  # taken before the engine trades: nothing of ours is in flight
    then: tuple[Callable[[bool], None], ...] = ()  # told (on the dispatcher) if it applied


@dataclass(frozen=True)
class LiveReconcileSettings:
    """``interval_s`` 0 means only on request. Durations in seconds."""

    interval_s: float = 0.0
    policy: Policy = "adopt_broker"
    cash_tolerance: Decimal = Decimal("0.01")
    grace_s: float = 30.0
    fills_lookback_s: float = 3600.0


class LiveReconciler:
    """Takes broker snapshots on its own thread and applies them on the dispatcher's."""

    def __init__(self, settings: LiveReconcileSettings, *, broker: BrokerAdapter,
                 orders: OrderManager, portfolio: Portfolio, kill_switch: KillSwitch,
                 apply_fill: Callable[[OrderFill], object], publish: Callable[[Event], None],
                 clock: Clock, paused: Callable[[], bool] = lambda: False) -> None:
        self.settings = settings
        self._broker = broker
        self._orders = orders
        self._portfolio = portfolio
        self._kill_switch = kill_switch
        self._apply_fill = apply_fill
        self._publish = publish
        self._clock = clock
        self._paused = paused
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._requests: list[tuple[str, Policy, Callable[[bool], None] | None]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last_report: dict[str, Any] | None = None

    # ------------------------------------------------------------------ worker side
    def request(self, reason: str, policy: Policy | None = None,
                then: Callable[[bool], None] | None = None) -> None:
        """Ask for a reconciliation soon (from any thread). Returns at once. ``then`` is
        called on the dispatcher thread with ``True`` once it has been applied (``False``
        if the broker did not answer)."""
        with self._lock:
            self._requests.append((reason, policy or self.settings.policy, then))
        self._wake.set()

    def snapshot(self, reason: str, policy: Policy | None = None, *, quiet: bool = False
                 ) -> BrokerSnapshot:
        """Ask the broker for its view. Blocks on the broker; never call on the dispatcher.
        ``quiet``: the engine is not trading yet (start-up), so nothing is in flight."""
        started = self._clock.now()
        chosen = policy or self.settings.policy
        try:
            open_orders = tuple(self._broker.get_open_orders())
            positions = dict(self._broker.get_positions())
            cash = self._broker.get_account_info().cash
            since = started - timedelta(seconds=self.settings.fills_lookback_s)
            fills_ok = True
            try:
                fills = tuple(self._broker.get_fills(since))
            except BrokerError as exc:
                _log.warning("reconcile_fills_unavailable", error=str(exc))
                fills, fills_ok = (), False
            known_closed = self._closed_at_venue(open_orders)
        except BrokerError as exc:
            return BrokerSnapshot(reason=reason, policy=chosen, started_at=started,
                                  error=f"{type(exc).__name__}: {exc}")
        return BrokerSnapshot(reason=reason, policy=chosen, started_at=started,
                              open_orders=open_orders, positions=positions, cash=cash,
                              fills=fills, fills_ok=fills_ok, known_closed=known_closed,
                              quiet=quiet)

    def _closed_at_venue(self, venue_open: tuple[BrokerOrder, ...]) -> frozenset[str]:
        """Our open orders the venue lists as not open but does know (filled or canceled
        a moment ago): their end is on its way as events, so they are not "missing"."""
        open_there = {o.client_order_id for o in venue_open}
        known: set[str] = set()
        for order in self._orders.open_orders():
            if order.shadow or order.client_order_id in open_there:
                continue
            try:
                if self._broker.get_order(order.client_order_id) is not None:
                    known.add(order.client_order_id)
            except BrokerError as exc:  # cannot tell: treat it as known, close nothing
                _log.info("reconcile_lookup_failed", client_order_id=order.client_order_id,
                          error=str(exc))
                known.add(order.client_order_id)
        return frozenset(known)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="livetrade-reconcile")
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        interval = self.settings.interval_s or None
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                pending, self._requests = self._requests, []
            if not pending:  # the interval passed with no request
                if self._paused():
                    continue  # shadow mode: the live broker is down and the book is shadow
                pending = [("periodic", self.settings.policy, None)]
            # A burst of requests costs one snapshot; if any asked for adopt_broker (a
            # resume from shadow), adopt: dropping that would keep the shadow book.
            policies = [policy for _, policy, _ in pending]
            policy: Policy = "adopt_broker" if "adopt_broker" in policies else policies[-1]
            reason = "; ".join(dict.fromkeys(r for r, _, _ in pending))
            snapshot = self.snapshot(reason, policy)
            callbacks = tuple(t for _, _, t in pending if t is not None)
            self._publish(snapshot.model_copy(update={"then": callbacks}))

    # ------------------------------------------------------------------ dispatcher side
    def on_snapshot(self, snapshot: BrokerSnapshot) -> None:
        """Compare and correct. Runs on the dispatcher thread."""
        try:
            self._reconcile(snapshot)
        finally:
            self.runs += 1
            for then in snapshot.then:
                then(not snapshot.error)

    def _reconcile(self, snapshot: BrokerSnapshot) -> None:
        if snapshot.error:
            self._warn("reconciliation_failed", f"{snapshot.reason}: the broker did not "
                       f"answer ({snapshot.error}); nothing was changed", Severity.ERROR)
            self.last_report = {"reason": snapshot.reason, "error": snapshot.error,
                                "at": snapshot.started_at.isoformat()}
            return
        settled_before = snapshot.started_at - timedelta(seconds=self.settings.grace_s)
        local_open = [o for o in self._orders.open_orders()
                      if not o.shadow and o.updated_at <= settled_before]
        # Every order we know that changed inside the grace window (opened, filled, closed
        # while this snapshot was in flight) is compared next time: the snapshot may show
        # it as it was (a fill we booked after it was taken would re-adopt the order).
        in_flight = {o.client_order_id for o in self._orders.all_orders()
                     if o.shadow or o.updated_at > settled_before}
        broker_open = [o for o in snapshot.open_orders if o.client_order_id not in in_flight]
        book = self._portfolio.snapshot()
        policy: Policy = "adopt_broker" if snapshot.policy == "adopt_broker" else (
            "halt" if snapshot.policy == "halt" else "warn")
        plan = plan_reconciliation(
            policy=policy, local_open=local_open,
            booked_fill_ids=self._orders.booked_fill_ids(),
            local_positions={s: p.quantity for s, p in book.positions.items()},
            local_cash=book.cash, broker_open=broker_open, broker_fills=snapshot.fills,
            broker_positions=snapshot.positions, broker_cash=snapshot.cash,
            cash_tolerance=self.settings.cash_tolerance)
        if not snapshot.quiet:
            plan = self._without_in_flight(plan, snapshot, settled_before)
        apply_plan(plan, apply_fill=self._apply_fill, orders=self._orders,
                   portfolio=self._portfolio, kill_switch=self._kill_switch, warn=self._warn,
                   close_reason=f"not open at the broker ({snapshot.reason} reconciliation)")
        self.last_report = {"reason": snapshot.reason, "at": snapshot.started_at.isoformat(),
                            **plan.to_dict()}
        _log.info("reconciled", reason=snapshot.reason, policy=policy,
                  differences=len(plan.differences), halted=plan.halt)

    def _without_in_flight(self, plan: ReconciliationPlan, snapshot: BrokerSnapshot,
                           settled_before: datetime) -> ReconciliationPlan:
        """Drop what a live book legitimately shows in motion: position and cash
        differences on symbols with fills or order changes inside the grace window (the
        snapshot's parts were read one after another; the next run settles them), all
        position and cash adoption when the venue would not list fills, and "missing"
        orders the venue does know (closed a moment ago)."""
        moving = {f.symbol for f in snapshot.fills if f.timestamp > settled_before}
        moving |= {o.symbol for o in self._orders.all_orders()
                   if o.updated_at > settled_before}
        trust_book = snapshot.fills_ok and not moving

        def kept(d: Difference) -> bool:
            if d.kind == "position_mismatch":
                return snapshot.fills_ok and d.symbol not in moving
            if d.kind == "cash_mismatch":
                return trust_book
            if d.kind == "order_missing_at_broker":
                return d.client_order_id not in snapshot.known_closed
            return True

        differences = tuple(d for d in plan.differences if kept(d))
        fixes = plan.corrections
        fixes = replace(
            fixes,
            orders_to_close=tuple(c for c in fixes.orders_to_close
                                  if c not in snapshot.known_closed),
            positions_to_set={s: q for s, q in fixes.positions_to_set.items()
                              if snapshot.fills_ok and s not in moving},
            cash_to_set=fixes.cash_to_set if trust_book else None)
        skipped = len(plan.differences) - len(differences)
        if skipped:
            _log.info("reconcile_in_flight_skipped", differences=skipped,
                      symbols=sorted(moving), fills_listed=snapshot.fills_ok)
        return replace(plan, differences=differences, corrections=fixes,
                       halt=plan.policy == "halt" and bool(differences))

    def _warn(self, error_type: str, message: str, severity: Severity) -> None:
        self._publish(trusted(SystemErrorEvent, error_type=error_type, message=message,
                              severity=severity, source="reconciliation",
                              timestamp=self._clock.now(), context={}))
