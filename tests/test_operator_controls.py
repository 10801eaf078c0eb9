"""Operator controls on a running engine, over the monitoring endpoint and the CLI:
``livetrade resume`` leaves shadow mode; ``livetrade control halt|release|reconcile``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from faultkit import FlakyVenue
from kit import RecordingStrategy, md, request, wait_until

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.monitoring import EngineMonitor, MonitoringSettings
from livetrade.resilience import BreakerSettings, RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.resilience.shadow import DegradeSettings, ShadowingBroker

TOKEN = "operator-token-1234"


@contextmanager
def engine_with_controls(monkeypatch: pytest.MonkeyPatch, token: str | None = TOKEN
                         ) -> Iterator[tuple[LiveTradingEngine, FlakyVenue, str]]:
    if token is None:
        monkeypatch.delenv("LIVETRADE_MONITOR_TOKEN", raising=False)
    else:
        monkeypatch.setenv("LIVETRADE_MONITOR_TOKEN", token)
    venue = FlakyVenue()
    live = ResilientBroker(venue, ResilienceSettings(
        retry=RetryPolicy(attempts=1), submit_retry=RetryPolicy(attempts=1),
        breakers=BreakerSettings(fail_max=2, reset_timeout_s=0.05)), sleep=lambda s: None)
    broker = ShadowingBroker(live, PaperBroker(PaperBrokerConfig(initial_cash=Decimal(10**9))),
                             DegradeSettings(degrade_after_s=0.1, probe_interval_s=0.02))
    monitor = EngineMonitor(MonitoringSettings(http_port=0, heartbeat_interval_s=0.05,
                                               poll_interval_s=0.05))
    engine = LiveTradingEngine(RecordingStrategy(), broker=broker, monitor=monitor,
                               settings=EngineSettings(reconcile_grace_s=0.0))
    engine.start()
    try:
        assert monitor.http is not None
        engine.publish(md("AAPL", 100))
        yield engine, venue, monitor.http.url
    finally:
        engine.stop()


def cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LIVETRADE_MONITOR_TOKEN"}
    if token is not None:
        env["LIVETRADE_MONITOR_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "livetrade", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def post(url: str, token: str | None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, method="POST", data=b"{}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_livetrade_resume_brings_an_engine_out_of_shadow_mode(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with engine_with_controls(monkeypatch) as (engine, venue, url):
        venue.down = True
        for _ in range(2):
            engine.orders.submit(request("AAPL", quantity=1))
        assert wait_until(lambda: engine.mode == "shadow", 15)
        venue.down = False
        assert isinstance(engine.broker, ShadowingBroker)
        broker = engine.broker
        assert wait_until(lambda: broker.live_available, 15)
        done = cli("resume", url, "--reason", "venue is back")
        assert done.returncode == 0, done.stderr
        assert "resuming" in done.stdout
        assert wait_until(lambda: engine.mode == "live", 15)
        again = cli("resume", url)
        assert again.returncode == 1 and "already live" in again.stderr


def test_halt_release_and_reconcile_from_the_command_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with engine_with_controls(monkeypatch) as (engine, _, url):
        assert cli("control", "halt", url, "--reason", "drill").returncode == 0
        assert engine.mode == "halted"
        answer = json.loads(cli("control", "release", url, "--json").stdout)
        assert answer["ok"] and answer["mode"] == "live" and engine.mode == "live"
        runs = engine.reconciler.runs
        assert cli("control", "reconcile", url).returncode == 0
        assert wait_until(lambda: engine.reconciler.runs > runs, 15)


def test_controls_need_the_token_and_post(monkeypatch: pytest.MonkeyPatch) -> None:
    with engine_with_controls(monkeypatch) as (engine, _, url):
        assert post(url + "/control/halt", None)[0] == 401
        assert post(url + "/control/halt", "wrong")[0] == 401
        code, body = post(url + "/control/nonsense", TOKEN)
        assert code == 404 and "resume" in str(body["message"])
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url + "/control/halt", timeout=5)
        assert info.value.code in (401, 405)
        assert engine.mode == "live"
        assert TOKEN not in cli("control", "halt", url, token="wrong").stderr


def test_without_a_configured_token_controls_are_refused_with_what_to_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with engine_with_controls(monkeypatch, token=None) as (engine, _, url):
        code, body = post(url + "/control/halt", None)
        assert code == 403 and "LIVETRADE_MONITOR_TOKEN" in str(body["message"])
        assert engine.mode == "live"
