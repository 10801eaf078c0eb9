"""``[monitoring]`` from a config file to a running endpoint: ``build_engine`` attaches the
monitor, ``/status`` answers over loopback, and config mistakes are ``ConfigError``s that
never show a webhook URL."""

from __future__ import annotations

import json
import urllib.request

import pytest

from livetrade.app import build_engine
from livetrade.config import parse_config
from livetrade.errors import ConfigError
from livetrade.monitoring.config import monitoring_settings

CONFIG = """
[[feeds]]
type = "simulated"
symbols = ["BTC-USD"]
rate_hz = 200
max_events = 50

[monitoring]
enabled = true
http_port = 0
token_env = "LT_UNSET_TOKEN_FOR_TEST"

[[monitoring.alerts]]
kind = "rejects"
count = 3
window_s = 60

[[monitoring.webhooks]]
url_env = "LT_TEST_WEBHOOK_URL"
format = "slack"
"""


def test_config_builds_an_engine_whose_endpoint_serves_status(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LT_TEST_WEBHOOK_URL", "http://127.0.0.1:9/secret-path")
    engine = build_engine(parse_config(CONFIG))
    assert engine.monitor is not None
    assert [r.kind for r in engine.monitor.settings.alerts] == ["rejects"]
    engine.start()
    try:
        assert engine.monitor.http is not None
        with urllib.request.urlopen(f"{engine.monitor.http.url}/status", timeout=5) as r:
            body = r.read().decode()
    finally:
        engine.stop()
    document = json.loads(body)
    assert document["state"] == "running" and document["mode"] == "live"
    assert "secret-path" not in body


def test_a_webhook_variable_that_is_not_set_is_named_not_shown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LT_TEST_WEBHOOK_URL", raising=False)
    with pytest.raises(ConfigError) as caught:
        monitoring_settings(parse_config(CONFIG))
    assert caught.value.problems == [
        "monitoring.webhooks.0: environment variable LT_TEST_WEBHOOK_URL is not set"]


def test_monitoring_is_off_unless_enabled() -> None:
    assert build_engine(parse_config("")).monitor is None
