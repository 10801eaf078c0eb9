"""What the monitor reads from the engine: pulled metrics, health, readiness, ``/status``.

All of it runs off the dispatcher thread (scrapes, the monitor thread, HTTP requests) and
reads only what the engine already offers as thread-safe (``engine.status()``, dispatcher
counters, feed ``health()``, the state manager's counters). ``/status`` and the ``livetrade
run`` status line both start from ``engine.status()``, so they show the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily

from livetrade.feeds.health import FeedHealth
from livetrade.monitoring.metrics import (
    MODES,
    counter,
    gauge,
    labelled_counter,
    labelled_gauge,
    latency_family,
)

if TYPE_CHECKING:
    from livetrade.engine import LiveTradingEngine
    from livetrade.monitoring.monitor import EngineMonitor


def handler_duration_family(timings: dict[str, tuple[int, float, float]]) -> Metric:
    """Sampled handler durations (one event in 64) as a Prometheus summary per handler."""
    family = SummaryMetricFamily("livetrade_handler_duration_seconds",
                                 "Handler duration, sampled one event in 64",
                                 labels=["handler"])
    for label, (count, total, _) in sorted(timings.items()):
        family.add_metric([label], count_value=count, sum_value=total)
    return family


def _engine(monitor: EngineMonitor) -> LiveTradingEngine:
    if monitor.engine is None:
        raise RuntimeError("monitor is not attached to an engine")
    return monitor.engine


def feed_health(engine: LiveTradingEngine) -> dict[str, FeedHealth]:
    """Health of every feed that reports it (venue feeds do; simulated/replay do not)."""
    out: dict[str, FeedHealth] = {}
    for feed in engine.feeds:
        health = getattr(feed, "health", None)
        if callable(health):
            value = health()
            if isinstance(value, FeedHealth):
                out[feed.name] = value
    return out


def checkpoint_age_s(engine: LiveTradingEngine) -> float | None:
    state = engine.state
    if state is None or state.last_checkpoint_at is None:
        return None
    return max(0.0, (engine.clock.now() - state.last_checkpoint_at).total_seconds())


def sample_metrics(monitor: EngineMonitor) -> Iterator[Metric]:
    """The pulled metrics (see ``metrics``' module docstring), read at scrape time."""
    engine = _engine(monitor)
    st = engine.status()
    by_type = engine.dispatcher.stats().by_type
    yield labelled_counter("livetrade_events", "Events dispatched, by event type", "type",
                           {k: float(v) for k, v in by_type.items()})
    if monitor.latency is not None:
        yield latency_family(monitor.latency)
    yield gauge("livetrade_queue_depth", "Events waiting in the dispatcher queue",
                st.queue_depth)
    yield counter("livetrade_conflated_market_data", "Market data coalesced under load",
                  st.conflated)
    yield counter("livetrade_handler_errors", "Handlers that raised", st.handler_errors)
    if monitor.engine is not None:
        yield handler_duration_family(monitor.engine.dispatcher.handler_timings())
    yield counter("livetrade_orders_sent", "Orders that passed checks and were sent "
                  "(the order manager's count)", st.orders_submitted)
    yield counter("livetrade_orders_rejected_by_engine", "Orders rejected (order manager)",
                  st.orders_rejected)
    yield gauge("livetrade_open_orders", "Open orders", st.open_orders)
    yield gauge("livetrade_equity", "Equity in account currency", float(st.equity))
    yield gauge("livetrade_cash", "Cash in account currency", float(st.cash))
    yield labelled_gauge("livetrade_position", "Position quantity per symbol", "symbol",
                         {s: float(q) for s, q in st.positions.items()})
    yield labelled_gauge("livetrade_mode", "1 for the current mode", "mode",
                         {m: 1.0 if m == st.mode else 0.0 for m in MODES})
    yield gauge("livetrade_kill_switch_engaged", "1 while new orders are blocked",
                1.0 if engine.kill_switch.engaged else 0.0)
    yield counter("livetrade_reconciliation_runs", "Live reconciliations run",
                  engine.reconciler.runs)
    if engine.state is not None:
        yield counter("livetrade_checkpoints", "Checkpoints written",
                      engine.state.checkpoints_written)
        age = checkpoint_age_s(engine)
        family = GaugeMetricFamily("livetrade_checkpoint_age_seconds",
                                   "Age of the last checkpoint (no sample before the first)")
        if age is not None:
            family.add_metric([], age)
        yield family
    feeds = feed_health(engine)
    yield labelled_gauge("livetrade_feed_last_message_age_seconds",
                         "Seconds since a feed's last message", "feed",
                         {n: h.last_message_age_s for n, h in feeds.items()
                          if h.last_message_age_s is not None})
    yield labelled_gauge("livetrade_feed_stale", "1 while a feed is stale", "feed",
                         {n: 1.0 if h.stale else 0.0 for n, h in feeds.items()})
    yield labelled_gauge("livetrade_feed_connected", "1 while a feed is connected", "feed",
                         {n: 1.0 if h.connected else 0.0 for n, h in feeds.items()})
    yield gauge("livetrade_uptime_seconds", "Seconds since the engine started", st.uptime_s)
    yield gauge("livetrade_heartbeat_age_seconds",
                "Seconds the dispatcher has left a heartbeat unanswered",
                monitor.heartbeat_age_s())
    yield gauge("livetrade_monitor_hook_queue_dropped", "Hook events dropped so far",
                monitor.hooks.dropped)


def liveness(monitor: EngineMonitor) -> tuple[bool, str]:
    """Alive: the dispatcher thread runs and answers heartbeats within the timeout."""
    engine = _engine(monitor)
    if engine.dispatcher.running:
        age = monitor.heartbeat_age_s()
        if age > monitor.settings.liveness_timeout_s:
            return False, f"dispatcher has not handled a heartbeat for {age:.1f} s (wedged?)"
        return True, "ok"
    if engine.status().state == "running_sync":
        return True, "ok (synchronous drive mode)"
    return False, f"dispatcher not running (engine {engine.status().state})"


def readiness(monitor: EngineMonitor) -> list[str]:
    """Every reason the engine is not ready to trade; empty when ready."""
    engine = _engine(monitor)
    reasons: list[str] = []
    alive, why = liveness(monitor)
    if not alive:
        reasons.append(f"not alive: {why}")
    st = engine.status()
    if st.state not in ("running", "running_sync"):
        reasons.append(f"engine is {st.state}")
    if engine.state is not None:
        if engine.recovery is None:
            reasons.append("state not restored yet")
        elif engine.recovery.halted:
            reasons.append("recovery reconciliation halted trading")
    if monitor.reconciliation_failed:
        reasons.append("last reconciliation failed (broker did not answer)")
    if st.mode != "live":
        why = engine.kill_switch.reason if st.mode == "halted" else "broker down, orders on " \
            "the shadow venue"
        reasons.append(f"mode is {st.mode}: {why}")
    for (broker, group), state in sorted(monitor.breakers.items()):
        if state != "closed":
            reasons.append(f"breaker {broker}:{group} is {state}")
    stale_s = monitor.settings.feed_stale_s
    for name, h in sorted(feed_health(engine).items()):
        if not h.connected:
            reasons.append(f"feed {name} disconnected")
        elif h.stale or (h.last_message_age_s is not None and h.last_message_age_s > stale_s):
            reasons.append(f"feed {name} stale ({h.last_message_age_s or 0:.0f} s silent)")
    return reasons


def _money(value: Decimal) -> str:
    return str(value)


def status_dict(monitor: EngineMonitor) -> dict[str, Any]:
    """The ``/status`` document: JSON-ready, no secrets (ids, numbers and states only)."""
    engine = _engine(monitor)
    st = engine.status()
    book = engine.portfolio.snapshot()
    alive, why = liveness(monitor)
    state = engine.state
    return {
        "state": st.state,
        "mode": st.mode,
        "alive": alive,
        "alive_reason": why,
        "not_ready": readiness(monitor),
        "uptime_s": round(st.uptime_s, 1),
        "events_dispatched": st.events_dispatched,
        "queue_depth": st.queue_depth,
        "latency_p99_us": round(st.latency_p99_us, 1),
        "cash": _money(st.cash),
        "equity": _money(st.equity),
        "pnl": _money(st.equity - book.initial_cash),
        "realized_pnl": _money(book.realized_pnl),
        "positions": {s: {"quantity": str(p.quantity), "average_cost": str(p.average_cost),
                          "mark": str(p.mark_price)} for s, p in sorted(book.positions.items())},
        "orders": {"submitted": st.orders_submitted, "rejected": st.orders_rejected,
                   "fills": st.fills, "open": st.open_orders},
        "open_orders": [
            {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value,
             "type": o.order_type.value, "quantity": str(o.quantity),
             "filled": str(o.filled_quantity), "status": o.status.value}
            for o in engine.orders.open_orders()[:100]],
        "last_checkpoint": None if state is None else {
            "count": state.checkpoints_written,
            "at": _iso(state.last_checkpoint_at),
            "age_s": checkpoint_age_s(engine),
            "last_error": state.last_error or None},
        "last_reconciliation": monitor.last_reconciliation,
        "feeds": {n: {"connected": h.connected, "stale": h.stale,
                      "last_message_age_s": h.last_message_age_s}
                  for n, h in sorted(feed_health(engine).items())},
        "breakers": {f"{b}:{g}": s for (b, g), s in sorted(monitor.breakers.items())},
        "kill_switch": engine.kill_switch.reason if engine.kill_switch.engaged else None,
        "restarted_after_unclean_exit": monitor.restart_detected is not None,
        "recent_errors": list(monitor.recent_errors),
        "hooks": {"delivered": monitor.hooks.delivered, "dropped": monitor.hooks.dropped,
                  "errors": monitor.hooks.errors},
        "alerts": {"sent": monitor.sender.sent, "failed": monitor.sender.failed,
                   "recent": [a.to_dict() for a in monitor.alerts.fired[-10:]]},
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def poll_conditions(monitor: EngineMonitor) -> None:
    """Monitor thread: mode changes, new checkpoints, stale checkpoint/feeds, drawdown."""
    engine = _engine(monitor)
    mode = engine.mode
    if mode != monitor._mode:
        reason = engine.kill_switch.reason if mode == "halted" else ""
        monitor.mode_changed(mode, monitor._mode, reason or "")
    state = engine.state
    rules = monitor.alerts.rules
    if state is not None:
        if state.checkpoints_written != monitor._checkpoints_seen:
            monitor._checkpoints_seen = state.checkpoints_written
            monitor.checkpoint_written(state.checkpoints_written)
        age = checkpoint_age_s(engine)
        rule = rules.get("checkpoint_stale")
        if rule is not None and age is not None:
            if age > rule.max_age_s:
                monitor.alerts.fire("checkpoint_stale", "state",
                                    f"last checkpoint is {age:.0f} s old")
            else:
                monitor.alerts.clear("checkpoint_stale", "state")
    rule = rules.get("feed_stale")
    if rule is not None:
        for name, h in feed_health(engine).items():
            age = h.last_message_age_s
            if h.stale or (age is not None and age > rule.max_age_s):
                monitor.alerts.fire("feed_stale", name, f"feed {name} silent for "
                                    f"{age or 0:.0f} s")
    rule = rules.get("drawdown")
    if rule is not None:
        equity = engine.portfolio.equity()
        peak = monitor._peak_equity
        if peak is None or equity > peak:
            monitor._peak_equity = peak = equity
        if peak > 0 and (peak - equity) / peak >= rule.limit:
            monitor.alerts.fire("drawdown", "equity", f"equity {equity} is "
                                f"{(peak - equity) / peak:.1%} below its peak {peak}")
        else:
            monitor.alerts.clear("drawdown", "equity")
