"""Config files: defaults, validation with key paths and lines, and building an engine."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from livetrade.app import build_engine
from livetrade.config import (
    CCXTBrokerSection,
    IBBrokerSection,
    LiveTradeConfig,
    PaperBrokerSection,
    ReplayFeedSection,
    load_config,
    parse_config,
)
from livetrade.errors import ConfigError, LiveTradeError
from livetrade.loader import load_strategy, parse_param

ROOT = Path(__file__).resolve().parent.parent


def test_empty_file_means_the_embedded_default() -> None:
    config = parse_config("")
    assert config == LiveTradeConfig()
    assert config.broker.type == "paper"
    assert [f.type for f in config.feeds] == ["simulated"]
    assert config.strategy.path.endswith("sma_crossover.py:SmaCrossover")


def test_money_is_exact_decimal_even_from_toml_floats() -> None:
    config = parse_config('[broker]\ninitial_cash = 1000.10\ncommission_bps = "0.5"\n')
    assert isinstance(config.broker, PaperBrokerSection)
    assert config.broker.initial_cash == Decimal("1000.10")
    assert config.broker.commission_bps == Decimal("0.5")


def test_a_broker_table_chooses_its_venue_by_type_and_keeps_secrets_secret() -> None:
    config = parse_config('[broker]\ntype = "ccxt"\nexchange = "binance"\n'
                          'api_key = "k-123"\napi_secret = "s-456"\n')
    assert isinstance(config.broker, CCXTBrokerSection)
    assert config.broker.api_secret is not None
    assert config.broker.api_secret.get_secret_value() == "s-456"
    assert "s-456" not in repr(config) and "k-123" not in repr(config)
    ib = parse_config('[broker]\ntype = "ib"\nport = 4002\n').broker
    assert isinstance(ib, IBBrokerSection) and ib.port == 4002


def test_every_problem_is_reported_with_its_line_and_key() -> None:
    text = ('[engine]\nconflate_depth = 0\n\n[[feeds]]\ntype = "simulated"\nrate_hz = -1\n'
            '[[feeds]]\ntype = "carrier-pigeon"\n[risk]\nmax_open_orders = "many"\n')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "x.toml")
    problems = caught.value.problems
    assert "x.toml:2: engine.conflate_depth: Input should be greater than 0" in problems
    assert any(p.startswith("x.toml:6: feeds.0.rate_hz") for p in problems)
    assert any(p.startswith("x.toml:7: feeds.1") and "simulated" in p for p in problems)
    assert any(p.startswith("x.toml:10: risk.max_open_orders") for p in problems)
    assert len(problems) == 4


def test_unknown_keys_are_rejected_everywhere() -> None:
    for text in ("typo = 1\n", "[broker]\ncomission_bps = 1\n", "[[feeds]]\nrate = 5\n",
                 "[strategy]\nparms = {}\n"):
        with pytest.raises(ConfigError, match="1 problem"):
            parse_config(text)


def test_invalid_toml_says_where() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[engine\n", "y.toml")
    assert "line 1" in caught.value.problems[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_config_errors_are_livetrade_errors() -> None:
    assert issubclass(ConfigError, LiveTradeError)


def test_sample_config_builds_a_complete_engine() -> None:
    config = load_config(ROOT / "examples" / "paper.toml")
    engine = build_engine(config)
    assert engine.risk.limits.max_order_notional == Decimal(5000)
    assert engine.broker.name == "paper"
    assert [f.name for f in engine.feeds] == ["simulated"]
    assert engine.orders.ids.prefix.startswith("lt")


def test_live_reconciliation_timing_comes_from_the_state_table() -> None:
    engine = build_engine(parse_config(
        "[state]\nreconcile_interval_s = 45\nreconcile_grace_s = 12.5\n"))
    assert engine.reconciler.settings.interval_s == 45
    assert engine.reconciler.settings.grace_s == 12.5
    with pytest.raises(ConfigError) as refused:
        parse_config("[state]\nreconcile_grace_s = -1\n")
    assert any("state.reconcile_grace_s" in p for p in refused.value.problems)


def test_replay_feed_section_requires_a_path() -> None:
    config = parse_config('[[feeds]]\ntype = "replay"\npath = "a.csv"\nspeed = 2\n')
    feed = config.feeds[0]
    assert isinstance(feed, ReplayFeedSection) and feed.speed == 2.0


@pytest.mark.parametrize(("text", "expected"), [
    ("fast=5", ("fast", 5)),
    ("q=2.5", ("q", Decimal("2.5"))),
    ("flag=true", ("flag", True)),
    ("name=abc", ("name", "abc")),
    ("x=nan", ("x", "nan")),
])
def test_cli_params_are_typed_without_floats(text: str, expected: tuple[str, object]) -> None:
    assert parse_param(text) == expected


def test_bad_params_and_strategy_specs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="name=value"):
        parse_param("nonsense")
    with pytest.raises(ConfigError, match="module:Class"):
        load_strategy("nocolon")
    with pytest.raises(ConfigError, match="not found"):
        load_strategy("missing/file.py:X")
    with pytest.raises(ConfigError, match="cannot import"):
        load_strategy("no_such_module_xyz:X")
    with pytest.raises(ConfigError, match="not a livetrade Strategy"):
        load_strategy("decimal:Decimal")
    with pytest.raises(ConfigError, match="rejected its parameters"):
        load_strategy("examples/sma_crossover.py:SmaCrossover", {"speed": 3})


def test_a_strategy_param_of_the_wrong_type_is_one_problem_not_four() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[strategy]\nparams = { fast = [1, 2] }\n', "p.toml")
    assert caught.value.problems == [
        "p.toml:2: strategy.params.fast: expected an integer, true/false, text or a decimal "
        "number"]
