"""A topic websocket server for the Bybit and Hyperliquid front doors.

Both venues speak the same pattern: connect to a fixed path, send a JSON subscribe frame,
then receive payloads per topic. Only the frame words differ, so a dialect passes a
``FrameHandler`` (path and frame in -> topics to add/remove and the reply to send) and publishes
``topic -> JSON text``. As in the Binance door, ``publish`` runs under the venue lock and
only enqueues; a consumer whose bounded queue fills is dropped instead of stalling matching.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import structlog
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from livetrade.simexchange.faults import FaultInjector

log = structlog.get_logger(__name__)


@dataclass
class FrameOutcome:
    """What a client frame does: topics to add and remove, replies to send back."""

    subscribe: list[str] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)


FrameHandler = Callable[[str, str | bytes], FrameOutcome]
"""(connection path, frame) -> outcome; topics may be namespaced by path."""


class _Client:
    def __init__(self, connection: ServerConnection, queue_size: int) -> None:
        self.connection = connection
        self.topics: set[str] = set()
        self.queue: queue.Queue[str] = queue.Queue(maxsize=queue_size)
        self.lock = threading.Lock()
        self.closed = threading.Event()


class TopicStreamServer:
    """Serves subscribed topics on ``paths`` to any number of clients. Thread-safe."""

    def __init__(self, host: str, port: int, *, paths: tuple[str, ...],
                 on_frame: FrameHandler, faults: FaultInjector, queue_size: int) -> None:
        self._paths = paths
        self._on_frame = on_frame
        self._faults = faults
        self._queue_size = queue_size
        self._clients: set[_Client] = set()
        self._lock = threading.Lock()
        self._server: Server = serve(self._handle, host, port,
                                     process_request=self._check_path, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="sim-topic-ws", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self.drop_all()
        self._thread.join(timeout=5)

    def connections(self) -> int:
        with self._lock:
            return len(self._clients)

    def drop_all(self) -> int:
        """Cut every connection without a close handshake; returns how many there were."""
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.connection.close_socket()
        return len(clients)

    def publish(self, messages: dict[str, str]) -> None:
        """Enqueue each ``topic -> text`` for the clients subscribed to that topic."""
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            with client.lock:
                wanted = [text for topic, text in messages.items() if topic in client.topics]
            for text in wanted:
                self._enqueue(client, text)

    def _enqueue(self, client: _Client, text: str) -> None:
        try:
            client.queue.put_nowait(text)
        except queue.Full:
            log.warning("sim-exchange: slow websocket consumer dropped")
            client.connection.close_socket()

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] not in self._paths:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown stream path\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        client = _Client(connection, self._queue_size)
        path = connection.request.path.split("?")[0] if connection.request else ""
        with self._lock:
            self._clients.add(client)
        sender = threading.Thread(target=self._send_loop, args=(client,),
                                  name="sim-topic-ws-send", daemon=True)
        sender.start()
        try:
            for message in connection:
                outcome = self._on_frame(path, message)
                with client.lock:
                    client.topics.update(outcome.subscribe)
                    client.topics.difference_update(outcome.unsubscribe)
                for reply in outcome.replies:
                    self._enqueue(client, reply)
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
                client.connection.close_socket()
                return
            try:
                client.connection.send(text)
            except (ConnectionClosed, OSError) as exc:
                log.debug("sim-exchange websocket send failed", error=str(exc))
                return
