"""Binance's websocket front door: market streams and the user-data stream, on threads.

Paths: ``/ws/<stream>`` (raw payloads), ``/stream?streams=a/b`` (``{"stream", "data"}``
wrapping), bare ``/ws`` then ``SUBSCRIBE``; ``/ws/<listenKey>`` is the user-data stream.
Live ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS`` frames are answered with
``{"result": ..., "id": N}``; ping/pong is the websockets library's.

Why a bounded queue and a sender thread per connection: ``publish`` runs under the venue
lock on the matching path, so it only enqueues; a consumer too slow to keep up fills its
queue and is dropped, as Binance drops slow clients, instead of stalling the matching.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from livetrade.simexchange.faults import FaultInjector

log = structlog.get_logger(__name__)

USER = "<user>"  # the internal stream name of user-data events


class _Client:
    def __init__(self, connection: ServerConnection, streams: list[str], combined: bool,
                 queue_size: int) -> None:
        self.connection = connection
        self.streams = set(streams)
        self.combined = combined
        self.queue: queue.Queue[str] = queue.Queue(maxsize=queue_size)
        self.lock = threading.Lock()
        self.closed = threading.Event()

    def drop(self) -> None:
        """Cut the connection at once (no close handshake), as a network failure would."""
        self.connection.close_socket()


def _parse_path(path: str) -> tuple[list[str], bool] | None:
    url = urlsplit(path)
    if url.path == "/stream":
        names = parse_qs(url.query).get("streams", [""])[0]
        return [s for s in names.split("/") if s], True
    if url.path in ("/ws", "/ws/"):
        return [], False
    if url.path.startswith("/ws/"):
        return [s for s in url.path[len("/ws/"):].split("/") if s], False
    return None


class StreamServer:
    """Serves Binance-shaped streams to any number of clients. Thread-safe."""

    def __init__(self, host: str, port: int, is_listen_key: Callable[[str], bool],
                 faults: FaultInjector, queue_size: int) -> None:
        self._is_listen_key = is_listen_key
        self._faults = faults
        self._queue_size = queue_size
        self._clients: set[_Client] = set()
        self._lock = threading.Lock()
        self._server: Server = serve(self._handle, host, port,
                                     process_request=self._check_path, compression=None,
                                     close_timeout=1)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="sim-ws", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():  # never started: only the listening socket is open
            self._server.socket.close()
            return
        self.drop_all()  # first: a client that never answers a close frame cannot stall us
        self._server.shutdown()
        self.drop_all()
        self._thread.join(timeout=5)

    def connections(self) -> int:
        with self._lock:
            return len(self._clients)

    def drop_all(self) -> int:
        """Force-close every connection; returns how many there were."""
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.drop()
        return len(clients)

    # -- publishing (called under the venue lock: enqueue only) ---------------------------

    def publish(self, payloads: dict[str, dict[str, Any]]) -> None:
        """Send each ``stream name -> payload`` to the clients subscribed to that stream
        (``USER`` goes to every user-data subscriber)."""
        encoded: dict[tuple[str, str, bool], str] = {}
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            with client.lock:
                names = list(client.streams)
            for name in names:
                key = USER if self._is_user(name) else name
                payload = payloads.get(key)
                if payload is None:
                    continue
                cache_key = (key, name, client.combined)
                text = encoded.get(cache_key)
                if text is None:
                    body = {"stream": name, "data": payload} if client.combined else payload
                    text = json.dumps(body, separators=(",", ":"))
                    encoded[cache_key] = text
                self._enqueue(client, text)

    def _is_user(self, name: str) -> bool:
        return "@" not in name and self._is_listen_key(name)

    def _enqueue(self, client: _Client, text: str) -> None:
        try:
            client.queue.put_nowait(text)
        except queue.Full:
            log.warning("sim-exchange: slow websocket consumer dropped",
                        queued=client.queue.qsize())
            client.drop()

    # -- connections ----------------------------------------------------------------------

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if _parse_path(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown stream path\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        parsed = _parse_path(connection.request.path if connection.request else "/ws")
        streams, combined = parsed if parsed is not None else ([], False)
        client = _Client(connection, streams, combined, self._queue_size)
        with self._lock:
            self._clients.add(client)
        sender = threading.Thread(target=self._send_loop, args=(client,),
                                  name="sim-ws-send", daemon=True)
        sender.start()
        try:
            for message in connection:
                self._on_frame(client, message)
        except ConnectionClosed:
            log.debug("sim-exchange websocket closed by the client")
        finally:
            with self._lock:
                self._clients.discard(client)
            client.closed.set()
            sender.join(timeout=5)

    def _send_loop(self, client: _Client) -> None:
        while True:
            try:
                text = client.queue.get(timeout=0.2)
            except queue.Empty:
                if client.closed.is_set():
                    return
                continue
            if self._faults.drop_ws_message():
                client.drop()
                return
            try:
                client.connection.send(text)
            except (ConnectionClosed, OSError) as exc:
                log.debug("sim-exchange websocket send failed", error=str(exc))
                return

    def _on_frame(self, client: _Client, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
            method = frame["method"]
            ident = frame.get("id")
            params = frame.get("params", [])
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                raise TypeError("params must be a list of stream names")
        except (ValueError, KeyError, TypeError) as exc:
            self._enqueue(client, json.dumps({"error": {"code": 3, "msg": f"Invalid JSON: "
                                                        f"{exc}"}, "id": None}))
            return
        with client.lock:
            if method == "SUBSCRIBE":
                client.streams.update(params)
                result: Any = None
            elif method == "UNSUBSCRIBE":
                client.streams.difference_update(params)
                result = None
            elif method == "LIST_SUBSCRIPTIONS":
                result = sorted(client.streams)
            else:
                self._enqueue(client, json.dumps({"error": {"code": 2, "msg": "Invalid request:"
                                                            f" unknown method {method}"},
                                                  "id": ident}))
                return
        self._enqueue(client, json.dumps({"result": result, "id": ident}))
