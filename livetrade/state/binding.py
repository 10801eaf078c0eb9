"""StateBinding: how a StateManager plugs into an engine.

Subscribes the journal (first handler of every order event, so the journal records what
arrived before any memory changes) and the checkpoint capture; runs recovery before the
strategy starts; writes the final checkpoint on the way out. Keeps all of that out of the
engine, which only calls these methods at the right moments of its lifecycle.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime

import structlog

from livetrade.brokers.base import BrokerAdapter
from livetrade.dispatcher import Dispatcher
from livetrade.errors import LiveTradeError
from livetrade.events import Event, OrderFill
from livetrade.order_manager import OrderManager
from livetrade.portfolio import Portfolio
from livetrade.risk import KillSwitch
from livetrade.state.manager import Captured, CheckpointDue, StateManager
from livetrade.state.recovery import EVENT_KINDS, Recovery, RecoveryReport
from livetrade.strategy import Strategy

_log = structlog.get_logger("livetrade.state")


class StateBinding:
    """One engine's journal, checkpoints and recovery, wired to its parts."""

    def __init__(self, state: StateManager, strategy: Strategy, portfolio: Portfolio,
                 orders: OrderManager) -> None:
        self.state = state
        self._strategy = strategy
        self._portfolio = portfolio
        self._orders = orders

    def wire(self, dispatcher: Dispatcher) -> None:
        """Subscribe before every other handler of the order events."""
        for event_type in EVENT_KINDS:
            dispatcher.subscribe(event_type, self._journal_event, "state.journal")
        dispatcher.subscribe(CheckpointDue, self._on_checkpoint_due, "state.checkpoint")

    def recover(self, *, broker: BrokerAdapter, publish: Callable[[Event], None],
                apply_fill: Callable[[OrderFill], object], kill_switch: KillSwitch,
                now: Callable[[], datetime]) -> RecoveryReport:
        """Restore, replay, reconcile; then journal every new order. Raises StateError.

        The cyclic garbage collector is paused while it runs: a restore allocates the
        whole book at once (tens of thousands of objects at 10,000 orders), which would
        set off several full collections over it mid-restore (200-400 ms each). Nothing
        a restore allocates is garbage that needs the collector; the previous setting is
        put back even when the restore fails."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            report = Recovery(state=self.state, portfolio=self._portfolio,
                              orders=self._orders, strategy=self._strategy, broker=broker,
                              publish=publish, apply_fill=apply_fill,
                              kill_switch=kill_switch, now=now).run()
        finally:
            if was_enabled:
                gc.enable()
        self._orders.journal = self.state.journal
        return report

    def start(self, publish: Callable[[Event], None]) -> None:
        self.state.start(lambda reason: publish(CheckpointDue(reason=reason)))

    def stop_requests(self, timeout_s: float) -> None:
        self.state.stop_requests(timeout_s)

    def stop(self, timeout_s: float) -> None:
        """Finish queued writes, then write the final checkpoint. Blocks. (The engine gives
        the directory up with :meth:`release_directory`, as the very last step of its stop.)"""
        self.state.stop(timeout_s)
        self.final_checkpoint()

    def release_directory(self) -> None:
        self.state.release_directory()

    def reclaim_directory(self) -> None:
        self.state.reclaim_directory()

    def checkpoint(self, reason: str) -> None:
        """Capture and write now (dispatcher not running). Blocks."""
        self.state.write(self._capture(reason))

    def final_checkpoint(self) -> None:
        try:
            self.checkpoint("shutdown")
        except LiveTradeError as exc:
            _log.error("final_checkpoint_failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a stop must finish; the journal has it all
            _log.error("final_checkpoint_failed", error=f"{type(exc).__name__}: {exc}")

    def _capture(self, reason: str) -> Captured:
        return self.state.capture(reason, strategy_state=self._strategy.get_state(),
                                  portfolio=self._portfolio.capture_state(),
                                  orders=self._orders.capture_state())

    def _journal_event(self, event: Event) -> None:
        self.state.journal(EVENT_KINDS[type(event)], getattr(event, "client_order_id", "?"),
                           {"event": event.model_dump(mode="json")})
        self.state.mark_dirty()

    def _on_checkpoint_due(self, event: CheckpointDue) -> None:
        self.state.submit(self._capture(event.reason))
