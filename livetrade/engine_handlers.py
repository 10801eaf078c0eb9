"""What the engine does with each event, and which handler the dispatcher calls for it.

Why apart from :mod:`livetrade.engine`: the engine's own job is the lifecycle (open a
session, start and stop threads in order, the three run modes); this module's is the
per-event bookkeeping that must happen before the strategy hears of an event, whatever the
mode:

* a fill is booked exactly once (order manager, then portfolio), and only a fill booked
  now reaches fill listeners and ``strategy.on_fill``;
* an order the venue accepts after the kill switch engaged is cancelled at once;
* in a replay (a data clock) time moves with the data, and scheduled triggers due up to a
  tick fire before the strategy sees it;
* system errors and feed errors are logged at their severity.

Everything runs on the dispatcher thread (or the caller's, in drive mode). Live market data
goes straight to ``Portfolio.on_market_data``: one Python call per tick, nothing of this
module on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from livetrade.brokers.base import BrokerAdapter
from livetrade.clock import ManualClock
from livetrade.dispatcher import Dispatcher
from livetrade.events import (
    FeedError,
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFill,
    OrderReject,
    ScheduledTrigger,
    Severity,
    SystemErrorEvent,
)
from livetrade.logs import enabled_for
from livetrade.order_manager import OrderManager
from livetrade.portfolio import Portfolio
from livetrade.risk import KillSwitch
from livetrade.scheduling.scheduler import TradingScheduler
from livetrade.state.binding import StateBinding
from livetrade.state.live_reconcile import BrokerSnapshot
from livetrade.strategy import Strategy

_log = structlog.get_logger("livetrade.engine")  # the engine's events, under its name

CallStrategy = Callable[[Callable[[], None], str], None]
"""``call(method, label)``: run a strategy callback outside the dispatcher, guarded."""


class EngineHandlers:
    """The engine's event handlers and their subscription order (module docstring).

    Built by the engine with the collaborators it wired; ``started`` says whether the
    strategy's ``on_start`` has run (fills found before it are the book it starts from).
    """

    def __init__(self, *, strategy: Strategy, broker: BrokerAdapter, orders: OrderManager,
                 portfolio: Portfolio, kill_switch: KillSwitch, scheduler: TradingScheduler,
                 data_clock: ManualClock | None, call_strategy: CallStrategy,
                 started: Callable[[], bool]) -> None:
        self._strategy = strategy
        self._broker = broker
        self._orders = orders
        self._portfolio = portfolio
        self._kill_switch = kill_switch
        self._scheduler = scheduler
        self._data_clock = data_clock
        self._call_strategy = call_strategy
        self._started = started
        self._schedule_changed = True
        self._next_trigger: datetime | None = None
        self._fill_was_new = False
        self._fill_listeners: list[Callable[[OrderFill], None]] = []

    def wire(self, d: Dispatcher, state: StateBinding | None,
             on_snapshot: Callable[[BrokerSnapshot], None]) -> None:
        """Subscribe every handler, in the order they must run for one event."""
        s = self._strategy
        if state is not None:
            state.wire(d)  # first: the journal records before memory changes
        if self._data_clock is None:  # live: a tick only marks the book
            d.subscribe(MarketData, self._portfolio.on_market_data, "engine.market_data")
        else:
            d.subscribe(MarketData, self._on_market_data, "engine.market_data")
        broker = self._broker
        if type(broker).on_market_data is not BrokerAdapter.on_market_data:
            d.subscribe(MarketData, broker.on_market_data, f"broker:{broker.name}")
        d.subscribe(MarketData, s.on_market_data, "strategy.on_market_data")
        d.subscribe(OrderFill, self._on_fill, "engine.fill")
        d.subscribe(OrderFill, self._strategy_on_fill, "strategy.on_fill")
        d.subscribe(OrderAccepted, self._on_accepted, "orders.accepted")
        d.subscribe(OrderCanceled, self._on_canceled, "orders.canceled")
        d.subscribe(OrderExpired, self._orders.on_expired, "orders.expired")
        d.subscribe(OrderCancelRejected, self._orders.on_cancel_rejected,
                    "orders.cancel_rejected")
        d.subscribe(OrderReject, self._orders.on_reject, "orders.reject")
        d.subscribe(OrderReject, s.on_reject, "strategy.on_reject")
        d.subscribe(BrokerSnapshot, on_snapshot, "engine.reconcile")
        d.subscribe(ScheduledTrigger, s.on_schedule, "strategy.on_schedule")
        for error_type in (SystemErrorEvent, FeedError):
            d.subscribe(error_type, self._on_system_error, "engine.system_error")
            d.subscribe(error_type, s.on_error, "strategy.on_error")

    def add_fill_listener(self, listener: Callable[[OrderFill], None]) -> None:
        """See :meth:`LiveTradingEngine.add_fill_listener`."""
        self._fill_listeners.append(listener)

    # ------------------------------------------------------------------ data time
    def _on_market_data(self, event: MarketData) -> None:
        """Replay (a data clock): time moves with the data, then the book is marked."""
        clock = self._data_clock
        assert clock is not None  # subscribed only with a data clock (see wire)
        if self._schedule_changed or (self._next_trigger is not None
                                      and event.timestamp >= self._next_trigger):
            self._run_scheduler_through(clock, event.timestamp)
        clock.advance_to(event.timestamp)
        self._portfolio.on_market_data(event)

    def on_schedule_change(self) -> None:
        """The strategy added or removed a job: look at the schedule again at the next tick."""
        self._schedule_changed = True

    def _run_scheduler_through(self, clock: ManualClock, until: datetime) -> None:
        """Data time: fire every trigger due up to this event, at its exact time.

        They are queued with a higher priority than market data, so the strategy gets
        them right after this event and before the next one.
        """
        self._schedule_changed = False
        self._scheduler.run_through(clock, until)
        self._next_trigger = self._scheduler.next_due()

    # ------------------------------------------------------------------ fills
    def book_fill(self, event: OrderFill) -> bool:
        """Order manager then portfolio; ``False`` for a fill id already booked."""
        if not self._orders.record_fill(event):
            _log.info("duplicate_fill_ignored", fill_id=event.fill_id,
                      client_order_id=event.client_order_id)
            return False
        self._portfolio.apply_fill(event.symbol, event.side, event.fill_amount,
                                   event.fill_price, event.commission,
                                   fee_in_kind=event.fee_in_kind)
        return True

    def _on_fill(self, event: OrderFill) -> None:
        self._fill_was_new = False
        if not self.book_fill(event):
            return
        self._fill_was_new = True
        for listener in self._fill_listeners:
            listener(event)
        if enabled_for("info"):  # filtered out, the call would still cost a bound logger
            _log.info("fill", client_order_id=event.client_order_id, symbol=event.symbol,
                      side=event.side.value, quantity=str(event.fill_amount),
                      price=str(event.fill_price), commission=str(event.commission))

    def _strategy_on_fill(self, event: OrderFill) -> None:
        if self._fill_was_new:
            self._strategy.on_fill(event)

    def reconciled_fill(self, event: OrderFill) -> None:
        """A fill found by live reconciliation: booked like any other, told to the strategy
        (not before ``on_start``: fills found while starting are the book it starts from)."""
        if self.book_fill(event) and self._started():
            for listener in self._fill_listeners:
                listener(event)
            strategy = self._strategy
            self._call_strategy(lambda: strategy.on_fill(event), "strategy.on_fill")

    # ------------------------------------------------------------------ order events, errors
    def _on_accepted(self, event: OrderAccepted) -> None:
        self._orders.on_accepted(event)
        if self._kill_switch.engaged:
            # The switch may have been engaged (from another thread) while this order was
            # on its way out: cancel it now that the venue has it.
            self._orders.cancel(event.client_order_id)

    def _on_canceled(self, event: OrderCanceled) -> None:
        self._orders.on_canceled(event)
        _log.info("order_canceled", client_order_id=event.client_order_id, reason=event.reason)

    def _on_system_error(self, event: SystemErrorEvent) -> None:
        level = "error" if event.severity in (Severity.ERROR, Severity.CRITICAL) else "warning"
        getattr(_log, level)("system_error", error_type=event.error_type, source=event.source,
                             message=event.message, severity=event.severity.value)
