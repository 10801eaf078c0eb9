"""The whole stack against the exchange simulator: config → engine → ResilientBroker →
CCXTAdapter (ccxt's real binance class) and BinanceStreamFeed (websocket-client), loopback."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from pathlib import Path

import pytest
from kit import wait_until
from simkit import running_sim

from livetrade.app import build_engine
from livetrade.brokers.ccxt.adapter import CCXTAdapter
from livetrade.config import load_config
from livetrade.errors import ConfigError
from livetrade.feeds.binance_stream import BinanceStreamFeed
from livetrade.resilience.guarded import ResilientBroker
from livetrade.resilience.shadow import ShadowingBroker
from livetrade.simexchange import SimExchange

ROOT = Path(__file__).resolve().parent.parent


def sim_config(tmp_path: Path, sim: SimExchange, *, poll_s: float = 0.1) -> Path:
    text = (ROOT / "examples" / "sim-exchange.toml").read_text()
    text = text.replace('"http://127.0.0.1:8900"', f'"{sim.rest_url}"')
    text = text.replace('"ws://127.0.0.1:8901"', f'"{sim.ws_url}"')
    text = text.replace("poll_interval_s = 1.0", f"poll_interval_s = {poll_s}")
    text = text.replace("params = { fast = 5, slow = 20, quantity = \"0.01\" }",
                        "params = { fast = 3, slow = 8, quantity = \"0.01\" }")
    text = text.replace("enable_rate_limit = true", "enable_rate_limit = false")
    path = tmp_path / "sim.toml"
    path.write_text(text)
    return path


def wave(step: int) -> Decimal:
    """A price path that crosses its own averages every ~20 steps."""
    return Decimal(30000 + round(400 * math.sin(step / 6))).quantize(Decimal("0.01"))


def test_the_example_strategy_trades_end_to_end_and_the_books_agree(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim() as sim:
        monkeypatch.setenv("LIVETRADE_API_KEY", sim.api_key)
        monkeypatch.setenv("LIVETRADE_API_SECRET", sim.api_secret)
        engine = build_engine(load_config(sim_config(tmp_path, sim)))
        assert isinstance(engine.broker, ShadowingBroker)
        assert isinstance(engine.broker.live.inner, CCXTAdapter)
        engine.start()
        try:
            feed = engine.feeds[0]
            assert isinstance(feed, BinanceStreamFeed)
            assert wait_until(lambda: feed.health().connected, 10)
            for step in range(120):  # paced like a market: orders settle between crosses
                sim.set_price("BTC/USDT", wave(step), volume=Decimal(1))
                time.sleep(0.02)
            placed = wait_until(lambda: len(sim.orders()) >= 4, 15)
            assert placed, f"the strategy traded only {len(sim.orders())} time(s)"

            def agree() -> bool:
                btc_free, btc_locked = sim.balances().get("BTC", (Decimal(0), Decimal(0)))
                usdt_free, usdt_locked = sim.balances()["USDT"]
                status = engine.status()
                return (engine.orders.open_orders() == ()
                        and status.positions.get("BTC/USDT", Decimal(0)) == btc_free + btc_locked
                        and status.cash == usdt_free + usdt_locked)
            assert wait_until(agree, 15), (engine.status(), sim.balances())
        finally:
            engine.stop()
        client_ids = [o["clientOrderId"] for o in sim.orders()]
        assert len(client_ids) == len(set(client_ids))  # nothing sent twice
        assert engine.status().fills >= len(client_ids)


def test_a_ccxt_broker_without_credentials_is_a_config_error(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.delenv("LIVETRADE_API_KEY", raising=False)
    monkeypatch.delenv("LIVETRADE_API_SECRET", raising=False)
    with running_sim() as sim, pytest.raises(ConfigError) as info:
        build_engine(load_config(sim_config(tmp_path, sim)))
    assert "LIVETRADE_API_KEY" in str(info.value.problems)


def test_the_resilience_layer_wraps_the_ccxt_adapter_when_degrade_is_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim() as sim:
        monkeypatch.setenv("LIVETRADE_API_KEY", sim.api_key)
        monkeypatch.setenv("LIVETRADE_API_SECRET", sim.api_secret)
        path = sim_config(tmp_path, sim)
        path.write_text(path.read_text() + "\n[resilience]\ndegrade_to_paper = false\n")
        engine = build_engine(load_config(path))
        assert isinstance(engine.broker, ResilientBroker)
        assert isinstance(engine.broker.inner, CCXTAdapter)
