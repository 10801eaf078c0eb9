"""Binance's REST front door: an HTTP/1.1 keep-alive server over ``BinanceApi``.

Request path: fault draw (5xx / 429 instead of serving), weight limit, API key, signature
and timestamp, the endpoint, then (timeout fault) the reply is withheld after the order
was executed, which is the ambiguous outcome clients must resolve by client order id.
``/admin/...`` is handed to the admin handler and only answers loopback clients.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog

from livetrade.simexchange.binance.api import API_KEY, SIGNED, BinanceApi
from livetrade.simexchange.binance.auth import BinanceError, Signer, WeightLimiter
from livetrade.simexchange.faults import FaultInjector, HttpFault

log = structlog.get_logger(__name__)

AdminHandler = Callable[[str, str, bytes], tuple[int, Any]]
PREFIX = "/api/v3/"


class RestServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection, every open connection tracked so that
    ``close_all`` can cut them (a restarted simulator must not keep serving old sockets)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], *, api: BinanceApi, signer: Signer,
                 limiter: WeightLimiter, faults: FaultInjector, admin: AdminHandler,
                 stopping: threading.Event) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.signer = signer
        self.limiter = limiter
        self.faults = faults
        self.admin = admin
        self.stopping = stopping
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._sockets_lock:
            self._sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self._sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._sockets_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError as exc:  # already closed by the peer: nothing left to cut
        log.debug("socket already closed", error=str(exc))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: RestServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: one line per request would drown the simulator's own output,
        and errors already reach the client as Binance error bodies."""

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit():
            self.close_connection = True
            self._reply(400, {"code": -1100, "msg": "Illegal Content-Length."})
            return
        length = int(length_text)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/admin/"):
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                self._reply(403, {"error": "admin answers loopback clients only"})
                return
            status, payload = self.server.admin(method, url.path, body)
            self._reply(status, payload)
            return
        fault = self.server.faults.http_fault(method, url.path)
        if fault is HttpFault.ERROR:
            self._reply_5xx()
            return
        if fault is HttpFault.RATE_LIMIT:
            retry = self.server.faults.config.retry_after_s
            self._reply(429, {"code": -1003, "msg": "Too many requests; please retry later."},
                        {"Retry-After": str(retry)})
            return
        try:
            status, payload = 200, self._execute(method, url.path, url.query,
                                                 body.decode("utf-8", "replace"))
            headers: dict[str, str] = {}
        except BinanceError as error:
            status, payload, headers = error.status, {"code": error.code, "msg": error.msg}, \
                error.headers
        if fault is HttpFault.TIMEOUT:
            self._withhold()
            return
        headers["X-MBX-USED-WEIGHT-1M"] = str(self.server.limiter.used())
        self._reply(status, payload, headers)

    def _execute(self, method: str, path: str, query: str, body: str) -> Any:
        if not path.startswith(PREFIX):
            raise BinanceError(-1000, f"Unknown endpoint {path}", 404)
        route = self.server.api.routes.get((method, path[len(PREFIX):]))
        if route is None:
            raise BinanceError(-1000, f"Unknown endpoint {method} {path}", 404)
        endpoint, weight, access = route
        self.server.limiter.charge(weight)
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        if access in (API_KEY, SIGNED):
            self.server.signer.check_key(self.headers.get("X-MBX-APIKEY"))
        if access == SIGNED:
            self.server.signer.check_signed(query + body, params)
        return endpoint(params)

    def _withhold(self) -> None:
        """The timeout fault: the request was executed; the client never hears back."""
        config = self.server.faults.config
        if config.timeout_mode == "hang":
            self.server.stopping.wait(config.timeout_hold_s)
        self.close_connection = True
        _cut(self.connection)

    def _reply_5xx(self) -> None:
        config = self.server.faults.config
        if config.error_body == "binance":
            self._reply(config.error_status, {"code": -1001, "msg": "Internal error; unable to "
                        "process your request. Please try again."})
            return
        text = f"{config.error_status} Service Unavailable".encode()
        self.send_response(config.error_status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
