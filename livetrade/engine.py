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

This module is the lifecycle: building the parts, opening and closing a session, starting
and stopping threads in order. What happens to each event is
:mod:`livetrade.engine_handlers`; the foreground run with its signals is
:mod:`livetrade.foreground`; the process settings an engine holds while it runs are
:mod:`livetrade.process_tuning`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Literal

import structlog

from livetrade.brokers.base import BrokerAdapter
from livetrade.brokers.executor import BrokerExecutor, InlineRouter
from livetrade.brokers.paper import PaperBroker
from livetrade.clock import Clock, ManualClock, SystemClock
from livetrade.dispatcher import Dispatcher
from livetrade.engine_handlers import EngineHandlers
from livetrade.engine_types import EngineSettings, EngineStatus, StopReport
from livetrade.errors import EngineStateError, TransientBrokerError
from livetrade.events import Event, OrderFill, Severity, SystemErrorEvent
from livetrade.feeds.base import DataFeed
from livetrade.foreground import ForegroundRun
from livetrade.order_manager import OrderManager, OrderRouter
from livetrade.orders import ClientOrderIdGenerator, run_prefix
from livetrade.portfolio import Portfolio
from livetrade.process_tuning import ProcessTuning
from livetrade.resilience.guarded import ResilientBroker
from livetrade.resilience.shadow import Mode, ShadowingBroker
from livetrade.risk import KillSwitch, RiskChecker, RiskLimits
from livetrade.scheduling.facade import StrategySchedule
from livetrade.scheduling.scheduler import TradingScheduler
from livetrade.state.binding import StateBinding
from livetrade.state.live_reconcile import LiveReconciler, LiveReconcileSettings
from livetrade.state.manager import StateManager
from livetrade.state.recovery import RecoveryReport
from livetrade.strategy import Strategy, StrategyContext

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
        self._tuning = ProcessTuning(gc_tuning=self.settings.gc_tuning,
                                     switch_interval_s=self.settings.switch_interval_s)
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
        self._handlers = EngineHandlers(
            strategy=strategy, broker=self.broker, orders=self.orders, portfolio=self.portfolio,
            kill_switch=self.kill_switch, scheduler=self.scheduler, data_clock=self._data_clock,
            call_strategy=self._call_strategy, started=lambda: self._state != "new")
        self.context = StrategyContext(
            self.orders, self.portfolio, self.clock,
            StrategySchedule(self.scheduler, self._handlers.on_schedule_change))
        self.state = state
        self._state_binding = (StateBinding(state, self.strategy, self.portfolio, self.orders)
                               if state is not None else None)
        self.recovery: RecoveryReport | None = None
        self._executor: BrokerExecutor | None = None
        self._state: State = "new"
        self._started_at = 0.0
        self._foreground = ForegroundRun()
        self.reconciler = LiveReconciler(
            LiveReconcileSettings(interval_s=self.settings.reconcile_interval_s,
                                  policy=self.settings.reconcile_policy,
                                  cash_tolerance=self.settings.cash_tolerance,
                                  grace_s=self.settings.reconcile_grace_s),
            broker=self.broker, orders=self.orders, portfolio=self.portfolio,
            kill_switch=self.kill_switch, apply_fill=self._handlers.reconciled_fill,
            publish=self.dispatcher.publish, clock=self.clock,
            paused=lambda: self.mode == Mode.SHADOW)
        if isinstance(self.broker, ShadowingBroker):
            self.broker.on_resume = lambda reason, done: self.reconciler.request(
                f"resume: {reason}", "adopt_broker", then=done)
        self._handlers.wire(self.dispatcher, self._state_binding, self.reconciler.on_snapshot)
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

    def checkpoint(self, reason: str = "requested") -> None:
        """Write a checkpoint now. Call with the dispatcher stopped or in drive mode. Blocks."""
        if self._state_binding is None:
            raise EngineStateError("this engine has no state store")
        if self.dispatcher.running:
            raise EngineStateError("checkpoint() while the dispatcher runs: it checkpoints "
                                   "by itself; use stop() for a final one")
        self._state_binding.checkpoint(reason)

    def add_fill_listener(self, listener: Callable[[OrderFill], None]) -> None:
        """Call ``listener(fill)`` on the dispatcher thread for every fill booked (once per
        fill id, after the portfolio includes it). Add before starting."""
        self._handlers.add_fill_listener(listener)

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
        self._tuning.hold_gc()
        self._tuning.hold_switching()
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
            self._tuning.release()

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
        self._foreground.request_stop()

    def run_forever(
        self,
        duration_s: float | None = None,
        *,
        on_status: Callable[[EngineStatus], None] | None = None,
        status_interval_s: float = 1.0,
        stop_when_feeds_done: bool = True,
    ) -> StopReport:
        """Run until SIGINT/SIGTERM, ``duration_s``, or the end of every feed. Blocks.

        Whatever ends the run, ``stop()`` runs; a second signal during the graceful stop
        exits at once (``livetrade/foreground.py`` has the rules).
        """
        return self._foreground.run(self, duration_s, on_status=on_status,
                                    status_interval_s=status_interval_s,
                                    stop_when_feeds_done=stop_when_feeds_done)

    def wait_until_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until the queue is empty (or ``timeout_s``); ``True`` if it emptied."""
        deadline = time.monotonic() + timeout_s
        while self.dispatcher.queue_depth > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

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
        self._tuning.hold_gc()
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
                apply_fill=self._handlers.book_fill, kill_switch=self.kill_switch,
                now=self.clock.now)
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

    def _close_session(self, undelivered: list[Event], clean: bool) -> StopReport:
        try:
            self.broker.disconnect()
            if self.monitor is not None:
                self.monitor.stop(self.settings.stop_timeout_s)
        finally:
            self._tuning.release()
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


class _Lifecycle(Event):
    """Stands in for "no event" when a lifecycle callback (on_start/on_stop) fails."""

    priority: ClassVar[int] = 0


_LIFECYCLE = _Lifecycle()
