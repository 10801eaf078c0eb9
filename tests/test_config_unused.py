"""A setting the config accepts but this version does not act on is told, never ignored.

``[broker] ws_url`` (the venue's user-data stream) is accepted so configs written ahead load,
but fills still come from each order's answer and from polling: ``livetrade config check``
prints that as a warning (and lists it in ``--json``), and building the engine logs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from livetrade.app import build_engine
from livetrade.config import parse_config, unused_settings

ROOT = Path(__file__).resolve().parents[1]
CCXT = """
[broker]
type = "ccxt"
exchange = "binance"
rest_url = "http://127.0.0.1:9"
poll_interval_s = 0.5
symbols = ["BTC/USDT"]
{extra}
"""


def ccxt_config(extra: str = "") -> str:
    return CCXT.format(extra=extra)


def test_a_config_without_unused_settings_gets_no_warning() -> None:
    assert unused_settings(parse_config("")) == []  # the paper default
    assert unused_settings(parse_config(ccxt_config())) == []


def test_a_ccxt_user_data_stream_url_is_reported_with_what_happens_instead() -> None:
    notes = unused_settings(parse_config(ccxt_config('ws_url = "ws://127.0.0.1:9"')))
    assert len(notes) == 1
    assert notes[0].startswith("broker.ws_url: ")
    assert "polling every poll_interval_s (0.5 s)" in notes[0]
    assert "127.0.0.1:9" not in notes[0]  # the value is not echoed


def test_building_the_engine_logs_each_unused_setting_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVETRADE_API_KEY", "key")
    monkeypatch.setenv("LIVETRADE_API_SECRET", "secret")
    config = parse_config(ccxt_config('ws_url = "ws://127.0.0.1:9"'))
    with capture_logs() as logs:
        build_engine(config)
    unused = [entry for entry in logs if entry["event"] == "config_setting_unused"]
    assert len(unused) == 1
    assert unused[0]["log_level"] == "warning"
    assert unused[0]["detail"].startswith("broker.ws_url: ")


def test_config_check_passes_and_prints_the_warning(tmp_path: Path) -> None:
    path = tmp_path / "ahead.toml"
    path.write_text(ccxt_config('ws_url = "ws://127.0.0.1:9"'), encoding="utf-8")

    def check(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "livetrade", "config", "check", str(path),
                               *extra], capture_output=True, text=True, cwd=ROOT, timeout=60,
                              check=False)

    human = check()
    assert human.returncode == 0, human.stderr
    assert "OK" in human.stdout
    assert "  warning: broker.ws_url: " in human.stdout
    machine = check("--json")
    assert machine.returncode == 0, machine.stderr
    document = json.loads(machine.stdout)
    assert document["ok"] is True
    assert len(document["warnings"]) == 1 and document["warnings"][0].startswith("broker.ws_url")
