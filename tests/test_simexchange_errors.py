"""Binance's refusals: what the simulator rejects, with which code, and which ccxt exception
the real ``binance`` class raises for it. Raw HTTP requests check what ccxt cannot send
(bad signatures, stale timestamps, malformed parameters)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import ccxt
import pytest
from simkit import binance_client, running_sim, sim_fixture  # noqa: F401 (`sim`)

from livetrade.simexchange import FaultConfig, SimExchange

D = Decimal


def raw(sim: SimExchange, method: str, path: str, params: dict[str, Any], *,
        key: str | None = "sim", secret: str | None = None, sign: bool = True,
        in_body: bool = False) -> tuple[int, dict[str, str], Any]:
    """One hand-made request: (status, headers, JSON body)."""
    query = urlencode(params)
    if sign:
        digest = hmac.new((secret or sim.api_secret).encode(), query.encode(), hashlib.sha256)
        query += "&signature=" + digest.hexdigest()
    headers = {} if key is None else {"X-MBX-APIKEY": sim.api_key if key == "sim" else key}
    url = urlsplit(sim.rest_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    try:
        if in_body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=query, headers=headers)
        else:
            conn.request(method, f"{path}?{query}", headers=headers)
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), json.loads(reply.read())
    finally:
        conn.close()


def now_ms() -> int:
    return int(time.time() * 1000)


# -- signing and time ------------------------------------------------------------------


def test_bad_signature_is_1022_and_an_authentication_error(sim: SimExchange) -> None:
    status, _, body = raw(sim, "GET", "/api/v3/account", {"timestamp": now_ms()},
                          secret="0" * 64)
    assert (status, body["code"]) == (400, -1022)
    assert body["msg"] == "Signature for this request is not valid."
    with pytest.raises(ccxt.AuthenticationError):
        binance_client(sim, secret="f" * 64).fetch_balance()


def test_a_changed_parameter_breaks_the_signature(sim: SimExchange) -> None:
    query = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                       "quantity": "0.01", "timestamp": now_ms()})
    signature = hmac.new(sim.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    tampered = query.replace("quantity=0.01", "quantity=0.02") + "&signature=" + signature
    url = urlsplit(sim.rest_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    conn.request("POST", "/api/v3/order", body=tampered,
                 headers={"X-MBX-APIKEY": sim.api_key,
                          "Content-Type": "application/x-www-form-urlencoded"})
    body = json.loads(conn.getresponse().read())
    conn.close()
    assert body["code"] == -1022 and sim.orders() == []


def test_signature_in_the_body_and_params_in_the_query_are_both_covered(
        sim: SimExchange) -> None:
    status, _, body = raw(sim, "POST", "/api/v3/order",
                          {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                           "quantity": "0.01", "timestamp": now_ms()}, in_body=True)
    assert status == 200 and body["status"] == "FILLED"


def test_missing_unknown_or_malformed_api_key(sim: SimExchange) -> None:
    assert raw(sim, "GET", "/api/v3/account", {"timestamp": now_ms()}, key=None)[2][
        "code"] == -2014
    assert raw(sim, "GET", "/api/v3/account", {"timestamp": now_ms()}, key="a b")[2][
        "code"] == -2014
    status, _, body = raw(sim, "GET", "/api/v3/account", {"timestamp": now_ms()},
                          key="deadbeef")
    assert (status, body["code"]) == (401, -2015)
    with pytest.raises(ccxt.AuthenticationError):
        binance_client(sim, api_key="deadbeef").fetch_balance()


def test_missing_signature_or_timestamp_is_1102(sim: SimExchange) -> None:
    assert raw(sim, "GET", "/api/v3/account", {"timestamp": now_ms()}, sign=False)[2][
        "code"] == -1102
    assert raw(sim, "GET", "/api/v3/account", {})[2]["code"] == -1102


def test_timestamps_outside_the_recv_window_are_1021(sim: SimExchange) -> None:
    stale = raw(sim, "GET", "/api/v3/account", {"timestamp": now_ms() - 6000})[2]
    assert stale["code"] == -1021 and "outside of the recvWindow" in stale["msg"]
    widened = raw(sim, "GET", "/api/v3/account",
                  {"timestamp": now_ms() - 6000, "recvWindow": 10000})
    assert widened[0] == 200
    ahead = raw(sim, "GET", "/api/v3/account", {"timestamp": now_ms() + 5000})[2]
    assert ahead["code"] == -1021 and "ahead" in ahead["msg"]
    too_wide = raw(sim, "GET", "/api/v3/account",
                   {"timestamp": now_ms(), "recvWindow": 70000})[2]
    assert too_wide["code"] == -1131


def test_clock_skew_makes_ccxt_raise_invalid_nonce(sim: SimExchange) -> None:
    client = binance_client(sim)
    sim.faults.set(FaultConfig(clock_skew_ms=30_000))
    with pytest.raises(ccxt.InvalidNonce):
        client.fetch_balance()
    sim.faults.clear()
    assert client.fetch_balance()["USDT"]["free"] == 100000.0


# -- orders ----------------------------------------------------------------------------


def test_filters_are_1013_with_binance_wording(sim: SimExchange) -> None:
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "timestamp": now_ms()}
    off_tick = raw(sim, "POST", "/api/v3/order", {**order, "quantity": "0.01",
                                                  "price": "30000.005"})[2]
    assert off_tick == {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}
    off_step = raw(sim, "POST", "/api/v3/order", {**order, "quantity": "0.000015",
                                                  "price": "30000"})[2]
    assert off_step == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
    small = raw(sim, "POST", "/api/v3/order", {**order, "quantity": "0.0001",
                                               "price": "30000"})[2]
    assert small == {"code": -1013, "msg": "Filter failure: NOTIONAL"}
    assert sim.orders() == []


def test_filter_failures_through_ccxt(sim: SimExchange) -> None:
    client = binance_client(sim)
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        client.create_order("BTC/USDT", "limit", "buy", 0.01, 2_000_000)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        client.create_order("BTC/USDT", "market", "sell", 10_000)
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):  # ccxt's mapping of -1013
        client.create_order("BTC/USDT", "market", "buy", 0.0001)


def test_insufficient_balance_is_2010_and_insufficient_funds(sim: SimExchange) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        binance_client(sim).create_order("BTC/USDT", "market", "buy", 5)
    body = raw(sim, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "SELL",
                                              "type": "MARKET", "quantity": "1",
                                              "timestamp": now_ms()})[2]
    assert body == {"code": -2010,
                    "msg": "Account has insufficient balance for requested action."}


def test_duplicate_client_id_is_refused_only_while_the_order_is_open(
        sim: SimExchange) -> None:
    client = binance_client(sim)
    first = client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                                params={"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                            params={"clientOrderId": "dup-1"})
    client.cancel_order(first["id"], "BTC/USDT")
    again = client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                                params={"clientOrderId": "dup-1"})
    assert again["id"] != first["id"]
    assert client.fetch_order(None, "BTC/USDT", {"clientOrderId": "dup-1"})["id"] == again["id"]


def test_unknown_orders_on_cancel_and_query(sim: SimExchange) -> None:
    client = binance_client(sim)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        client.cancel_order("999", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        client.fetch_order("999", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "BTC/USDT", {"clientOrderId": "never-sent"})
    filled = client.create_order("BTC/USDT", "market", "buy", 0.01)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):  # a filled order cannot cancel
        client.cancel_order(filled["id"], "BTC/USDT")


def test_invalid_symbol_and_bad_parameters(sim: SimExchange) -> None:
    client = binance_client(sim)
    with pytest.raises(ccxt.BadSymbol):
        client.public_get_ticker_price({"symbol": "DOGEUSDT"})
    with pytest.raises(ccxt.BadRequest, match="-1102"):
        client.private_post_order({"symbol": "BTCUSDT", "side": "BUY"})
    with pytest.raises(ccxt.BadRequest, match="-1100"):
        client.private_get_order({"symbol": "BTCUSDT", "orderId": "abc"})
    with pytest.raises(ccxt.BadRequest, match="-1102"):
        client.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                   "quantity": "0.01", "price": "30000"})  # no timeInForce


# -- request weight --------------------------------------------------------------------


@pytest.fixture
def tight_sim() -> Iterator[SimExchange]:
    """A venue allowing 40 request weight per minute; the 3rd ignored 429 bans."""
    with running_sim(request_weight_limit=40, ban_after_429=2) as started:
        yield started


def test_over_the_weight_limit_is_429_with_retry_after_then_418(
        tight_sim: SimExchange) -> None:
    client = binance_client(tight_sim)
    client.load_markets()  # weight 20
    client.fetch_balance()  # weight 20: the limit is reached
    with pytest.raises(ccxt.DDoSProtection):  # ccxt raises this for 429 and 418
        client.fetch_balance()
    status, headers, body = raw(tight_sim, "GET", "/api/v3/ping", {}, sign=False)
    assert (status, body["code"]) == (429, -1003) and int(headers["Retry-After"]) >= 1
    status, _, body = raw(tight_sim, "GET", "/api/v3/ping", {}, sign=False)
    assert (status, body["code"]) == (418, -1003) and "banned" in body["msg"]
