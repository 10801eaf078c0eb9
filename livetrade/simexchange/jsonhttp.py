"""A JSON-over-HTTP/1.1 server for the simulator's non-Binance front doors.

Why not Binance's ``RestServer``: it is wired to Binance's signing and error words. This
one takes a dialect's router (request in, status + JSON out) and keeps what every front
door shares: keep-alive with Nagle off, fault injection drawn per request (5xx and 429
*instead of* serving; the timeout fault *after* executing, so the outcome is ambiguous),
the loopback-only ``/admin/`` endpoint, and the ability to cut every open connection.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import structlog

from livetrade.simexchange.faults import FaultInjector, HttpFault

log = structlog.get_logger(__name__)

AdminHandler = Callable[[str, str, bytes], tuple[int, Any]]


@dataclass(frozen=True)
class HttpRequest:
    """One request as the dialect sees it: raw query and body text (signatures cover them)."""

    method: str
    path: str
    query: str
    body: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class HttpReply:
    """What a dialect answers: JSON ``payload`` (or a plain ``text`` body, as gateways send
    for 5xx) with its status and headers; the server owns the bytes and keep-alive."""

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # a non-JSON body (a gateway's plain 5xx page)


Router = Callable[[HttpRequest], HttpReply]
FaultReply = Callable[[HttpFault, int], HttpReply]


class JsonHttpServer(ThreadingHTTPServer):
    """Thread per connection; every socket tracked so ``close_all`` can cut them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], *, router: Router, fault_reply: FaultReply,
                 faults: FaultInjector, admin: AdminHandler, stopping: threading.Event) -> None:
        super().__init__(address, _Handler)
        self.router = router
        self.fault_reply = fault_reply
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
    server: JsonHttpServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: errors reach the client in the dialect's own envelope."""

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/admin/"):
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                self._reply(HttpReply(403, {"error": "admin answers loopback clients only"}))
                return
            status, payload = self.server.admin(method, url.path, body)
            self._reply(HttpReply(status, payload))
            return
        fault = self.server.faults.http_fault(method, url.path)
        config = self.server.faults.config
        if fault is HttpFault.ERROR:
            self._reply(self.server.fault_reply(fault, config.error_status))
            return
        if fault is HttpFault.RATE_LIMIT:
            self._reply(self.server.fault_reply(fault, config.retry_after_s))
            return
        headers = {k: v for k, v in self.headers.items()}
        reply = self.server.router(HttpRequest(method, url.path, url.query,
                                               body.decode("utf-8", "replace"), headers))
        if fault is HttpFault.TIMEOUT:
            if config.timeout_mode == "hang":
                self.server.stopping.wait(config.timeout_hold_s)
            self.close_connection = True
            _cut(self.connection)
            return
        self._reply(reply)

    def _reply(self, reply: HttpReply) -> None:
        if reply.text is not None:
            data = reply.text.encode()
            kind = "text/plain"
        else:
            data = json.dumps(reply.payload, separators=(",", ":")).encode()
            kind = "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
