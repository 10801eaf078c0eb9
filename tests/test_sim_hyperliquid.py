"""ccxt's real ``hyperliquid`` class against ``livetrade sim-exchange --dialect hyperliquid``.

Perpetuals margined in USDC: markets, balance, market (Ioc at a slippage price) and limit
orders, partial fills, cancel by oid and by cloid, lookup by cloid, open orders, fills,
positions, signatures recovered and checked against the wallet, error statuses mapped by
ccxt, the ``trades``/``allMids`` websocket, and a dropped ``/exchange`` response ending
with exactly one order.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
import websocket

from livetrade.simexchange import FaultConfig, SimExchangeConfig
from livetrade.simexchange.dialects import DialectExchange, open_sim_exchange
from livetrade.simexchange.hyperliquid.signing import new_wallet

BTC, ETH = "BTC/USDC:USDC", "ETH/USDC:USDC"


def cloid(n: int) -> str:
    return f"0x{n:032x}"


def start_hyperliquid(state_dir: Path | None = None) -> DialectExchange:
    sim = open_sim_exchange(SimExchangeConfig(state_dir=state_dir), "hyperliquid")
    assert isinstance(sim, DialectExchange)
    return sim.start()


@pytest.fixture(name="sim")
def sim_fixture() -> Iterator[DialectExchange]:
    sim = start_hyperliquid()
    try:
        yield sim
    finally:
        sim.stop()


def hl_client(sim: DialectExchange, private_key: str | None = None,
              timeout_ms: int = 5000) -> ccxt.hyperliquid:
    """ccxt's ``hyperliquid`` pointed at the simulator: perpetuals only, no builder fee."""
    client = ccxt.hyperliquid({
        "walletAddress": sim.api_key,
        "privateKey": private_key if private_key is not None else sim.api_secret,
        "enableRateLimit": False, "timeout": timeout_ms,
        "options": {"fetchMarkets": {"types": ["swap"]}, "builderFee": False},
    })
    client.urls["api"] = {"public": sim.rest_url, "private": sim.rest_url}
    return client


def test_markets_are_usdc_perpetuals_with_five_significant_figures(
        sim: DialectExchange) -> None:
    markets = hl_client(sim).load_markets()
    assert set(markets) == {BTC, ETH}
    btc = markets[BTC]
    assert btc["swap"] and btc["linear"] and btc["settle"] == "USDC" and btc["id"] == "0"
    assert btc["precision"]["price"] == 1 and markets[ETH]["precision"]["price"] == 0.1
    assert btc["limits"]["cost"]["min"] == 10


def test_balance_is_the_usdc_margin_account(sim: DialectExchange) -> None:
    balance = hl_client(sim).fetch_balance()
    assert balance["USDC"]["total"] == 100000 and balance["USDC"]["used"] == 0


def test_market_order_fills_at_the_last_price_and_opens_a_long(sim: DialectExchange) -> None:
    client = hl_client(sim)
    order = client.create_order(BTC, "market", "buy", 0.01, 30000,
                                params={"clientOrderId": cloid(1)})
    assert order["filled"] == 0.01 and order["average"] == 30000
    assert order["clientOrderId"] == cloid(1)
    position = client.fetch_positions([BTC])[0]
    assert position["side"] == "long" and position["contracts"] == 0.01
    assert position["entryPrice"] == 30000 and position["leverage"] == 10
    balance = client.fetch_balance()["USDC"]
    assert balance["used"] == pytest.approx(30)  # 300 notional at 10x
    assert balance["total"] == pytest.approx(100000 - 0.3)  # 10 bps taker fee


def test_limit_order_rests_then_fills_and_reports_its_status(sim: DialectExchange) -> None:
    client = hl_client(sim)
    order = client.create_order(ETH, "limit", "sell", 0.5, 2010.5,
                                params={"clientOrderId": cloid(2)})
    opened = client.fetch_open_orders(ETH)
    assert [o["id"] for o in opened] == [order["id"]]
    assert opened[0]["price"] == 2010.5 and opened[0]["side"] == "sell"
    sim.set_price(ETH, Decimal("2011"))
    assert client.fetch_open_orders(ETH) == []
    assert client.fetch_order(order["id"], ETH)["status"] == "closed"
    assert sim.positions()[ETH].quantity == Decimal("-0.5")


def test_partial_fill_leaves_the_rest_resting(sim: DialectExchange) -> None:
    client = hl_client(sim)
    sim.faults.set(FaultConfig(partial_fill_fraction=0.5))
    order = client.create_order(BTC, "limit", "buy", 0.02, 30000,
                                params={"clientOrderId": cloid(3)})
    status = client.fetch_order(order["id"], BTC)
    assert status["status"] == "open" and status["remaining"] == 0.01
    sim.set_price(BTC, Decimal("29990"))
    assert client.fetch_order(order["id"], BTC)["status"] == "closed"
    assert [t["amount"] for t in client.fetch_my_trades(BTC)] == [0.01, 0.01]


def test_ioc_that_cannot_match_is_an_invalid_order(sim: DialectExchange) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="could not immediately match"):
        hl_client(sim).create_order(BTC, "limit", "buy", 0.01, 29000,
                                    params={"timeInForce": "ioc"})


def test_cancel_by_oid_and_by_cloid(sim: DialectExchange) -> None:
    client = hl_client(sim)
    first = client.create_order(BTC, "limit", "buy", 0.01, 29000,
                                params={"clientOrderId": cloid(4)})
    client.create_order(BTC, "limit", "buy", 0.01, 29001, params={"clientOrderId": cloid(5)})
    client.cancel_order(first["id"], BTC)
    client.cancel_order("", BTC, {"clientOrderId": cloid(5)})
    assert client.fetch_open_orders() == []
    assert client.fetch_order(first["id"], BTC)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(first["id"], BTC)


