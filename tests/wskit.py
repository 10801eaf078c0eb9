"""Servers and sinks for the websocket-feed tests: real sockets on 127.0.0.1, port 0.

* :class:`StreamServer`: a Binance-style websocket server the test drives frame by frame
  (``send``/``send_trade``), force-disconnects (``drop``) and inspects (paths, frames the
  client sent, connection count). ``websockets.sync`` on threads.
* :class:`SilentServer`: completes the websocket handshake, then never answers anything,
  not even pings: a dead peer behind a live TCP connection.
* :class:`TickerServer`: ``GET /api/v3/ticker/24hr?symbol=`` from a price table, for REST
  resync; counts requests and can be told to fail.
* :class:`EventRecorder`: a thread-safe sink with deadline-bounded waits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from livetrade.events import Event, FeedError, MarketData, SystemErrorEvent

HOST = "127.0.0.1"


def trade_frame(symbol_id: str, price: str, qty: str = "1", t_ms: int = 1_700_000_000_000,
                trade_id: int = 1) -> str:
    """A combined-stream ``<id>@trade`` frame, as Binance sends it."""
    return json.dumps({"stream": f"{symbol_id.lower()}@trade", "data": {
        "e": "trade", "E": t_ms, "s": symbol_id.upper(), "t": trade_id, "p": price, "q": qty,
        "T": t_ms, "m": False, "M": True}})


class StreamServer:
    """A websocket server that sends what the test says. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: list[ServerConnection] = []
        self.paths: list[str] = []
        self.received: list[tuple[int, str]] = []  # (connection number, frame)
        self.opened = 0
        self._server: Server = serve(self._handle, HOST, 0, compression=None,
                                     ping_interval=None, max_size=None)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="wskit-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self._server.socket.getsockname()[1]}"

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.opened += 1
            number = self.opened
            self._live.append(connection)
            self.paths.append(connection.request.path if connection.request else "")
        try:
            for message in connection:
                with self._lock:
                    self.received.append((number, str(message)))
        except ConnectionClosed:
            pass  # the client or the test closed it: nothing more to read
        finally:
            with self._lock:
                if connection in self._live:
                    self._live.remove(connection)

    def live(self) -> list[ServerConnection]:
        with self._lock:
            return list(self._live)

    def wait_open(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until ``count`` connections have been opened and one is live."""
        if not wait_until(lambda: self.opened >= count and bool(self.live())
                          and self.subscribed(count), timeout_s):
            raise AssertionError(f"expected {count} connections, saw {self.opened}")

    def subscribed(self, connection: int) -> bool:
        with self._lock:
            return any(n == connection and '"SUBSCRIBE"' in m for n, m in self.received)

    def send(self, message: str | bytes, *, text: bool | None = None) -> None:
        for connection in self.live():
            connection.send(message, text=text)

    def send_trade(self, symbol_id: str, price: str, qty: str = "1",
                   t_ms: int = 1_700_000_000_000) -> None:
        self.send(trade_frame(symbol_id, price, qty, t_ms))

    def drop(self) -> None:
        """Cut every connection without a close handshake (a network failure)."""
        for connection in self.live():
            connection.close_socket()

    def close(self) -> None:
        self._server.shutdown()
        self.drop()
        self._thread.join(5)


def server_frame(text: str) -> bytes:
    """``text`` as one unmasked websocket text frame (what a server sends), by hand."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


class SilentServer:
    """Accepts the websocket handshake, then reads and ignores everything (even pings).

    ``greeting`` (raw bytes, e.g. :func:`server_frame` output) goes out in the same
    ``sendall`` as the handshake answer, before the silence: frames that reach the client
    in one TCP segment with the handshake, with nothing after them.
    """

    def __init__(self, greeting: bytes = b"") -> None:
        self._greeting = greeting
        self._listener = socket.create_server((HOST, 0))
        self._stop = threading.Event()
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, name="wskit-silent", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._swallow, args=(conn,), daemon=True).start()

    def _swallow(self, conn: socket.socket) -> None:
        try:
            request = conn.recv(65536).decode("latin-1")
            key = next(line.split(":", 1)[1].strip() for line in request.split("\r\n")
                       if line.lower().startswith("sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
                         .encode() + self._greeting)
            while conn.recv(65536):
                pass
        except OSError:
            return  # the client went away: the point of this server

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for conn in self._conns:
            conn.close()


class TickerServer:
    """Binance ``ticker/24hr`` over HTTP from ``prices`` (venue id → last price)."""

    def __init__(self, prices: dict[str, str]) -> None:
        self.prices = dict(prices)
        self.requests: list[str] = []
        self.fail_with: int | None = None
        self.delay_s = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                url = urlsplit(self.path)
                symbol = parse_qs(url.query).get("symbol", [""])[0]
                if owner.fail_with or url.path != "/api/v3/ticker/24hr" \
                        or symbol not in owner.prices:
                    self._reply(owner.fail_with or 400, {"code": -1121, "msg": "Invalid"})
                    return
                last = Decimal(owner.prices[symbol])
                self._reply(200, {"symbol": symbol, "lastPrice": str(last),
                                  "bidPrice": str(last - 1), "askPrice": str(last + 1),
                                  "closeTime": 1_700_000_100_000})

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: tests read `requests` instead

        self._http = ThreadingHTTPServer((HOST, 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._http.server_address[1]}"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)


class EventRecorder:
    """A sink that records events and lets a test wait for a condition with a deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def snapshot(self) -> list[Event]:
        with self._cond:
            return list(self.events)

    def market(self) -> list[MarketData]:
        return [e for e in self.snapshot() if isinstance(e, MarketData)]

    def errors(self, error_type: str) -> list[SystemErrorEvent]:
        return [e for e in self.snapshot()
                if isinstance(e, SystemErrorEvent) and e.error_type == error_type]

    def feed_errors(self) -> list[FeedError]:
        return [e for e in self.snapshot() if isinstance(e, FeedError)]

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"condition not met in {timeout_s}s; events: "
                                         f"{[type(e).__name__ for e in self.events][-20:]}")
                self._cond.wait(remaining)

    def wait_market(self, count: int, timeout_s: float = 5.0) -> list[MarketData]:
        self.wait_for(lambda evs: sum(isinstance(e, MarketData) for e in evs) >= count,
                      timeout_s)
        return self.market()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@contextmanager
def servers(prices: dict[str, str] | None = None) -> Iterator[tuple[StreamServer, TickerServer]]:
    """A stream server and a ticker server, closed on exit."""
    stream = StreamServer()
    rest = TickerServer(prices or {"BTCUSDT": "30000", "ETHUSDT": "2000"})
    try:
        yield stream, rest
    finally:
        stream.close()
        rest.close()
