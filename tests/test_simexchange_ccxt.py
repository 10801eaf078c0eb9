"""ccxt's real ``binance`` class against the simulator: markets, balances, orders, fills.

Each test starts its own simulator on loopback (manual prices: BTC/USDT 30000).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest
from simkit import binance_client, running_sim, sim_fixture  # noqa: F401 (`sim`)

from livetrade.simexchange import SimExchange

D = Decimal


def test_load_markets_carries_precision_and_limits(sim: SimExchange) -> None:
    markets = binance_client(sim).load_markets()
    btc = markets["BTC/USDT"]
    assert btc["id"] == "BTCUSDT" and btc["spot"] and btc["active"]
    assert btc["precision"]["amount"] == 0.00001
    assert btc["precision"]["price"] == 0.01
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0
    assert "ETH/USDT" in markets


def test_balance_shows_the_starting_account(sim: SimExchange) -> None:
    balance = binance_client(sim).fetch_balance()
    assert balance["USDT"]["free"] == 100000.0 and balance["USDT"]["used"] == 0.0


def test_market_buy_fills_at_the_last_price_with_commission_in_base(sim: SimExchange) -> None:
    client = binance_client(sim)
    order = client.create_order("BTC/USDT", "market", "buy", 0.01,
                                params={"clientOrderId": "mkt-1"})
    assert order["status"] == "closed" and order["filled"] == 0.01
    assert order["average"] == 30000.0 and order["clientOrderId"] == "mkt-1"
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}  # 10 bps of 0.01
    balances = sim.balances()
    assert balances["USDT"] == (D("99700.00000000"), D(0))
    assert balances["BTC"] == (D("0.00999000"), D(0))


def test_limit_order_rests_locks_quote_and_fills_when_the_price_crosses(
        sim: SimExchange) -> None:
    client = binance_client(sim)
    order = client.create_order("BTC/USDT", "limit", "buy", 0.1, 29000)
    assert order["status"] == "open"
    assert sim.balances()["USDT"] == (D("97100.00000000"), D("2900.00000000"))
    sim.set_price("BTC/USDT", D("29500"))
    assert client.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    sim.set_price("BTC/USDT", D("28990"))
    filled = client.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed" and filled["average"] == 29000.0  # at the limit
    assert sim.balances()["USDT"] == (D("97100.00000000"), D(0))


def test_sell_locks_base_and_cannot_oversell(sim: SimExchange) -> None:
    client = binance_client(sim)
    client.create_order("BTC/USDT", "market", "buy", 0.01)
    client.create_order("BTC/USDT", "limit", "sell", 0.00999, 31000)
    assert sim.balances()["BTC"] == (D(0), D("0.00999"))
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("BTC/USDT", "market", "sell", 0.001)


@pytest.fixture
def thin_sim() -> Iterator[SimExchange]:
    """Orders get at most half of each price step's volume."""
    with running_sim(participation=D("0.5")) as started:
        yield started


def test_partial_fill_then_complete(thin_sim: SimExchange) -> None:
    client = binance_client(thin_sim)
    thin_sim.set_price("BTC/USDT", D("30000"), volume=D("10"))
    client.create_order("BTC/USDT", "market", "buy", 1)  # fills 1 (cap 5)
    order = client.create_order("BTC/USDT", "limit", "sell", 0.9, 31000,
                                params={"clientOrderId": "part-2"})
    thin_sim.set_price("BTC/USDT", D("31000"), volume=D("1"))  # cap 0.5
    partial = client.fetch_order(None, "BTC/USDT", {"clientOrderId": "part-2"})
    assert partial["status"] == "open" and partial["filled"] == 0.5
    assert partial["remaining"] == pytest.approx(0.4)
    thin_sim.set_price("BTC/USDT", D("31005"), volume=D("1"))
    done = client.fetch_order(order["id"], "BTC/USDT")
    assert done["status"] == "closed" and done["filled"] == 0.9
    trades = client.fetch_my_trades("BTC/USDT")
    assert [t["amount"] for t in trades if t["order"] == order["id"]] == [0.5, 0.4]


def test_cancel_releases_the_lock(sim: SimExchange) -> None:
    client = binance_client(sim)
    order = client.create_order("BTC/USDT", "limit", "buy", 0.1, 29000)
    canceled = client.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert sim.balances()["USDT"] == (D("100000"), D(0))
    assert client.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"