def test_lookup_by_cloid_and_unknown_oid(sim: DialectExchange) -> None:
    client = hl_client(sim)
    client.create_order(BTC, "limit", "sell", 0.01, 31000, params={"clientOrderId": cloid(6)})
    found = client.fetch_order("", BTC, {"clientOrderId": cloid(6)})
    assert found["clientOrderId"] == cloid(6) and found["status"] == "open"
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("", BTC, {"clientOrderId": cloid(99)})


def test_fills_show_direction_and_closed_pnl(sim: DialectExchange) -> None:
    client = hl_client(sim)
    client.create_order(BTC, "market", "buy", 0.02, 30000)
    sim.set_price(BTC, Decimal("30500"))
    client.create_order(BTC, "market", "sell", 0.01, 30500)
    fills = client.fetch_my_trades(BTC)
    assert [f["info"]["dir"] for f in fills] == ["Open Long", "Close Long"]
    assert fills[1]["info"]["closedPnl"] == "5.0"
    assert fills[1]["takerOrMaker"] == "taker" and fills[1]["fee"]["currency"] == "USDC"
    assert sim.positions()[BTC].quantity == Decimal("0.01")


def test_a_signature_by_another_key_is_refused(sim: DialectExchange) -> None:
    _, stranger = new_wallet()
    client = hl_client(sim, private_key=stranger)
    with pytest.raises(ccxt.InvalidOrder, match="User or API Wallet"):
        client.create_order(BTC, "limit", "buy", 0.01, 29000)
    assert sim.venue_orders() == []


def test_errors_map_to_ccxt_exception_types(sim: DialectExchange) -> None:
    client = hl_client(sim)
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(BTC, "limit", "buy", 50, 29000)
    with pytest.raises(ccxt.InvalidOrder, match=r"minimum value of \$10"):
        client.create_order(BTC, "limit", "buy", 0.0003, 29000)
    with pytest.raises(ccxt.InvalidOrder, match="Reduce only"):
        client.create_order(BTC, "market", "sell", 0.01, 30000, params={"reduceOnly": True})
    sim.faults.set(FaultConfig(error_rate=1.0))
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_balance()
    sim.faults.set(FaultConfig(rate_limit_rate=1.0))
    with pytest.raises(ccxt.RateLimitExceeded):
        client.fetch_balance()


def test_dropped_exchange_response_leaves_exactly_one_order_found_by_cloid(
        sim: DialectExchange) -> None:
    client = hl_client(sim, timeout_ms=2000)
    client.load_markets()
    sim.faults.set(FaultConfig(timeout_rate=1.0, scope=("POST /exchange",)))
    with pytest.raises(ccxt.NetworkError):
        client.create_order(BTC, "limit", "buy", 0.01, 29500,
                            params={"clientOrderId": cloid(7)})
    sim.faults.clear()
    found = client.fetch_order("", BTC, {"clientOrderId": cloid(7)})
    assert found["status"] == "open"
    assert [o.client_order_id for o in sim.venue_orders()] == [cloid(7)]


def test_trades_and_all_mids_subscriptions(sim: DialectExchange) -> None:
    ws = websocket.create_connection(sim.ws_url + "/ws", timeout=5)
    try:
        for subscription in ({"type": "trades", "coin": "BTC"}, {"type": "allMids"}):
            ws.send(json.dumps({"method": "subscribe", "subscription": subscription}))
            assert json.loads(ws.recv())["channel"] == "subscriptionResponse"
        sim.set_price(BTC, Decimal("30100"), Decimal("0.5"))
        frames = {f["channel"]: f["data"] for f in (json.loads(ws.recv()) for _ in range(2))}
        assert frames["trades"][0]["px"] == "30100.0" and frames["trades"][0]["sz"] == "0.5"
        assert frames["allMids"]["mids"] == {"BTC": "30100.0", "ETH": "2000.0"}
        sim.set_price(ETH, Decimal("2001"))  # no ETH trades subscription: allMids only
        assert json.loads(ws.recv())["channel"] == "allMids"
        ws.send(json.dumps({"method": "ping"}))
        assert json.loads(ws.recv()) == {"channel": "pong"}
    finally:
        ws.close()


def test_wallet_and_position_survive_a_restart(tmp_path: Path) -> None:
    sim = start_hyperliquid(tmp_path)
    try:
        hl_client(sim).create_order(BTC, "market", "sell", 0.03, 30000)
        wallet = sim.api_key
    finally:
        sim.stop()
    again = start_hyperliquid(tmp_path)
    try:
        assert again.api_key == wallet
        assert hl_client(again).fetch_positions([BTC])[0]["contracts"] == 0.03
    finally:
        again.stop()


def test_cli_dialect_hyperliquid_serves_ccxt_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "livetrade", "sim-exchange", "--dialect", "hyperliquid",
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["dialect"] == "hyperliquid" and info["symbols"] == [BTC, ETH]
        client = ccxt.hyperliquid({"walletAddress": info["api_key"],
                                   "privateKey": info["api_secret"], "timeout": 5000,
                                   "options": {"fetchMarkets": {"types": ["swap"]}}})
        client.urls["api"] = {"public": info["rest_url"], "private": info["rest_url"]}
        assert client.fetch_balance()["USDC"]["total"] == 100000
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_wrong_field_types_are_refused_with_422(sim: DialectExchange) -> None:
    request = urllib.request.Request(
        sim.rest_url + "/info", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"type": "userFillsByTime", "user": sim.api_key,
                         "startTime": "yesterday"}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 422
    assert hl_client(sim).fetch_balance()["USDC"]["total"] == 100000  # still serving
