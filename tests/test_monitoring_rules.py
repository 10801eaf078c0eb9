"""Alert rules: the reject window, dedup until a condition clears, the per-minute cap, and
mode changes noticed by the monitor thread on a real engine (kill switch → halted)."""

from __future__ import annotations

from decimal import Decimal

from kit import RecordingStrategy, wait_until

from livetrade.brokers.paper import PaperBroker
from livetrade.engine import LiveTradingEngine
from livetrade.monitoring import AlertRule, EngineMonitor, MonitorEvent, MonitoringSettings
from livetrade.monitoring.alerts import Alert, AlertManager


class FakeTime:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def manager(*rules: AlertRule, per_minute: int = 20) -> tuple[AlertManager, list[Alert],
                                                              FakeTime, list[str]]:
    sent: list[Alert] = []
    suppressed: list[str] = []
    t = FakeTime()
    m = AlertManager(rules, sent.append, dedup_s=600, per_minute=per_minute, monotonic=t,
                     on_suppressed=suppressed.append)
    return m, sent, t, suppressed


def test_rejects_alert_only_when_count_falls_within_the_window() -> None:
    m, sent, t, _ = manager(AlertRule("rejects", count=3, window_s=60))
    for _ in range(2):
        m.note_reject("risk")
        t.now += 50  # spread out: never three within 60 s
    assert sent == []
    m.note_reject("risk")
    m.note_reject("risk")
    assert [a.rule for a in sent] == ["rejects"]
    assert sent[0].details["count"] == 3


def test_a_flapping_condition_alerts_once_until_it_clears() -> None:
    m, sent, t, suppressed = manager(AlertRule("feed_stale"))
    assert m.fire("feed_stale", "binance", "silent")
    t.now += 5
    assert not m.fire("feed_stale", "binance", "silent")
    assert m.fire("feed_stale", "coinbase", "silent")  # another subject is another alert
    m.clear("feed_stale", "binance")
    assert m.fire("feed_stale", "binance", "silent again")
    assert suppressed == ["duplicate"]
    assert len(sent) == 3


def test_the_per_minute_cap_cuts_an_alert_storm() -> None:
    m, sent, t, suppressed = manager(AlertRule("reconciliation_mismatch"), per_minute=2)
    for i in range(5):
        m.fire("reconciliation_mismatch", f"kind{i}", "diff")
    assert len(sent) == 2 and suppressed == ["rate_limited"] * 3
    t.now += 61
    assert m.fire("reconciliation_mismatch", "kind9", "diff")


def test_a_disabled_rule_never_fires() -> None:
    m, sent, _, _ = manager(AlertRule("drawdown", limit=Decimal("0.2")))
    assert not m.fire("breaker_opened", "x:y", "open")
    assert sent == []


def test_kill_switch_is_a_mode_change_to_halted_hook_and_alert() -> None:
    changes: list[MonitorEvent] = []
    monitor = EngineMonitor(MonitoringSettings(poll_interval_s=0.02, heartbeat_interval_s=0.02))
    monitor.register_hook("on_mode_change", changes.append)
    engine = LiveTradingEngine(RecordingStrategy(), broker=PaperBroker(), monitor=monitor)
    engine.start()
    try:
        engine.engage_kill_switch("too many rejects")
        assert wait_until(lambda: len(changes) == 1, timeout_s=5)
        engine.release_kill_switch()
        assert wait_until(lambda: len(changes) == 2, timeout_s=5)
    finally:
        engine.stop()
    assert [(c.data["previous"], c.data["mode"]) for c in changes] == [
        ("live", "halted"), ("halted", "live")]
    assert changes[0].data["reason"] == "too many rejects"
    assert [(a.rule, a.subject) for a in monitor.alerts.fired] == [("mode_change", "halted")]
