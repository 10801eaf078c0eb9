"""One client connection of the peer: its socket, client id and subscriptions."""

from __future__ import annotations

import contextlib
import socket
import threading

from livetrade.testing.tws_peer.wire import Field, encode


class Session:
    """A connected API client. ``send`` is thread-safe; a send to a closed socket is
    dropped (the client is gone, as with real TWS)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.client_id = -1
        self.market_data: dict[int, str] = {}  # reqId -> symbol
        self.account_updates = False
        self.account_multi: set[int] = set()
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, fields: list[Field]) -> None:
        with self._send_lock:
            if self.closed:
                return
            try:
                self.sock.sendall(encode(fields))
            except OSError:
                self.closed = True  # reader thread notices and ends the session

    def close(self) -> None:
        with self._send_lock:
            self.closed = True
        # OSError here means the other side already disconnected: nothing left to shut.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
