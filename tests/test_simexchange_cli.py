"""``livetrade sim-exchange`` as a real process: prints where to connect, serves ccxt,
stops on SIGTERM keeping its state, and refuses to listen beyond loopback by mistake."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ccxt

from livetrade.cli.main import main


@contextmanager
def sim_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "livetrade", "sim-exchange", "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the simulator is listening
        assert line, process.stderr.read() if process.stderr else "no output"
        yield process, json.loads(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def client_for(info: dict[str, Any]) -> ccxt.binance:
    client = ccxt.binance({"apiKey": info["api_key"], "secret": info["api_secret"],
                           "enableRateLimit": False, "timeout": 5000,
                           "options": {"fetchMarkets": {"types": ["spot"]},
                                       "fetchCurrencies": False, "fetchMargins": False}})
    base = info["rest_url"] + "/api/v3"
    client.urls["api"] = {"public": base, "private": base}
    return client


def test_serves_ccxt_stops_on_sigterm_and_restarts_on_its_state(tmp_path: Path) -> None:
    state = str(tmp_path / "sim")
    with sim_process("--state", state) as (process, info):
        assert info["rest_url"].startswith("http://127.0.0.1:")
        assert info["ws_url"].startswith("ws://127.0.0.1:")
        assert info["admin_url"] == info["rest_url"] + "/admin"
        order = client_for(info).create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                                              params={"clientOrderId": "cli-1"})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        assert info["api_secret"] not in process.stderr.read()  # never logged
    with sim_process("--state", state) as (process, again):
        assert again["api_key"] == info["api_key"]  # the generated key was kept
        found = client_for(again).fetch_order(None, "BTC/USDT", {"clientOrderId": "cli-1"})
        assert found["id"] == order["id"] and found["status"] == "open"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_refuses_a_non_loopback_host(capsys: Any) -> None:
    assert main(["sim-exchange", "--host", "0.0.0.0"]) == 1
    assert "loopback" in capsys.readouterr().err


def test_bad_options_are_reported(capsys: Any) -> None:
    assert main(["sim-exchange", "--price-source", "replay", "/nonexistent.csv"]) == 1
    assert main(["sim-exchange", "--fault-error-rate", "2"]) == 1
    err = capsys.readouterr().err
    assert "replay file not found" in err and "error_rate" in err
