"""With a state directory the simulator's account, orders, trades, id counters, last
prices and credentials survive a restart, and a client reconnects to the same port."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import ccxt
import diskcache
import pytest
from simkit import binance_client, running_sim

from livetrade.errors import StateError
from livetrade.simexchange import SimExchange, SimExchangeConfig
from livetrade.simexchange.store import VenueStore

D = Decimal


def test_account_orders_trades_and_prices_survive_a_restart(tmp_path: Path) -> None:
    with running_sim(tmp_path) as first:
        client = binance_client(first)
        client.create_order("BTC/USDT", "market", "buy", 0.1, params={"clientOrderId": "p-1"})
        resting = client.create_order("BTC/USDT", "limit", "sell", 0.05, 31000,
                                      params={"clientOrderId": "p-2"})
        first.set_price("ETH/USDT", D("2100"))
        port, balances = first.port, first.balances()
        key, secret = first.api_key, first.api_secret
    with running_sim(tmp_path, port=port) as second:
        assert (second.api_key, second.api_secret) == (key, secret)
        assert second.balances() == balances
        assert client.fetch_order(None, "BTC/USDT", {"clientOrderId": "p-2"})["status"] == "open"
        assert client.fetch_ticker("ETH/USDT")["last"] == 2100.0
        second.set_price("BTC/USDT", D("31000"))  # the resting order still matches
        assert client.fetch_order(resting["id"], "BTC/USDT")["status"] == "closed"
        third = client.create_order("BTC/USDT", "market", "buy", 0.01)
        assert third["id"] == "3"  # counters continue
        trade_ids = [t["id"] for t in client.fetch_my_trades("BTC/USDT")]
        assert trade_ids == ["1", "2", "3"]
        assert [o["clientOrderId"] for o in second.orders()][:2] == ["p-1", "p-2"]


def test_a_fresh_directory_starts_from_the_configured_balances(tmp_path: Path) -> None:
    with running_sim(tmp_path / "new", balances={"USDT": D("5000"), "BTC": D("1")}) as sim:
        assert sim.balances() == {"BTC": (D(1), D(0)), "USDT": (D(5000), D(0))}


def test_configured_balances_do_not_overwrite_a_stored_account(tmp_path: Path) -> None:
    with running_sim(tmp_path) as first:
        binance_client(first).create_order("ETH/USDT", "market", "buy", 1)
        stored = first.balances()
    with running_sim(tmp_path, balances={"USDT": D("1")}) as second:
        assert second.balances() == stored


def test_other_credentials_are_refused_after_a_restart(tmp_path: Path) -> None:
    with running_sim(tmp_path) as first:
        port = first.port
    with running_sim(tmp_path, port=port, api_key="other", api_secret="s" * 64) as second:
        with pytest.raises(ccxt.AuthenticationError):
            binance_client(second, api_key="nope", secret="x" * 64).fetch_balance()
        assert binance_client(second).fetch_balance()["USDT"]["free"] == 100000.0


def test_a_corrupt_state_is_a_state_error(tmp_path: Path) -> None:
    damaged = diskcache.Cache(str(tmp_path))  # the same directory, written badly
    damaged.set("meta", "{not json")
    damaged.close()
    with pytest.raises(StateError):
        VenueStore(tmp_path).load()


def test_a_simulator_never_started_stops_at_once(tmp_path: Path) -> None:
    sim = SimExchange(SimExchangeConfig(state_dir=tmp_path))
    sim.stop()
    assert VenueStore(tmp_path).load() is not None  # the fresh account was written
