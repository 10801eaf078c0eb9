"""The Bybit row of the CCXT capability table, proven with ccxt's bybit over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest
from pydantic import SecretStr

from livetrade.brokers.ccxt.capabilities import capabilities, find_by_client_id, point_at
from livetrade.brokers.ccxt.factory import build_exchange
from livetrade.config import CCXTBrokerSection
from livetrade.errors import ConfigError, OrderRejectedError
from livetrade.events import OrderType, Side, TimeInForce
from livetrade.orders import OrderRequest
from livetrade.simexchange import SimExchangeConfig
from livetrade.simexchange.dialects import DialectExchange, open_sim_exchange

BYBIT = capabilities("bybit")
PERP = "BTC/USDT:USDT"


@pytest.fixture(name="client")
def client_fixture() -> Iterator[ccxt.bybit]:
    sim = open_sim_exchange(SimExchangeConfig(), "bybit")
    assert isinstance(sim, DialectExchange)
    sim.start()
    client = ccxt.bybit({"apiKey": sim.api_key, "secret": sim.api_secret,
                         "enableRateLimit": False, "timeout": 5000})
    point_at(client, BYBIT, sim.rest_url)
    try:
        yield client
    finally:
        sim.stop()


def request(symbol: str, kind: OrderType = OrderType.LIMIT,
            tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    return OrderRequest(symbol, Side.BUY, Decimal("0.01"), kind,
                        limit_price=Decimal("29000"), stop_price=Decimal("29500"),
                        time_in_force=tif)


def test_orders_bybit_cannot_take_are_refused_before_sending() -> None:
    BYBIT.check(request("BTC/USDT"))
    BYBIT.check(request(PERP, OrderType.MARKET, TimeInForce.IOC))
    with pytest.raises(OrderRejectedError, match="cannot take a stop_limit order"):
        BYBIT.check(request(PERP, OrderType.STOP_LIMIT))
    with pytest.raises(OrderRejectedError, match="time in force DAY"):
        BYBIT.check(request("BTC/USDT", tif=TimeInForce.DAY))
    with pytest.raises(ConfigError):
        capabilities("kraken")


def test_order_link_id_is_our_id_or_a_stable_hash_within_36_safe_characters() -> None:
    assert BYBIT.client_order_id("strat-1_42") == "strat-1_42"
    long_id = "sma-crossover:BTC/USDT:2026-11-25T23:00:00:000001"
    wire = BYBIT.client_order_id(long_id)
    assert wire == BYBIT.client_order_id(long_id) and len(wire) == 36
    assert wire.replace("-", "").isalnum()


def test_find_by_client_id_sees_open_finished_and_missing_orders(client: ccxt.bybit) -> None:
    our_open, our_done = "sma:open/1", "sma:done/2"
    client.create_order(PERP, "limit", "buy", 0.01, 29000,
                        params={"clientOrderId": BYBIT.client_order_id(our_open)})
    client.create_order(PERP, "market", "buy", 0.01,
                        params={"clientOrderId": BYBIT.client_order_id(our_done)})
    opened = find_by_client_id(client, BYBIT, PERP, our_open)
    done = find_by_client_id(client, BYBIT, PERP, our_done)
    assert opened is not None and opened["status"] == "open"
    assert done is not None and done["status"] == "closed" and done["filled"] == 0.01
    assert find_by_client_id(client, BYBIT, PERP, "never-sent") is None


def test_the_factory_gives_a_real_bybit_client_the_options_it_cannot_work_without() -> None:
    section = CCXTBrokerSection(type="ccxt", exchange="bybit", api_key=SecretStr("k"),
                                api_secret=SecretStr("s"), symbols=[PERP])
    exchange, _ = build_exchange(section)  # no rest_url: the real venue
    assert exchange.options["fetchOrder"] == {"acknowledged": True}
    assert exchange.urls["api"]["private"] == "https://api.{hostname}"  # the venue itself
