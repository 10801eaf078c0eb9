"""Fault injection: 5xx, dropped responses (executed, never answered), 429 bursts, delayed
and partial fills, clock skew, websocket drops; per-endpoint scope, seeded determinism and
the loopback admin endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from decimal import Decimal

import ccxt
import pytest
import websocket
from simkit import admin, binance_client, running_sim, sim_fixture, wait_until  # noqa: F401

from livetrade.simexchange import FaultConfig, SimExchange

D = Decimal
ORDER = ("POST /api/v3/order",)


def ping_status(sim: SimExchange) -> int:
    try:
        with urllib.request.urlopen(sim.rest_url + "/api/v3/ping", timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_dropped_response_leaves_exactly_one_order_findable_by_client_id(
        sim: SimExchange) -> None:
    client = binance_client(sim)
    sim.faults.set(FaultConfig(timeout_rate=1.0, scope=ORDER))
    with pytest.raises(ccxt.NetworkError):
        client.create_order("BTC/USDT", "market", "buy", 0.01,
                            params={"clientOrderId": "lost-1"})
    sim.faults.clear()
    found = client.fetch_order(None, "BTC/USDT", {"clientOrderId": "lost-1"})
    assert found["status"] == "closed" and found["filled"] == 0.01
    assert [o["clientOrderId"] for o in sim.orders()] == ["lost-1"]


def test_a_hanging_response_is_a_request_timeout_and_the_order_still_executes(
        sim: SimExchange) -> None:
    client = binance_client(sim, timeout_ms=300)
    sim.faults.set(FaultConfig(timeout_rate=1.0, timeout_mode="hang", timeout_hold_s=2.0,
                               scope=ORDER))
    with pytest.raises(ccxt.RequestTimeout):
        client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                            params={"clientOrderId": "hang-1"})
    assert [o["clientOrderId"] for o in sim.orders()] == ["hang-1"]
    sim.faults.clear()
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):  # a blind resend
        client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                            params={"clientOrderId": "hang-1"})


def test_5xx_faults_are_not_executed_and_map_to_transient_ccxt_errors(
        sim: SimExchange) -> None:
    client = binance_client(sim)
    sim.faults.set(FaultConfig(error_rate=1.0, error_status=502, scope=ORDER))
    with pytest.raises(ccxt.OperationFailed, match="-1001"):  # ccxt's mapping of -1001
        client.create_order("BTC/USDT", "market", "buy", 0.01)
    assert sim.orders() == []
    assert client.fetch_balance()["USDT"]["free"] == 100000.0  # out of scope: served
    sim.faults.set(FaultConfig(error_rate=1.0, error_body="plain"))
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_balance()


def test_rate_limit_burst_answers_429_with_retry_after(sim: SimExchange) -> None:
    sim.faults.set(FaultConfig(rate_limit_rate=1.0, retry_after_s=3, scope=ORDER))
    with pytest.raises(ccxt.DDoSProtection):
        binance_client(sim).create_order("BTC/USDT", "market", "buy", 0.01)
    request = urllib.request.Request(sim.rest_url + "/api/v3/order", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 429 and caught.value.headers["Retry-After"] == "3"
    assert sim.orders() == []


def test_the_same_seed_fails_the_same_requests() -> None:
    def run(seed: int) -> list[int]:
        faults = FaultConfig(error_rate=0.5, seed=seed, scope=("GET /api/v3/ping",))
        with running_sim(faults=faults) as sim:
            return [ping_status(sim) for _ in range(20)]

    first, second, other = run(7), run(7), run(8)
    assert first == second and 200 in first and 503 in first
    assert first != other


def test_out_of_scope_requests_do_not_shift_the_draws() -> None:
    faults = FaultConfig(error_rate=0.5, seed=3, scope=("GET /api/v3/ping",))
    with running_sim(faults=faults) as plain:
        expected = [ping_status(plain) for _ in range(10)]
    with running_sim(faults=faults) as busy:
        client = binance_client(busy)
        observed = []
        for _ in range(10):
            client.fetch_time()  # GET /api/v3/time: not in scope
            observed.append(ping_status(busy))
    assert observed == expected


def test_delayed_fills_match_only_after_the_delay(sim: SimExchange) -> None:
    client = binance_client(sim)
    sim.faults.set(FaultConfig(fill_delay_ms=150))
    order = client.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["status"] == "open" and order["filled"] == 0.0
    wait_until(lambda: client.fetch_order(order["id"], "BTC/USDT")["status"] == "closed",
               message="delayed fill")


def test_partial_fill_fault_caps_each_fill(sim: SimExchange) -> None:
    client = binance_client(sim)
    sim.faults.set(FaultConfig(partial_fill_fraction=0.25))
    order = client.create_order("BTC/USDT", "market", "buy", 0.04)
    assert order["status"] == "open" and order["filled"] == 0.01
    for step in range(3):
        sim.set_price("BTC/USDT", D(30000 + step))
    done = client.fetch_order(order["id"], "BTC/USDT")
    assert done["status"] == "closed" and len(sim.trades()) == 4


def test_websocket_drop_rate_closes_streams(sim: SimExchange) -> None:
    ws = websocket.create_connection(sim.ws_url + "/ws/btcusdt@trade", timeout=5)
    wait_until(lambda: sim.stream_connections() == 1)
    sim.faults.set(FaultConfig(ws_drop_rate=1.0))
    sim.set_price("BTC/USDT", D("30001"))
    wait_until(lambda: sim.stream_connections() == 0, message="dropped by the fault")
    ws.close()


def test_admin_endpoint_sets_and_clears_faults_and_steps_prices(sim: SimExchange) -> None:
    client = binance_client(sim)
    applied = admin(sim, "POST", "/faults", {"error_rate": 1.0, "error_status": 503,
                                             "scope": ["GET /api/v3/ping"], "seed": 5})
    assert applied["error_rate"] == 1.0 and applied["scope"] == ["GET /api/v3/ping"]
    assert ping_status(sim) == 503
    assert admin(sim, "DELETE", "/faults")["error_rate"] == 0.0
    assert ping_status(sim) == 200
    order = client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000)
    admin(sim, "POST", "/price", {"symbol": "BTC/USDT", "price": "28900", "volume": "1"})
    assert client.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"
    state = admin(sim, "GET", "/state")
    assert state["prices"]["BTC/USDT"] == "28900.00" and state["open_orders"] == []
    with pytest.raises(urllib.error.HTTPError) as caught:
        admin(sim, "POST", "/faults", {"error_rate": 7})
    assert caught.value.code == 400 and "error_rate" in json.loads(caught.value.read())["error"]


def test_faults_given_at_start_apply_from_the_first_request() -> None:
    with running_sim(faults=FaultConfig(error_rate=1.0)) as sim:
        assert ping_status(sim) == 503


def test_admin_refuses_unknown_symbols_and_paths(sim: SimExchange) -> None:
    for path, body in (("/price", {"symbol": "DOGE/USDT", "price": "1"}), ("/nope", {})):
        with pytest.raises(urllib.error.HTTPError) as caught:
            admin(sim, "POST", path, body)
        assert caught.value.code in (400, 404)
    assert admin(sim, "POST", "/drop_streams") == {"dropped": 0}
