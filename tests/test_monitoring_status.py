"""``livetrade status URL`` against a running engine's endpoint over loopback: the table,
``--json``, the token from the environment, and the exit codes."""

from __future__ import annotations

import json
import socket

import pytest
from kit import RecordingStrategy, md, wait_until

from livetrade.brokers.paper import PaperBroker
from livetrade.cli.main import main
from livetrade.engine import LiveTradingEngine
from livetrade.events import MarketData
from livetrade.monitoring import EngineMonitor, MonitoringSettings
from livetrade.orders import ClientOrderIdGenerator


def buy_once(strategy: RecordingStrategy, event: MarketData) -> None:
    if len(strategy.of("market_data")) == 1:
        strategy.ctx.buy(event.symbol, 3)


def test_status_prints_the_running_engine_as_a_table_and_as_json(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LT_STATUS_TOKEN", "tok-123")
    monitor = EngineMonitor(MonitoringSettings(http_port=0, token_env="LT_STATUS_TOKEN"))
    strategy = RecordingStrategy(on_bar=buy_once)
    engine = LiveTradingEngine(strategy, broker=PaperBroker(), monitor=monitor,
                               order_ids=ClientOrderIdGenerator("st"))
    engine.start()
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("fill")) == 1)
        assert wait_until(lambda: engine.dispatcher.queue_depth == 0)
        assert monitor.http is not None
        url = monitor.http.url
        table_code = main(["status", url, "--token-env", "LT_STATUS_TOKEN"])
        table = capsys.readouterr().out
        json_code = main(["status", url, "--json", "--token-env", "LT_STATUS_TOKEN"])
        out = capsys.readouterr().out  # log lines may share stdout: take the document
        document = json.loads(out[out.index("{\n"):out.index("\n}") + 2])
        refused = main(["status", url, "--token-env", "LT_NO_SUCH_VARIABLE"])
        refused_err = capsys.readouterr().err
    finally:
        engine.stop()
    assert table_code == 0 and json_code == 0
    assert "running (mode live)" in table
    assert "AAPL" in table and "positions" in table
    assert document["positions"]["AAPL"]["quantity"] == "3"
    assert document["orders"]["fills"] == 1
    assert refused == 1 and "HTTP 401" in refused_err and "tok-123" not in refused_err


def test_status_of_nothing_listening_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["status", f"http://127.0.0.1:{port}", "--timeout", "2"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_status_exit_2_lists_why_not_ready(capsys: pytest.CaptureFixture[str]) -> None:
    monitor = EngineMonitor(MonitoringSettings(http_port=0, token_env=""))
    engine = LiveTradingEngine(RecordingStrategy(), broker=PaperBroker(), monitor=monitor)
    engine.start()
    try:
        engine.engage_kill_switch("operator drill")
        assert monitor.http is not None
        code = main(["status", monitor.http.url])
    finally:
        engine.stop()
    assert code == 2
    assert "mode is halted: operator drill" in capsys.readouterr().out