def test_fetch_order_by_client_id_sends_orig_client_order_id(sim: SimExchange) -> None:
    client = binance_client(sim)
    placed = client.create_order("ETH/USDT", "limit", "buy", 1, 1900,
                                 params={"clientOrderId": "lt-abc-1"})
    found = client.fetch_order(None, "ETH/USDT", {"clientOrderId": "lt-abc-1"})
    assert found["id"] == placed["id"] and found["clientOrderId"] == "lt-abc-1"
    assert "origClientOrderId=lt-abc-1" in client.last_request_url


def test_open_orders_with_and_without_symbol(sim: SimExchange) -> None:
    client = binance_client(sim)
    client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000)
    client.create_order("ETH/USDT", "limit", "buy", 1, 1900)
    done = client.create_order("ETH/USDT", "market", "buy", 1)
    assert done["status"] == "closed"
    assert len(client.fetch_open_orders()) == 2
    assert [o["symbol"] for o in client.fetch_open_orders("ETH/USDT")] == ["ETH/USDT"]


def test_my_trades_lists_every_fill_with_fees(sim: SimExchange) -> None:
    client = binance_client(sim)
    client.create_order("ETH/USDT", "market", "buy", 2)
    client.create_order("ETH/USDT", "market", "sell", 1)
    trades = client.fetch_my_trades("ETH/USDT")
    assert [(t["side"], t["amount"], t["price"]) for t in trades] == [
        ("buy", 2.0, 2000.0), ("sell", 1.0, 2000.0)]
    assert trades[1]["fee"] == {"currency": "USDT", "cost": 2.0}  # 10 bps of 2000
    assert sim.trades("ETH/USDT")[0]["qty"] == "2.00000000"


def test_ioc_and_fok_do_not_rest(sim: SimExchange) -> None:
    client = binance_client(sim)
    ioc = client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                              params={"timeInForce": "IOC"})
    fok = client.create_order("BTC/USDT", "limit", "buy", 0.01, 31000,
                              params={"timeInForce": "FOK"})
    assert ioc["status"] == "expired" and fok["status"] == "closed"
    assert client.fetch_open_orders() == []


def test_ticker_book_and_klines_follow_the_price_steps(sim: SimExchange) -> None:
    client = binance_client(sim)
    sim.set_price("BTC/USDT", D("30100"), volume=D("2"))
    sim.set_price("BTC/USDT", D("30050"), volume=D("1"))
    ticker = client.fetch_ticker("BTC/USDT")
    assert ticker["last"] == 30050.0 and ticker["bid"] == 30049.99 and ticker["ask"] == 30050.01
    book = client.fetch_order_book("BTC/USDT", 5)
    assert book["bids"][0][0] == 30049.99 and book["asks"][0][0] == 30050.01
    candles = client.fetch_ohlcv("BTC/USDT", "1m")
    assert candles[-1][2] >= 30100.0 and candles[-1][4] == 30050.0
    assert client.fetch_time() > 0


def test_orders_view_lists_every_accepted_order(sim: SimExchange) -> None:
    client = binance_client(sim)
    client.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "v-1"})
    client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000, params={"clientOrderId": "v-2"})
    assert [(o["clientOrderId"], o["status"]) for o in sim.orders("BTC/USDT")] == [
        ("v-1", "FILLED"), ("v-2", "NEW")]


def test_market_buy_by_cost_sends_quote_order_qty(sim: SimExchange) -> None:
    client = binance_client(sim)
    order = client.create_market_buy_order_with_cost("BTC/USDT", 600)
    assert "quoteOrderQty=600" in str(client.last_request_body)
    assert order["status"] == "closed" and order["filled"] == 0.02  # 600 / 30000


def test_new_order_resp_type_ack_result_full(sim: SimExchange) -> None:
    client = binance_client(sim)
    shapes = {}
    for kind in ("ACK", "RESULT", "FULL"):
        reply = client.private_post_order({
            "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
            "newClientOrderId": f"resp-{kind}", "newOrderRespType": kind})
        shapes[kind] = set(reply)
    assert shapes["ACK"] == {"symbol", "orderId", "orderListId", "clientOrderId",
                             "transactTime"}
    assert {"status", "executedQty", "cummulativeQuoteQty"} <= shapes["RESULT"]
    assert "fills" not in shapes["RESULT"] and shapes["FULL"] == shapes["RESULT"] | {"fills"}
