"""The simulator's websocket streams, read with websocket-client: market streams,
combined streams, live SUBSCRIBE, the user-data stream, forced drops and slow consumers."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from typing import Any

import websocket
from simkit import binance_client, running_sim, sim_fixture, wait_until  # noqa: F401 (`sim`)

from livetrade.simexchange import SimExchange

D = Decimal


def connect(sim: SimExchange, path: str) -> websocket.WebSocket:
    ws = websocket.create_connection(sim.ws_url + path, timeout=5)
    return ws


def receive(ws: websocket.WebSocket) -> Any:
    return json.loads(ws.recv())


def subscribed(sim: SimExchange, count: int = 1) -> None:
    wait_until(lambda: sim.stream_connections() >= count, message="stream connection")


def test_trade_stream_delivers_each_price_step(sim: SimExchange) -> None:
    ws = connect(sim, "/ws/btcusdt@trade")
    subscribed(sim)
    sim.set_price("BTC/USDT", D("30100"), volume=D("0.5"))
    sim.set_price("ETH/USDT", D("2001"))  # another symbol: not on this stream
    sim.set_price("BTC/USDT", D("30200"), volume=D("1"))
    first, second = receive(ws), receive(ws)
    assert first["e"] == "trade" and first["s"] == "BTCUSDT"
    assert (first["p"], first["q"]) == ("30100.00000000", "0.50000000")
    assert second["p"] == "30200.00000000" and second["t"] == first["t"] + 1  # per symbol
    ws.close()


def test_combined_stream_wraps_book_ticker_and_kline(sim: SimExchange) -> None:
    ws = connect(sim, "/stream?streams=btcusdt@bookTicker/btcusdt@kline_1m")
    subscribed(sim)
    sim.set_price("BTC/USDT", D("30100"), volume=D("2"))
    frames = {f["stream"]: f["data"] for f in (receive(ws), receive(ws))}
    book = frames["btcusdt@bookTicker"]
    assert (book["b"], book["a"]) == ("30099.99000000", "30100.01000000")
    kline = frames["btcusdt@kline_1m"]["k"]
    assert kline["i"] == "1m" and kline["c"] == "30100.00000000" and kline["x"] is False
    ws.close()


def test_a_step_in_a_new_minute_closes_the_previous_candle() -> None:
    now = [1_700_000_040_000 + 40_000]  # 40 s into a minute
    with running_sim(wall_ms=lambda: now[0]) as sim:
        ws = connect(sim, "/ws/btcusdt@kline_1m")
        subscribed(sim)
        sim.set_price("BTC/USDT", D("30100"), volume=D("1"))
        now[0] += 30_000  # the next minute
        sim.set_price("BTC/USDT", D("30200"), volume=D("2"))
        first, closed, current = (receive(ws)["k"] for _ in range(3))
        assert (first["x"], first["c"]) == (False, "30100.00000000")
        assert (closed["x"], closed["c"], closed["t"]) == (True, "30100.00000000", first["t"])
        assert (current["x"], current["o"], current["t"]) == (
            False, "30200.00000000", first["t"] + 60_000)
        ws.close()


def test_live_subscribe_and_unsubscribe_are_acknowledged(sim: SimExchange) -> None:
    ws = connect(sim, "/ws")
    ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 7}))
    assert receive(ws) == {"result": None, "id": 7}
    sim.set_price("ETH/USDT", D("2100"))
    assert receive(ws)["p"] == "2100.00000000"
    ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
    assert receive(ws) == {"result": ["ethusdt@trade"], "id": 8}
    ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@trade"], "id": 9}))
    assert receive(ws) == {"result": None, "id": 9}
    sim.set_price("ETH/USDT", D("2200"))
    ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 10}))
    assert receive(ws) == {"result": [], "id": 10}  # no trade frame came in between
    ws.close()


def test_user_data_stream_sends_execution_reports_and_balances(sim: SimExchange) -> None:
    client = binance_client(sim)
    key = client.public_post_userdatastream()["listenKey"]
    ws = connect(sim, f"/ws/{key}")
    subscribed(sim)
    client.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "ws-1"})
    new, trade, account = receive(ws), receive(ws), receive(ws)
    assert (new["e"], new["x"], new["X"], new["c"]) == ("executionReport", "NEW", "NEW", "ws-1")
    assert (trade["x"], trade["X"], trade["l"], trade["L"]) == (
        "TRADE", "FILLED", "0.01000000", "30000.00000000")
    assert trade["n"] == "0.00001000" and trade["N"] == "BTC" and trade["t"] == 1
    assert account["e"] == "outboundAccountPosition"
    assert {b["a"]: b["f"] for b in account["B"]}["BTC"] == "0.00999000"
    client.public_put_userdatastream({"listenKey": key})
    client.public_delete_userdatastream({"listenKey": key})
    ws.close()


def test_cancel_is_reported_on_the_user_stream(sim: SimExchange) -> None:
    client = binance_client(sim)
    key = client.public_post_userdatastream()["listenKey"]
    ws = connect(sim, f"/ws/{key}")
    subscribed(sim)
    order = client.create_order("BTC/USDT", "limit", "buy", 0.01, 29000,
                                params={"clientOrderId": "ws-2"})
    client.cancel_order(order["id"], "BTC/USDT")
    reports = [receive(ws) for _ in range(4)]  # NEW, account, CANCELED, account
    canceled = [r for r in reports if r.get("x") == "CANCELED"]
    assert canceled and canceled[0]["c"] == "ws-2" and canceled[0]["X"] == "CANCELED"
    ws.close()


def test_drop_streams_closes_every_connection(sim: SimExchange) -> None:
    first = connect(sim, "/ws/btcusdt@trade")
    second = connect(sim, "/stream?streams=ethusdt@trade")
    subscribed(sim, 2)
    assert sim.drop_streams() == 2
    wait_until(lambda: sim.stream_connections() == 0, message="connections dropped")
    for ws in (first, second):
        try:
            data = ws.recv()
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            data = ""
        assert data == ""  # closed: nothing more arrives
    third = connect(sim, "/ws/btcusdt@trade")  # and clients can come back
    subscribed(sim)
    sim.set_price("BTC/USDT", D("30001"))
    assert receive(third)["p"] == "30001.00000000"
    third.close()


def test_a_slow_consumer_is_dropped_without_blocking_the_prices() -> None:
    with running_sim(ws_queue_size=5) as sim:
        ws = connect(sim, "/ws/btcusdt@trade")
        assert ws.sock is not None
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        subscribed(sim)
        for step in range(3000):  # never read: its queue overflows
            sim.set_price("BTC/USDT", D(30000 + step % 50))
        wait_until(lambda: sim.stream_connections() == 0, message="slow consumer dropped")
        ws.close()


def test_unknown_paths_are_refused(sim: SimExchange) -> None:
    try:
        websocket.create_connection(sim.ws_url + "/nope", timeout=5)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 404
    else:
        raise AssertionError("connection to /nope was accepted")
