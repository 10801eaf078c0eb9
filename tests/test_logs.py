"""Logging setup: JSON for supervisord, console for people, and reconfigurable at any time."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from livetrade.logs import configure_logging


def test_json_lines_carry_level_timestamp_and_context() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    structlog.get_logger("t").info("fill", client_order_id="lt-1", symbol="A")
    entry = json.loads(out.getvalue())
    assert entry["event"] == "fill" and entry["client_order_id"] == "lt-1"
    assert entry["level"] == "info" and entry["timestamp"].endswith("Z")


def test_a_logger_used_before_reconfiguration_follows_the_new_configuration() -> None:
    """Embedding applications reconfigure logging; module-level loggers must follow."""
    logger = structlog.get_logger("livetrade.test")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=first)
    logger.info("one")
    configure_logging("json", "info", stream=second)
    logger.info("two")
    assert "one" in first.getvalue() and "two" not in first.getvalue()
    assert "two" in second.getvalue()


def test_levels_filter_and_bad_settings_are_refused() -> None:
    out = io.StringIO()
    configure_logging("json", "warning", stream=out)
    structlog.get_logger("t").info("hidden")
    assert out.getvalue() == ""
    with pytest.raises(ValueError, match="log level"):
        configure_logging("json", "loud")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml")  # type: ignore[arg-type]
