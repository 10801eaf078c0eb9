"""Webhook alerts end to end: a receiver on 127.0.0.1 gets exactly the expected alerts for
a breaker trip (through the monitor's entry point) and a real reconciliation mismatch,
after failing once (retry), with the repeated trip deduplicated; plus the unclean-restart
alert from the run marker."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kit import RecordingStrategy, md, wait_until

from livetrade.brokers.paper import PaperBroker
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.monitoring import EngineMonitor, MonitoringSettings, WebhookSettings
from livetrade.monitoring.alerts import Alert, payload
from livetrade.monitoring.marker import MARKER_NAME


class Receiver:
    """A webhook receiver: records every POST; answers 500 to the first ``fail_first``."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests.append(body)
                    ok = len(receiver.requests) > fail_first
                    if ok:
                        receiver.accepted.append(body)
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @contextmanager
    def serving(self) -> Iterator[Receiver]:
        self.thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def test_breaker_trip_and_reconciliation_mismatch_reach_the_webhook_once_each() -> None:
    waits: list[float] = []
    with Receiver(fail_first=1).serving() as receiver:
        monitor = EngineMonitor(MonitoringSettings(
            webhooks=(WebhookSettings(receiver.url),), poll_interval_s=0.05,
            heartbeat_interval_s=0.05), webhook_sleep=waits.append, source="drill")
        # The engine believes it has 50,000 in cash; the paper account holds 100,000.
        engine = LiveTradingEngine(RecordingStrategy(), broker=PaperBroker(), monitor=monitor,
                                   settings=EngineSettings(initial_cash=Decimal(50_000)))
        engine.start()
        try:
            monitor.breaker_state_changed("binance", "orders", "closed", "open")
            monitor.breaker_state_changed("binance", "orders", "open", "half-open")
            monitor.breaker_state_changed("binance", "orders", "half-open", "open")  # flap
            engine.publish(engine.reconciler.snapshot("drill", "warn"))
            engine.publish(engine.reconciler.snapshot("again", "warn"))  # same mismatch
            assert wait_until(lambda: engine.reconciler.runs == 2, timeout_s=5)
        finally:
            engine.stop()  # delivers whatever alert is still queued
    assert [(a["alert"], a["subject"]) for a in receiver.accepted] == [
        ("breaker_opened", "binance:orders"), ("reconciliation_mismatch", "cash_mismatch")]
    assert receiver.requests[0] == receiver.accepted[0]  # the failed try, then its retry
    assert len(receiver.requests) == 3
    assert waits == [1.0]  # one backoff, through the injected sleep
    assert all(a["source"] == "drill" for a in receiver.accepted)
    assert monitor.sender.sent == 2 and monitor.sender.failed == 0


def test_slack_and_discord_payloads_carry_the_text() -> None:
    alert = Alert("breaker_opened", "ib:orders", "warning", "ib orders breaker opened",
                  at=md().timestamp)
    assert payload(alert, "slack", "bot")["text"].startswith("[WARNING] bot: breaker_opened")
    assert "ib orders breaker opened" in payload(alert, "discord", "bot")["content"]


def test_restart_after_an_unclean_exit_alerts_once(tmp_path: Path) -> None:
    def run(receiver: Receiver, crash: bool) -> None:
        monitor = EngineMonitor(MonitoringSettings(webhooks=(WebhookSettings(receiver.url),)),
                                marker_dir=tmp_path)
        engine = LiveTradingEngine(RecordingStrategy(), broker=PaperBroker(), monitor=monitor)
        engine.start()
        if crash:  # what kill -9 leaves behind: the marker, nothing removed it
            assert (tmp_path / MARKER_NAME).exists()
            monitor.sender.stop()
            engine.dispatcher.stop(drain=False, timeout_s=5)
            monitor._stop.set()
            return
        engine.stop()

    with Receiver().serving() as receiver:
        run(receiver, crash=True)
        run(receiver, crash=False)
        assert wait_until(lambda: len(receiver.accepted) == 1, timeout_s=5)
        run(receiver, crash=False)
    assert [a["alert"] for a in receiver.accepted] == ["engine_restarted"]
    assert not (tmp_path / MARKER_NAME).exists()
