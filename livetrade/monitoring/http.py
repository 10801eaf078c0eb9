"""The monitoring HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz``, ``/status``.

One small thread runs a stdlib ``wsgiref`` server; ``/metrics`` is ``prometheus_client``'s
own WSGI app on the engine's registry, the rest are tiny JSON/text handlers. It binds
127.0.0.1 by default and refuses any non-loopback address unless the settings allow it
explicitly (the endpoint shows positions and orders). When the environment variable named
by ``token_env`` is set, every path but ``/healthz`` needs ``Authorization: Bearer
<token>``; the token is never echoed, logged or put in a response.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import make_wsgi_app

from livetrade.errors import ConfigError
from livetrade.monitoring.settings import MonitoringSettings

if TYPE_CHECKING:
    from livetrade.monitoring.monitor import EngineMonitor

_log = structlog.get_logger("livetrade.monitoring.http")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _QuietHandler(WSGIRequestHandler):
    """Request logs go to structlog at debug, not to stderr; requests time out."""

    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("http_request", line=format % args)


class MonitorHTTPServer:
    """The endpoint of one monitor. :meth:`start` binds (raises ``ConfigError`` when the
    address is refused or taken) and serves on a daemon thread."""

    def __init__(self, monitor: EngineMonitor, settings: MonitoringSettings) -> None:
        host = settings.bind_host
        if not is_loopback(host) and not settings.allow_non_loopback:
            raise ConfigError(
                f"monitoring.bind_host {host!r} is not a loopback address; set "
                "monitoring.allow_non_loopback = true to expose it (and set a token)")
        self._monitor = monitor
        self._settings = settings
        self._token = os.environ.get(settings.token_env, "") if settings.token_env else ""
        self._metrics_app = make_wsgi_app(monitor.registry)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._settings.bind_host}:{self.port}"

    def start(self) -> None:
        s = self._settings
        try:
            self._server = make_server(s.bind_host, s.http_port or 0, self.app,
                                       handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(f"monitoring endpoint cannot bind {s.bind_host}:{s.http_port}: "
                              f"{exc.strerror}") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
            "poll_interval": 0.1}, name="livetrade-monitor-http", daemon=True)
        self._thread.start()
        _log.info("monitoring_endpoint", url=self.url, token=bool(self._token))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
        self._server = None
        self._thread = None

    # ------------------------------------------------------------------ WSGI
    def app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        from livetrade.monitoring.status import liveness, readiness, status_dict

        path = environ.get("PATH_INFO", "/")
        if path.startswith("/control/"):
            return self._control(environ, start_response, path[len("/control/"):])
        if path == "/healthz":
            alive, why = liveness(self._monitor)
            return _text(start_response, 200 if alive else 503, why + "\n")
        if not self._authorized(environ):
            return _text(start_response, 401, "unauthorized\n",
                         [("WWW-Authenticate", "Bearer")])
        if path == "/metrics":
            result: Iterable[bytes] = self._metrics_app(environ, start_response)
            return result
        if path == "/readyz":
            reasons = readiness(self._monitor)
            body = "ready\n" if not reasons else "".join(f"{r}\n" for r in reasons)
            return _text(start_response, 503 if reasons else 200, body)
        if path == "/status":
            body = json.dumps(status_dict(self._monitor), default=str)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body.encode()]
        return _text(start_response, 404, "not found: try /metrics /healthz /readyz /status\n")

    def _control(self, environ: Environ, start_response: StartResponse,
                 action: str) -> Iterable[bytes]:
        from livetrade.monitoring.control import perform

        if environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, 405, {"ok": False, "message": "use POST"})
        if not self._token:
            return _json(start_response, 403, {
                "ok": False, "message": "operator controls need a token: set "
                f"{self._settings.token_env or 'a token variable'} for the engine and "
                "the command"})
        if not self._authorized(environ):
            return _json(start_response, 401, {"ok": False, "message": "unauthorized"})
        engine = self._monitor.engine
        if engine is None:
            return _json(start_response, 409, {"ok": False, "message": "no engine attached"})
        length = int(str(environ.get("CONTENT_LENGTH") or 0) or 0)
        raw = environ["wsgi.input"].read(min(length, 10_000)) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _json(start_response, 400, {"ok": False, "message": "body is not JSON"})
        reason = str(body.get("reason", ""))[:200] if isinstance(body, dict) else ""
        code, answer = perform(engine, action, reason)
        return _json(start_response, code, answer)

    def _authorized(self, environ: Environ) -> bool:
        if not self._token:
            return True
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  self._token.encode())


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
            503: "Service Unavailable"}


def _json(start_response: StartResponse, code: int, body: dict[str, Any]) -> list[bytes]:
    start_response(f"{code} {_REASONS[code]}", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def _text(start_response: StartResponse, code: int, body: str,
          headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(f"{code} {_REASONS[code]}",
                   [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])])
    return [body.encode()]
