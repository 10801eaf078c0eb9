"""The Hyperliquid row of the CCXT capability table, proven with ccxt over loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest

from livetrade.brokers.ccxt.capabilities import (
    capabilities,
    cloid_for,
    find_by_client_id,
    point_at,
)
from livetrade.errors import OrderRejectedError
from livetrade.events import OrderType, Side, TimeInForce
from livetrade.orders import OrderRequest
from livetrade.simexchange import SimExchangeConfig
from livetrade.simexchange.dialects import DialectExchange, open_sim_exchange

HL = capabilities("hyperliquid")
BTC = "BTC/USDC:USDC"


@pytest.fixture(name="client")
def client_fixture() -> Iterator[ccxt.hyperliquid]:
    sim = open_sim_exchange(SimExchangeConfig(), "hyperliquid")
    assert isinstance(sim, DialectExchange)
    sim.start()
    client = ccxt.hyperliquid({"walletAddress": sim.api_key, "privateKey": sim.api_secret,
                               "enableRateLimit": False, "timeout": 5000})
    point_at(client, HL, sim.rest_url)
    try:
        yield client
    finally:
        sim.stop()


def test_cloid_is_128_bit_hex_derived_deterministically() -> None:
    cloid = cloid_for("sma-crossover:BTC/USDC:USDC:7")
    assert re.fullmatch(r"0x[0-9a-f]{32}", cloid)
    assert cloid == HL.client_order_id("sma-crossover:BTC/USDC:USDC:7")
    assert cloid != cloid_for("sma-crossover:BTC/USDC:USDC:8")


def test_orders_hyperliquid_cannot_take_are_refused_before_sending() -> None:
    HL.check(OrderRequest(BTC, Side.SELL, Decimal("0.01"), OrderType.LIMIT,
                          limit_price=Decimal("31000"), time_in_force=TimeInForce.IOC))
    with pytest.raises(OrderRejectedError, match="no spot markets"):
        HL.check(OrderRequest("BTC/USDC", Side.BUY, Decimal("0.01")))
    with pytest.raises(OrderRejectedError, match="time in force FOK"):
        HL.check(OrderRequest(BTC, Side.BUY, Decimal("0.01"), time_in_force=TimeInForce.FOK))
    with pytest.raises(OrderRejectedError, match="cannot take a stop order"):
        HL.check(OrderRequest(BTC, Side.BUY, Decimal("0.01"), OrderType.STOP,
                              stop_price=Decimal("31000")))
    assert HL.market_order_needs_price


def test_find_by_client_id_resolves_through_order_status_by_cloid(
        client: ccxt.hyperliquid) -> None:
    client.create_order(BTC, "limit", "buy", 0.01, 29000,
                        params={"clientOrderId": cloid_for("our-1")})
    found = find_by_client_id(client, HL, BTC, "our-1")
    assert found is not None and found["status"] == "open"
    assert found["clientOrderId"] == cloid_for("our-1")
    assert find_by_client_id(client, HL, BTC, "our-2") is None
