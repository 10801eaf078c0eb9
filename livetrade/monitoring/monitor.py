"""EngineMonitor: the one object that watches an engine — metrics, hooks, alerts, health.

Threads and costs:

* **Dispatcher thread**: the monitor's handlers for order events, errors, schedule
  triggers and reconciliation snapshots (never market data) bump pushed counters and hand
  a :class:`~livetrade.monitoring.hooks.MonitorEvent` to the hook queue without blocking.
  Per market-data event the only cost is the latency histogram's bucket increment.
* **Hook thread** (``livetrade-hooks``): calls user hooks; full queue → dropped, counted.
* **Monitor thread** (``livetrade-monitor``): every ``poll_interval_s`` publishes a
  heartbeat event (liveness), and checks mode, checkpoints, feeds and drawdown for alerts.
* **Alert thread** (``livetrade-alerts``): webhook delivery with retries.
* **HTTP thread** (``livetrade-monitor-http``): ``/metrics /healthz /readyz /status``.

Signals the engine does not produce itself (broker request latency, retries, broker
connectivity) enter through the typed entry points :meth:`broker_request`,
:meth:`retry`, :meth:`breaker_state_changed`, :meth:`mode_changed` and
:meth:`checkpoint_written`, safe from any thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from prometheus_client import CollectorRegistry

from livetrade.events import (
    Event,
    FeedError,
    OrderAccepted,
    OrderCanceled,
    OrderFill,
    OrderReject,
    Priority,
    ScheduledTrigger,
    SystemErrorEvent,
)
from livetrade.monitoring.alerts import AlertManager, WebhookSender
from livetrade.monitoring.hooks import HookName, HookRunner, MonitorEvent
from livetrade.monitoring.marker import RunMarker
from livetrade.monitoring.metrics import (
    BREAKER_STATES,
    EngineCollector,
    EngineMetrics,
    HistogramLatencyRecorder,
)
from livetrade.monitoring.settings import MonitoringSettings
from livetrade.orders import OrderRequest
from livetrade.state.live_reconcile import BrokerSnapshot

if TYPE_CHECKING:
    from livetrade.engine import LiveTradingEngine
    from livetrade.monitoring.http import MonitorHTTPServer
    from livetrade.order_manager import OrderRouter

_log = structlog.get_logger("livetrade.monitoring")


class MonitorHeartbeat(Event):
    """Published by the monitor thread; handled on the dispatcher thread = it is alive."""

    priority: ClassVar[int] = Priority.SYSTEM_ERROR
    sent_ns: int = 0


class _MonitoredRouter:
    """Wraps the order router: the one place every order leaving the engine passes."""

    def __init__(self, inner: OrderRouter, monitor: EngineMonitor) -> None:
        self._inner = inner
        self._monitor = monitor

    def send(self, client_order_id: str, request: OrderRequest) -> None:
        self._monitor.order_submitted(client_order_id, request)
        self._inner.send(client_order_id, request)

    def cancel(self, client_order_id: str) -> None:
        self._inner.cancel(client_order_id)


class EngineMonitor:
    """Watches one engine. Build it, pass it to the engine (``monitor=``); the engine
    attaches it and starts/stops it with itself. See the module docstring."""

    def __init__(self, settings: MonitoringSettings | None = None, *,
                 registry: CollectorRegistry | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 webhook_sleep: Callable[[float], None] | None = None,
                 marker_dir: Path | None = None, source: str = "livetrade") -> None:
        self.settings = s = settings or MonitoringSettings()
        self.metrics = EngineMetrics(registry)
        self.registry = self.metrics.registry
        self._monotonic = monotonic
        m = self.metrics
        self.hooks = HookRunner(s.hook_queue_size, on_dropped=m.hook_events_dropped.inc,
                                on_hook_error=lambda hook: m.hook_errors.labels(hook).inc())
        self.sender = WebhookSender(
            s.webhooks, source=source, attempts=s.webhook_attempts,
            retry_initial_s=s.webhook_retry_initial_s, sleep=webhook_sleep,
            on_sent=lambda a: m.alerts_sent.labels(a.rule).inc(),
            on_failed=lambda a: m.alert_send_failures.inc())
        self.alerts = AlertManager(s.alerts, self._deliver, dedup_s=s.alert_dedup_s,
                                   per_minute=s.alerts_per_minute, monotonic=monotonic,
                                   on_suppressed=lambda r: m.alerts_suppressed.labels(r).inc())
        marker = s.marker_dir or marker_dir
        self._marker = RunMarker(marker) if marker is not None else None
        self.engine: LiveTradingEngine | None = None
        self.latency: HistogramLatencyRecorder | None = None
        self.recent_errors: deque[dict[str, Any]] = deque(maxlen=s.recent_errors)
        self.breakers: dict[tuple[str, str], str] = {}
        self.reconciliation_failed = False
        self.last_reconciliation: dict[str, Any] | None = None
        self.restart_detected: dict[str, Any] | None = None
        self._sent_at: dict[str, int] = {}
        self._beat_sent = 0.0
        self._beat_handled = 0.0
        self._mode = "live"
        self._checkpoints_seen = 0
        self._peak_equity: Decimal | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.http: MonitorHTTPServer | None = None
        self.started_monotonic = 0.0

    # ------------------------------------------------------------------ wiring
    def attach(self, engine: LiveTradingEngine) -> None:
        """Subscribe to the engine's dispatcher and register the pulled metrics.

        Call before the engine starts (the engine does, when given ``monitor=``). Replaces
        the dispatcher's latency recorder with one that also fills the histogram.
        """
        from livetrade.monitoring.status import sample_metrics

        if self.engine is not None:
            raise ValueError("this monitor is attached to an engine already")
        self.engine = engine
        d = engine.dispatcher
        old = d.latency
        self.latency = HistogramLatencyRecorder(len(old._buf))
        self.latency.count, self.latency.max_ns = old.count, old.max_ns
        d.latency = self.latency
        d.subscribe(MonitorHeartbeat, self._on_heartbeat, "monitor.heartbeat")
        d.subscribe(OrderAccepted, self._on_accepted, "monitor.accepted")
        d.subscribe(OrderFill, self._on_fill, "monitor.fill")
        d.subscribe(OrderReject, self._on_reject, "monitor.reject")
        d.subscribe(OrderCanceled, self._on_canceled, "monitor.canceled")
        d.subscribe(ScheduledTrigger, self._on_trigger, "monitor.schedule")
        d.subscribe(BrokerSnapshot, self._on_snapshot, "monitor.reconcile")
        for error_type in (SystemErrorEvent, FeedError):
            d.subscribe(error_type, self._on_error, "monitor.error")
        self.registry.register(EngineCollector(lambda: sample_metrics(self)))

    def wrap_router(self, router: OrderRouter) -> OrderRouter:
        """The engine routes orders through this, so every send is seen."""
        return _MonitoredRouter(router, self)

    def register_hook(self, name: HookName, hook: Callable[[MonitorEvent], None]) -> None:
        self.hooks.register(name, hook)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the hook, alert, monitor and (if configured) HTTP threads. Returns at once.

        Raises ``ConfigError`` for a refused bind address, ``StateError`` for a marker
        directory that cannot be written.
        """
        self.started_monotonic = self._monotonic()
        if self.settings.http_port is not None:  # first: a refused bind starts nothing
            from livetrade.monitoring.http import MonitorHTTPServer
            http = MonitorHTTPServer(self, self.settings)
            http.start()
            self.http = http
        previous = None
        if self._marker is not None and self.engine is not None:
            try:
                previous = self._marker.begin(self.engine.clock.now())
            except Exception:
                if self.http is not None:
                    self.http.stop()
                    self.http = None
                raise
        self.hooks.start()
        self.sender.start()
        if previous is not None:
            self.restart_detected = previous
            self.alerts.fire("engine_restarted", "process",
                             "engine started after an unclean exit (the previous run "
                             "never stopped)", {"previous": previous})
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="livetrade-monitor",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop every monitoring thread (bounded); remove the run marker. Blocks."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.hooks.stop(timeout_s)
        self.sender.stop(timeout_s)
        if self._marker is not None:
            self._marker.end()

    # ------------------------------------------------------------------ entry points
    def order_submitted(self, client_order_id: str, request: OrderRequest) -> None:
        self.metrics.order_events["submitted"].inc()
        if len(self._sent_at) < 100_000:
            self._sent_at[client_order_id] = time.perf_counter_ns()
        self._emit("on_order_submitted", client_order_id=client_order_id,
                   symbol=request.symbol, side=request.side.value,
                   quantity=str(request.quantity), order_type=request.order_type.value)

    def breaker_state_changed(self, broker: str, group: str, old: str, new: str) -> None:
        """A circuit breaker moved (``closed``/``half-open``/``open``). Any thread."""
        self.metrics.breaker_state.labels(broker, group).set(BREAKER_STATES.get(new, 2.0))
        self.metrics.breaker_transitions.labels(broker, group, new).inc()
        self.breakers[(broker, group)] = new
        self._emit("on_breaker_state_change", broker=broker, group=group, old=old, new=new)
        if new == "open":
            self.alerts.fire("breaker_opened", f"{broker}:{group}",
                             f"{broker} {group} breaker opened (was {old})",
                             {"broker": broker, "group": group})
        elif new == "closed":
            self.alerts.clear("breaker_opened", f"{broker}:{group}")

    def broker_request(self, operation: str, duration_s: float,
                       error: str | None = None) -> None:
        """One broker request finished (``error``: its error class name, if it failed)."""
        self.metrics.broker_request.labels(operation).observe(duration_s)
        if error is not None:
            self.metrics.broker_errors.labels(operation, error).inc()

    def retry(self, operation: str) -> None:
        """A broker request is being retried."""
        self.metrics.retries.labels(operation).inc()

    def mode_changed(self, mode: str, previous: str, reason: str = "") -> None:
        """The engine moved between ``live``, ``shadow`` and ``halted``. Any thread."""
        if mode == previous:
            return
        self._mode = mode
        self.metrics.mode_changes.labels(mode).inc()
        self._emit("on_mode_change", mode=mode, previous=previous, reason=reason)
        rule = self.alerts.rules.get("mode_change")
        if rule is not None and mode in rule.modes:
            self.alerts.fire("mode_change", mode, f"mode {previous} -> {mode}"
                             + (f": {reason}" if reason else ""), {"previous": previous})
        if mode == "live":
            for m in ("shadow", "halted"):
                self.alerts.clear("mode_change", m)

    def checkpoint_written(self, number: int, duration_s: float | None = None) -> None:
        """A checkpoint reached disk (the monitor thread also notices them by itself)."""
        if duration_s is not None:
            self.metrics.checkpoint_duration.observe(duration_s)
        self._emit("on_state_checkpoint", number=number, duration_s=duration_s)

    def reconciliation_result(self, report: dict[str, Any], mismatches: list[str],
                              failed: bool) -> None:
        """A reconciliation ran: its report, the kinds of difference found, whether the
        broker failed to answer."""
        self.last_reconciliation = report
        self.reconciliation_failed = failed
        self._emit("on_reconciliation", report=report, mismatches=mismatches, failed=failed)

    # ------------------------------------------------------------------ dispatcher thread
    def _on_heartbeat(self, event: MonitorHeartbeat) -> None:
        self._beat_handled = self._monotonic()

    def _on_accepted(self, event: OrderAccepted) -> None:
        self.metrics.order_events["accepted"].inc()

    def _on_fill(self, event: OrderFill) -> None:
        self.metrics.fills.inc()
        sent = self._sent_at.pop(event.client_order_id, None)
        if sent is not None:
            self.metrics.fill_latency.observe((time.perf_counter_ns() - sent) / 1e9)
            self.metrics.order_events["filled"].inc()
        self._emit("on_order_filled", client_order_id=event.client_order_id,
                   symbol=event.symbol, side=event.side.value,
                   quantity=str(event.fill_amount), price=str(event.fill_price))

    def _on_reject(self, event: OrderReject) -> None:
        self.metrics.order_events["rejected"].inc()
        self._sent_at.pop(event.client_order_id, None)
        self.alerts.note_reject(event.reason)
        self._emit("on_order_rejected", client_order_id=event.client_order_id,
                   reason=event.reason)

    def _on_canceled(self, event: OrderCanceled) -> None:
        self.metrics.order_events["canceled"].inc()
        self._sent_at.pop(event.client_order_id, None)

    def _on_trigger(self, event: ScheduledTrigger) -> None:
        self.metrics.scheduler_lateness.observe(max(0.0, event.lateness_s))

    def _on_snapshot(self, event: BrokerSnapshot) -> None:
        if self.engine is not None:
            report = dict(self.engine.reconciler.last_report or {})
            self.reconciliation_result(report, [str(d.get("kind", "?")) for d in
                                                report.get("differences", [])
                                                if isinstance(d, dict)],
                                       failed=bool(event.error))

    def _on_error(self, event: SystemErrorEvent) -> None:
        self.metrics.errors.labels(event.severity.value).inc()
        self.recent_errors.append({"at": event.timestamp.isoformat(), "type": event.error_type,
                                   "source": event.source, "severity": event.severity.value,
                                   "message": event.message[:500]})
        self._emit("on_error", error_type=event.error_type, source=event.source,
                   severity=event.severity.value, message=event.message)
        kind, ctx = event.error_type, event.context
        if kind == "BreakerStateChange":
            self.breaker_state_changed(event.source.removeprefix("broker:"),
                                       str(ctx.get("group", "?")), str(ctx.get("old", "?")),
                                       str(ctx.get("new", "?")))
        elif kind == "reconciliation_failed":
            self.metrics.reconciliation_failures.inc()
            self.reconciliation_failed = True
            self.alerts.fire("reconciliation_failed", "broker", event.message)
        elif kind.startswith("reconciliation_"):
            what = kind.removeprefix("reconciliation_")
            self.metrics.reconciliation_mismatches.labels(what).inc()
            self.alerts.fire("reconciliation_mismatch", what, event.message)
        elif kind == "FeedStale":
            self.alerts.fire("feed_stale", event.source, event.message)
        elif kind == "FeedRecovered":
            self.alerts.clear("feed_stale", event.source)

    # ------------------------------------------------------------------ monitor thread
    def _run(self) -> None:
        from livetrade.monitoring.status import poll_conditions

        interval = min(self.settings.heartbeat_interval_s, self.settings.poll_interval_s)
        while not self._stop.wait(interval):
            try:
                self._heartbeat()
                poll_conditions(self)
            except Exception as exc:  # noqa: BLE001 - monitoring must outlive a bad check
                _log.error("monitor_check_failed", error=f"{type(exc).__name__}: {exc}")

    def _heartbeat(self) -> None:
        engine = self.engine
        if engine is None or not engine.dispatcher.running:
            return
        if self._beat_sent <= self._beat_handled or self._beat_sent == 0.0:
            self._beat_sent = self._monotonic()
            engine.publish(MonitorHeartbeat(sent_ns=time.perf_counter_ns()))

    def heartbeat_age_s(self) -> float:
        """Seconds the oldest unanswered heartbeat has waited (0 when answered)."""
        if self._beat_sent <= self._beat_handled:
            return 0.0
        return self._monotonic() - self._beat_sent

    # ------------------------------------------------------------------ helpers
    def _emit(self, hook: HookName, **data: Any) -> None:
        if self.hooks.wants(hook):
            engine = self.engine
            at = engine.clock.now() if engine is not None else datetime.now(UTC)
            self.hooks.emit(MonitorEvent(hook, at, data))

    def _deliver(self, alert: Any) -> None:
        self.sender.send(alert)
        self._emit("on_alert", **alert.to_dict())
