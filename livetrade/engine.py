"""LiveTradingEngine: wires dispatcher, order manager, portfolio, broker, feeds and strategy.

Everything is injected through the constructor (clock, broker, feeds, strategy, settings),
so a script, a test and a legacy backtest loop build the same engine differently. Three ways
to run it:

* ``run_forever()`` — for scripts and supervisord: threads start, SIGINT/SIGTERM (or
  ``duration_s``, or every feed reaching its end) stop it gracefully within
  ``stop_timeout_s``.
* ``start()`` / ``stop()`` — for embedding: ``start`` returns at once, ``stop`` joins.
* ``start_sync()`` / ``process(event)`` / ``stop_sync()`` — the synchronous drive mode for
  legacy loops: no background thread at all; each ``process`` call handles the event and
  everything it causes (orders, fills) in the caller's thread before returning.
  Needs an ``inline`` broker (the paper broker) and no feeds.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from types import FrameType
from typing import TYPE_CHECKING, ClassVar, Literal

import structlog

from livetrade.brokers.base import BrokerAdapter
from livetrade.brokers.executor import BrokerExecutor, InlineRouter
from livetrade.brokers.paper import PaperBroker
from livetrade.clock import Clock, ManualClock, SystemClock
from livetrade.dispatcher import Dispatcher
from livetrade.engine_types import EngineSettings, EngineStatus, StopReport
from livetrade.errors import EngineStateError, TransientBrokerError
from livetrade.events import (
    Event,
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
from livetrade.feeds.base import DataFeed
from livetrade.gc_tuning import GcTuning
from livetrade.logs import enabled_for, flush_logs
from livetrade.order_manager import OrderManager, OrderRouter
from livetrade.orders import ClientOrderIdGenerator, run_prefix
from livetrade.portfolio import Portfolio
from livetrade.resilience.guarded import ResilientBroker
from livetrade.resilience.shadow import Mode, ShadowingBroker
from livetrade.risk import KillSwitch, RiskChecker, RiskLimits
from livetrade.scheduling.facade import StrategySchedule
from livetrade.scheduling.scheduler import TradingScheduler
from livetrade.state.binding import StateBinding
from livetrade.state.live_reconcile import BrokerSnapshot, LiveReconciler, LiveReconcileSettings
from livetrade.state.manager import StateManager
from livetrade.state.recovery import RecoveryReport
from livetrade.strategy import Strategy, StrategyContext
from livetrade.switch_interval import SwitchInterval

if TYPE_CHECKING:
    from livetrade.monitoring.monitor import EngineMonitor

__all__ = ["EngineSettings", "EngineStatus", "LiveTradingEngine", "StopReport"]

_log = structlog.get_logger("livetrade.engine")
State = Literal["new", "running", "running_sync", "stopped"]


class LiveTradingEngine:
    """The engine. See the module docstring for the three ways to run it."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        broker: BrokerAdapter | None = None,
        feeds: Sequence[DataFeed] = (),
        clock: Clock | None = None,
        settings: EngineSettings | None = None,
        risk_limits: RiskLimits | None = None,
        order_ids: ClientOrderIdGenerator | None = None,
        scheduler: TradingScheduler | None = None,
        state: StateManager | None = None,
        monitor: EngineMonitor | None = None,
    ) -> None:
        self.settings = settings or EngineSettings()
        self.clock: Clock = clock or SystemClock()
        self._data_clock = self.clock if isinstance(self.clock, ManualClock) else None
        self._gc_tuned = False
        self._switching_tuned = False
        self.broker: BrokerAdapter = broker or PaperBroker(clock=self.clock)
        self.feeds = tuple(feeds)
        self.strategy = strategy
        cash = self.settings.initial_cash
        if cash is None:
            cash = (self.broker.config.initial_cash if isinstance(self.broker, PaperBroker)
                    else Decimal(100_000))
        self.portfolio = Portfolio(cash)
        self.dispatcher = Dispatcher(
            market_data_policy=self.settings.market_data_policy,
            conflate_depth=self.settings.conflate_depth,
            max_pending_market_data=self.settings.max_pending_market_data,
            clock=self.clock.now,
        )
        self.kill_switch = KillSwitch()
        self.risk = RiskChecker(risk_limits or RiskLimits(), self.clock, self.kill_switch)
        self.orders = OrderManager(
            clock=self.clock,
            publish=self.dispatcher.publish,
            risk=self.risk,
            position_of=self.portfolio.position,
            price_of=self.portfolio.last_price,
            ids=order_ids or ClientOrderIdGenerator(run_prefix()),
            closed_capacity=self.settings.closed_orders_kept,
        )
        self.scheduler = scheduler or TradingScheduler(self.clock, self.dispatcher.publish)
        self._schedule_changed = True
        self._next_trigger: datetime | None = None
        self.context = StrategyContext(
            self.orders, self.portfolio, self.clock,
            StrategySchedule(self.scheduler, self._on_schedule_change))
        self.state = state
        self._state_binding = (StateBinding(state, self.strategy, self.portfolio, self.orders)
                               if state is not None else None)
        self.recovery: RecoveryReport | None = None
        self._executor: BrokerExecutor | None = None
        self._state: State = "new"
        self._started_at = 0.0
        self._fill_was_new = False
        self._fill_listeners: list[Callable[[OrderFill], None]] = []
        self._stop_requested = threading.Event()
        self._signal: int | None = None
        self.reconciler = LiveReconciler(
            LiveReconcileSettings(interval_s=self.settings.reconcile_interval_s,
                                  policy=self.settings.reconcile_policy,
                                  cash_tolerance=self.settings.cash_tolerance,
                                  grace_s=self.settings.reconcile_grace_s),
            broker=self.broker, orders=self.orders, portfolio=self.portfolio,
            kill_switch=self.kill_switch, apply_fill=self._reconciled_fill,
            publish=self.dispatcher.publish, clock=self.clock,
            paused=lambda: self.mode == Mode.SHADOW)
        if isinstance(self.broker, ShadowingBroker):
            self.broker.on_resume = lambda reason, done: self.reconciler.request(
                f"resume: {reason}", "adopt_broker", then=done)
        self._wire()
        # Optional: metrics, hooks, alerts, health endpoint. Subscribes after the engine's
        # own handlers; started first and stopped last, so it sees the whole run.
        self.monitor = monitor
        if monitor is not None:
            monitor.attach(self)
            live = self.broker.live if isinstance(self.broker, ShadowingBroker) else self.broker
            if isinstance(live, ResilientBroker):
                live.observer = monitor  # request latency, errors and retries per operation
            if state is not None:
                state.on_written = monitor.checkpoint_written

    def _route(self, router: OrderRouter) -> OrderRouter:
        return self.monitor.wrap_router(router) if self.monitor is not None else router

    # ------------------------------------------------------------------ wiring
    def _wire(self) -> None:
        d = self.dispatcher
        s = self.strategy
        if self._state_binding is not None:
            self._state_binding.wire(d)  # first: the journal records before memory changes
        if self._data_clock is None:  # live: a tick only marks the book
            d.subscribe(MarketData, self.portfolio.on_market_data, "engine.market_data")
        else:
            d.subscribe(MarketData, self._on_market_data, "engine.market_data")
        if type(self.broker).on_market_data is not BrokerAdapter.on_market_data:
            d.subscribe(MarketData, self.broker.on_market_data, f"broker:{self.broker.name}")
        d.subscribe(MarketData, s.on_market_data, "strategy.on_market_data")
        d.subscribe(OrderFill, self._on_fill, "engine.fill")
        d.subscribe(OrderFill, self._strategy_on_fill, "strategy.on_fill")
        d.subscribe(OrderAccepted, self._on_accepted, "orders.accepted")
        d.subscribe(OrderCanceled, self._on_canceled, "orders.canceled")
        d.subscribe(OrderExpired, self.orders.on_expired, "orders.expired")
        d.subscribe(OrderCancelRejected, self.orders.on_cancel_rejected, "orders.cancel_rejected")
        d.subscribe(OrderReject, self.orders.on_reject, "orders.reject")
        d.subscribe(OrderReject, s.on_reject, "strategy.on_reject")
        d.subscribe(BrokerSnapshot, self.reconciler.on_snapshot, "engine.reconcile")
        d.subscribe(ScheduledTrigger, s.on_schedule, "strategy.on_schedule")
        for error_type in (SystemErrorEvent, FeedError):
            d.subscribe(error_type, self._on_system_error, "engine.system_error")
            d.subscribe(error_type, s.on_error, "strategy.on_error")

    def _on_market_data(self, event: MarketData) -> None:
        """Replay (a data clock): time moves with the data, then the book is marked."""
        clock = self._data_clock
        assert clock is not None  # subscribed only with a data clock (see _wire)
        if self._schedule_changed or (self._next_trigger is not None
                                      and event.timestamp >= self._next_trigger):
            self._run_scheduler_through(clock, event.timestamp)
        clock.advance_to(event.timestamp)
        self.portfolio.on_market_data(event)

    def checkpoint(self, reason: str = "requested") -> None:
        """Write a checkpoint now. Call with the dispatcher stopped or in drive mode. Blocks."""
        if self._state_binding is None:
            raise EngineStateError("this engine has no state store")
        if self.dispatcher.running:
            raise EngineStateError("checkpoint() while the dispatcher runs: it checkpoints "
                                   "by itself; use stop() for a final one")
        self._state_binding.checkpoint(reason)

    def _on_schedule_change(self) -> None:
        self._schedule_changed = True

    def _run_scheduler_through(self, clock: ManualClock, until: datetime) -> None:
        """Data time: fire every trigger due up to this event, at its exact time.

        They are queued with a higher priority than market data, so the strategy gets
        them right after this event and before the next one.
        """
        self._schedule_changed = False
        self.scheduler.run_through(clock, until)
        self._next_trigger = self.scheduler.next_due()

    def _book_fill(self, event: OrderFill) -> bool:
        """Order manager then portfolio; ``False`` for a fill id already booked."""
        if not self.orders.record_fill(event):
            _log.info("duplicate_fill_ignored", fill_id=event.fill_id,
                      client_order_id=event.client_order_id)
            return False
        self.portfolio.apply_fill(event.symbol, event.side, event.fill_amount,
                                  event.fill_price, event.commission,
                                  fee_in_kind=event.fee_in_kind)
        return True

    def _on_fill(self, event: OrderFill) -> None:
        self._fill_was_new = False
        if not self._book_fill(event):
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
            self.strategy.on_fill(event)

    def _reconciled_fill(self, event: OrderFill) -> None:
        """A fill found by live reconciliation: booked like any other, told to the strategy
        (not before ``on_start``: fills found while starting are the book it starts from)."""
        if self._book_fill(event) and self._state != "new":
            for listener in self._fill_listeners:
                listener(event)
            self._call_strategy(lambda: self.strategy.on_fill(event), "strategy.on_fill")

    def _on_accepted(self, event: OrderAccepted) -> None:
        self.orders.on_accepted(event)
        if self.kill_switch.engaged:
            # The switch may have been engaged (from another thread) while this order was
            # on its way out: cancel it now that the venue has it.
            self.orders.cancel(event.client_order_id)

    def _on_canceled(self, event: OrderCanceled) -> None:
        self.orders.on_canceled(event)
        _log.info("order_canceled", client_order_id=event.client_order_id, reason=event.reason)

    def _on_system_error(self, event: SystemErrorEvent) -> None:
        level = "error" if event.severity in (Severity.ERROR, Severity.CRITICAL) else "warning"
        getattr(_log, level)("system_error", error_type=event.error_type, source=event.source,
                             message=event.message, severity=event.severity.value)

    def add_fill_listener(self, listener: Callable[[OrderFill], None]) -> None:
        """Call ``listener(fill)`` on the dispatcher thread for every fill booked (once per
        fill id, after the portfolio includes it). Add before starting."""
        self._fill_listeners.append(listener)

    # ------------------------------------------------------------------ producing
    def publish(self, event: Event) -> None:
        """Hand an event to the engine from any thread (a custom feed, a scheduler)."""
        self.dispatcher.publish(event)

    # ------------------------------------------------------------------ threaded mode
    def start(self) -> None:
        """Connect, start the strategy, the dispatcher, the broker thread and the feeds.

        Returns at once; the engine runs on its own threads until :meth:`stop`.
        """
        self._require("new")
        if self.monitor is not None:
            self.monitor.start()
        self._open_session_or_clean_up()
        if not self.broker.inline:
            self._executor = BrokerExecutor(self.broker, self.dispatcher.publish, self.clock)
            self._executor.start()
            self.orders.attach_router(self._route(self._executor))
        self._call_strategy(self.strategy.on_start, "strategy.on_start")
        self.dispatcher.run_pending()
        self.dispatcher.start()
        if self._state_binding is not None:
            self._state_binding.start(self.dispatcher.publish)
        if self._data_clock is None:
            self.scheduler.start()  # wall time: its own thread; data time: driven by the data
        for feed in self.feeds:
            feed.start(self.dispatcher.publish)
        if not self.broker.inline:
            self.reconciler.start()
        self._tune_gc()
        self._tune_switching()
        self._state = "running"
        _log.info("engine_started", broker=self.broker.name, feeds=[f.name for f in self.feeds])

    def stop(self) -> StopReport:
        """Stop feeds, drain the queue, run ``on_stop``, stop the broker thread. Blocks.

        Bounded by ``settings.stop_timeout_s`` per stage; whatever could not be delivered
        is logged and returned in the report.
        """
        if self._state != "running":
            raise EngineStateError(f"stop() in state {self._state}")
        try:
            return self._stop_threads()
        finally:  # a stage that raised must not leave the process tuned for an engine
            self._release_process_settings()

    def _stop_threads(self) -> StopReport:
        timeout = self.settings.stop_timeout_s
        self._wake_broker_retries()
        self.reconciler.stop(timeout)
        for feed in self.feeds:
            feed.stop()
        for feed in self.feeds:
            if not feed.join(timeout):
                _log.warning("feed_did_not_stop", feed=feed.name, timeout_s=timeout)
        if self._state_binding is not None:
            self._state_binding.stop_requests(timeout)  # no new checkpoint during the drain
        if self.scheduler.running:
            self.scheduler.stop()
            if not self.scheduler.join(timeout):
                _log.warning("scheduler_did_not_stop", timeout_s=timeout)
        undelivered = list(self.dispatcher.stop(drain=True, timeout_s=timeout))
        # The dispatcher thread is gone: this thread is now the only consumer, so strategy
        # callbacks and late broker answers are handled here, in order.
        self.dispatcher.run_pending()
        self._call_strategy(self.strategy.on_stop, "strategy.on_stop")
        self.dispatcher.run_pending()
        clean = not undelivered
        if self._executor is not None:
            # Finish the broker thread's queued requests, then handle their answers.
            clean = self._executor.stop(timeout) and clean
            self._executor = None
            self.dispatcher.run_pending()
        undelivered.extend(self.dispatcher.collect_undelivered())
        if self._state_binding is not None:
            self._state_binding.stop(timeout)  # finishes queued writes, then the final one
        try:
            return self._close_session(undelivered, clean and not undelivered)
        finally:
            self._release_state_directory()

    def request_stop(self) -> None:
        """Ask ``run_forever`` to stop (safe from any thread and from signal handlers)."""
        self._stop_requested.set()

    def run_forever(
        self,
        duration_s: float | None = None,
        *,
        on_status: Callable[[EngineStatus], None] | None = None,
        status_interval_s: float = 1.0,
        stop_when_feeds_done: bool = True,
    ) -> StopReport:
        """Run until SIGINT/SIGTERM, ``duration_s``, or the end of every feed. Blocks.

        Whatever ends the run (a signal, the deadline, the feeds, a failing ``on_status``,
        a dead dispatcher), ``stop()`` runs. Signal handlers are installed only from the
        main thread and restored before returning; during the graceful stop a second
        SIGINT/SIGTERM exits at once (status 128 + signal): the journal and the last
        checkpoint make that safe, and it is the operator's way to bound a stuck stop.
        """
        if duration_s is not None and duration_s < 0:
            raise ValueError("duration_s must be >= 0")
        main = threading.current_thread() is threading.main_thread()
        previous: dict[int, object] = {}
        if main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            self.start()
            try:
                self._wait(duration_s, on_status, status_interval_s, stop_when_feeds_done)
            finally:
                if main:
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        signal.signal(sig, _force_exit)
                report = self.stop()
            return report
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]

    def _wait(self, duration_s: float | None, on_status: Callable[[EngineStatus], None] | None,
              status_interval_s: float, stop_when_feeds_done: bool) -> None:
        deadline = None if duration_s is None else time.monotonic() + duration_s
        next_status = time.monotonic() + status_interval_s
        while not self._stop_requested.wait(0.02):
            now = time.monotonic()
            if not self.dispatcher.running:
                _log.error("dispatcher_stopped_unexpectedly")
                break
            if on_status is not None and now >= next_status:
                next_status += status_interval_s
                try:
                    on_status(self.status())
                except Exception as exc:  # noqa: BLE001 - a status sink must not kill trading
                    _log.error("status_callback_failed", error=f"{type(exc).__name__}: {exc}")
                    on_status = None
            if deadline is not None and now >= deadline:
                break
            if (stop_when_feeds_done and self.feeds and all(f.finished for f in self.feeds)
                    and self.dispatcher.queue_depth == 0):
                break
        if self._signal is not None:
            _log.info("stop_signal", signal=signal.Signals(self._signal).name)
        if stop_when_feeds_done and self.feeds and all(f.finished for f in self.feeds):
            self.wait_until_idle()

    def wait_until_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until the queue is empty (or ``timeout_s``); ``True`` if it emptied."""
        deadline = time.monotonic() + timeout_s
        while self.dispatcher.queue_depth > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only set flags here: logging from a signal handler can deadlock on the logger's
        # own lock if the signal lands while the main thread is writing a log line.
        self._signal = signum
        self._stop_requested.set()

    # ------------------------------------------------------------------ synchronous drive mode
    def start_sync(self) -> None:
        """Start without any thread, for a caller that drives the engine with ``process``."""
        self._require("new")
        if not self.broker.inline:
            raise EngineStateError("synchronous mode needs an inline broker (the paper broker)")
        if self.feeds:
            raise EngineStateError("synchronous mode takes no feeds: the caller pushes events")
        # Each process() drains the queue, so nothing may be conflated (events would be
        # lost) or gated (the caller's own thread would block on itself).
        self.dispatcher.use_unbounded()
        if self.monitor is not None:
            self.monitor.start()
        self._open_session_or_clean_up()
        self._call_strategy(self.strategy.on_start, "strategy.on_start")
        self._tune_gc()
        self._state = "running_sync"
        self.dispatcher.run_pending()

    def process(self, *events: Event) -> int:
        """Handle ``events`` and everything they cause, in this thread; return the count."""
        self._require("running_sync")
        if self._data_clock is None:
            self.scheduler.run_pending()  # wall time, no thread: look whenever we are driven
        for event in events:
            self.dispatcher.publish(event)
        return self.dispatcher.run_pending()

    def stop_sync(self) -> StopReport:
        self._require("running_sync")
        self.dispatcher.run_pending()
        self._call_strategy(self.strategy.on_stop, "strategy.on_stop")
        self.dispatcher.run_pending()
        if self._state_binding is not None:
            self._state_binding.final_checkpoint()
        try:
            return self._close_session([], True)
        finally:
            self._release_state_directory()

    def _release_state_directory(self) -> None:
        """Last step of a stop (and of a start that failed): another process may now take
        the state directory. After the run marker is removed and every checkpoint written,
        so nothing of this engine's touches the directory afterwards."""
        if self._state_binding is not None:
            self._state_binding.release_directory()

    # ------------------------------------------------------------------ shared lifecycle
    def _wake_broker_retries(self) -> None:
        """A retry sleeping up to 16 s must not hold the stop: set the guard's shutdown
        event first, so sleeping retries end at once (their orders stay SUBMITTED and are
        settled by the next start's reconciliation)."""
        live = self.broker.live if isinstance(self.broker, ShadowingBroker) else self.broker
        if isinstance(live, ResilientBroker):
            live.shutdown.set()

    def _open_session_or_clean_up(self) -> None:
        """Open the session; if that fails (recovery refused, broker down), stop what was
        started for it — the monitor's threads and marker — before the error goes up."""
        try:
            self._open_session()
        except BaseException:
            try:
                if self.monitor is not None:
                    self.monitor.stop(self.settings.stop_timeout_s)
            finally:
                self._release_state_directory()
            raise

    def _open_session(self) -> None:
        self._started_at = time.monotonic()
        self.broker.connect(self.dispatcher.publish)
        self.orders.attach_router(self._route(InlineRouter(self.broker)))
        self.strategy.bind(self.context)
        if self._state_binding is not None:
            self._state_binding.reclaim_directory()  # given up if an earlier start failed
            # Before on_start, the feeds and the dispatcher thread: nothing else runs yet.
            self.recovery = self._state_binding.recover(
                broker=self.broker, publish=self.dispatcher.publish,
                apply_fill=self._book_fill, kill_switch=self.kill_switch, now=self.clock.now)
        elif not isinstance(self.broker, PaperBroker) and self.settings.initial_cash is None:
            # A real account already holds cash and positions: start from them, not from a
            # made-up balance. (With state, recovery's reconciliation does this.) A broker
            # that does not answer means no start: trading on an invented book is worse.
            snapshot = self.reconciler.snapshot("start", "adopt_broker", quiet=True)
            if snapshot.error:
                raise TransientBrokerError(
                    f"cannot start: {self.broker.name} did not answer the start-up account "
                    f"query ({snapshot.error}); nothing was traded",
                    hint="check the broker connection and credentials, then start again")
            self.reconciler.on_snapshot(snapshot)

    def _tune_gc(self) -> None:
        """The collector set for an event engine while this one runs (``gc_tuning.py``)."""
        if self.settings.gc_tuning and not self._gc_tuned:
            GcTuning.acquire()
            self._gc_tuned = True

    def _tune_switching(self) -> None:
        """The GIL handed over more often while this engine's threads run, so urgent events
        wait less behind busy feed threads (``switch_interval.py``); threaded mode only."""
        interval = self.settings.switch_interval_s
        if interval > 0 and not self._switching_tuned:
            SwitchInterval.acquire(interval)
            self._switching_tuned = True

    def _release_process_settings(self) -> None:
        """Hand back what :meth:`_tune_gc` and :meth:`_tune_switching` took (idempotent)."""
        if self._switching_tuned:
            self._switching_tuned = False
            SwitchInterval.release()
        if self._gc_tuned:
            self._gc_tuned = False
            GcTuning.release()

    def _close_session(self, undelivered: list[Event], clean: bool) -> StopReport:
        try:
            self.broker.disconnect()
            if self.monitor is not None:
                self.monitor.stop(self.settings.stop_timeout_s)
        finally:
            self._release_process_settings()
        self._state = "stopped"
        report = StopReport(tuple(undelivered), self.orders.stats().open, clean)
        _log.info("engine_stopped", undelivered=len(undelivered), open_orders=report.open_orders,
                  clean=clean)
        return report

    def _call_strategy(self, method: Callable[[], None], label: str) -> None:
        try:
            method()
        except Exception as exc:  # noqa: BLE001 - same guard as the dispatcher's
            self.dispatcher.report_handler_failure(label, _LIFECYCLE, exc)

    def _require(self, state: State) -> None:
        if self._state != state:
            raise EngineStateError(f"engine is {self._state}, expected {state}")

    # ------------------------------------------------------------------ operator controls
    @property
    def mode(self) -> str:
        """``live``, ``shadow`` (broker down: orders go to the shadow venue) or ``halted``."""
        if self.kill_switch.engaged:
            return "halted"
        if isinstance(self.broker, ShadowingBroker):
            return str(self.broker.mode)
        return "live"

    def release_kill_switch(self, reason: str = "operator release") -> None:
        """Let new orders through again (an operator decided). Any thread."""
        was = self.kill_switch.reason
        self.kill_switch.release()
        _log.warning("kill_switch_released", reason=reason, was=was)
        self.dispatcher.publish(SystemErrorEvent(
            error_type="KillSwitchReleased", message=f"kill switch released: {reason}",
            severity=Severity.WARNING, source="operator", timestamp=self.clock.now(),
            context={"was": was}))

    def reconcile_now(self, reason: str = "requested") -> None:
        """Reconcile with the broker soon (snapshot off the dispatcher). Any thread."""
        self.reconciler.request(reason)

    def resume_live(self, reason: str = "operator resume") -> None:
        """Leave shadow mode: back to the live broker, book reconciled to it. Blocks."""
        if not isinstance(self.broker, ShadowingBroker):
            raise EngineStateError("this engine's broker has no shadow mode")
        self.broker.resume(reason)

    def engage_kill_switch(self, reason: str) -> int:
        """Block all new orders and cancel open ones; return the cancels sent."""
        self.kill_switch.engage(reason)
        _log.warning("kill_switch_engaged", reason=reason)
        return self.orders.cancel_all()

    def status(self) -> EngineStatus:
        """A snapshot for the status line and monitoring. Safe from any thread.

        The book and the orders are read under both locks (in the documented order), so
        they agree with each other; dispatcher counters are approximate by nature.
        """
        d = self.dispatcher.stats()
        with self.orders.lock, self.portfolio.lock:
            book = self.portfolio.snapshot()
            orders = self.orders.stats()
        return EngineStatus(
            state=self._state,
            uptime_s=time.monotonic() - self._started_at if self._started_at else 0.0,
            events_dispatched=d.dispatched,
            queue_depth=d.queue_depth,
            conflated=d.conflated,
            handler_errors=d.handler_errors,
            open_orders=orders.open,
            orders_submitted=orders.submitted,
            orders_rejected=orders.rejected,
            fills=d.by_type.get("OrderFill", 0),
            cash=book.cash,
            equity=book.equity,
            positions={s: p.quantity for s, p in book.positions.items()},
            latency_p99_us=self.dispatcher.latency.summary().p99_us,
            mode=self.mode,
        )


def _force_exit(signum: int, frame: FrameType | None) -> None:
    """A second signal: out now, after at most a second for the queued log lines (the
    log writer takes no lock a signal handler could be waiting on)."""
    flush_logs(1.0)
    os._exit(128 + signum)


class _Lifecycle(Event):
    """Stands in for "no event" when a lifecycle callback (on_start/on_stop) fails."""

    priority: ClassVar[int] = 0


_LIFECYCLE = _Lifecycle()
