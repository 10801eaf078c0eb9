"""Read-ahead for websocket-client: one ``recv`` per burst of frames instead of three per frame.

websocket-client reads a frame with exact-size ``recv`` calls (the 2-byte header, the
extended length, the payload) and, in ``run_forever``, a ``select`` before each frame. On a
virtual machine a system call costs 10-20 us, so at 10k frames/s the feed thread spent most
of its time in the kernel and fell behind: the stream_latency benchmark measured a p99 of
29 ms (and up to 89 ms) from the venue's send to the strategy at 10k frames/s.

:class:`ReadAheadSocket` wraps the connected socket (plain or TLS): ``recv(n)`` serves from
what an earlier read fetched, and only when that is used up asks the kernel for up to
:data:`READ_AHEAD_BYTES` at once. Bytes it holds are invisible to ``select``, so the loop
that waits for the next frame must ask the socket first: :meth:`ReadAheadSocket.pending`
says how many bytes are ready without waiting (the convention of ``ssl.SSLSocket.pending``),
and :class:`ReadAheadApp` runs ``run_forever`` with :class:`PendingFirstDispatcher`, which
selects only when nothing is pending. Nothing is reordered or dropped: the wrapper is a
plain FIFO in front of the socket, and every other socket call passes straight through.
"""

from __future__ import annotations

import selectors
import socket
from collections.abc import Callable
from typing import Any

import websocket
from websocket._dispatcher import DispatcherBase  # no public name; pinned <2 in pyproject

READ_AHEAD_BYTES = 65536
"""The most one ``recv`` asks the kernel for (a burst of a few hundred trade frames)."""


class ReadAheadSocket:
    """A socket whose ``recv`` reads ahead; see the module docstring for why.

    Only ``recv`` and ``pending`` are its own; every other attribute is the wrapped
    socket's. Used by one reader thread at a time (websocket-client's read loop), which
    is the only caller of ``recv``; ``send``, ``shutdown`` and ``close`` from other
    threads go straight to the socket and never touch the read-ahead buffer.
    """

    __slots__ = ("_buf", "_chunk", "_pos", "_raw", "_raw_pending", "gettimeout")

    def __init__(self, raw: socket.socket, chunk: int = READ_AHEAD_BYTES) -> None:
        if chunk <= 0:
            raise ValueError(f"chunk must be positive, got {chunk}")
        self._raw = raw
        self._chunk = chunk
        self._buf = b""
        self._pos = 0
        pending: Callable[[], int] | None = getattr(raw, "pending", None)  # TLS: decrypted
        self._raw_pending = pending
        self.gettimeout = raw.gettimeout  # websocket-client asks before every recv

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes: held ones first, else one read of the socket.

        Errors (timeouts, a reset, TLS's want-read) and end of stream (``b""``) come from
        the socket unchanged, and only when nothing is held.
        """
        buf = self._buf
        pos = self._pos
        if pos < len(buf):
            end = pos + bufsize
            if end >= len(buf):
                self._buf = b""
                self._pos = 0
                return buf[pos:] if pos else buf
            self._pos = end
            return buf[pos:end]
        data = self._raw.recv(max(bufsize, self._chunk))
        if len(data) <= bufsize:
            return data
        self._buf = data
        self._pos = bufsize
        return data[:bufsize]

    def pending(self) -> int:
        """Bytes a ``recv`` returns without waiting: held here, plus TLS's decrypted ones."""
        held = len(self._buf) - self._pos
        if self._raw_pending is not None:
            held += self._raw_pending()
        return held

    def fileno(self) -> int:
        return self._raw.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class PendingFirstDispatcher(DispatcherBase):
    """websocket-client's read loop, asking the socket for held bytes before ``select``.

    The same loop as websocket-client's own ``Dispatcher`` (read a frame when the socket
    is readable, run the ping-timeout check after every wake-up, end when the app stops
    running or a read says so), except that bytes :class:`ReadAheadSocket` already holds
    count as readable: without that the next frame would wait in memory for the one after.
    """

    def read(self, sock: Any, read_callback: Callable[[], bool],
             check_callback: Callable[[], None]) -> None:
        app = self.app
        if app.sock is None or app.sock.sock is None:
            return
        reader = app.sock.sock
        pending: Callable[[], int] = getattr(reader, "pending", _nothing_pending)
        selector = selectors.DefaultSelector()
        selector.register(reader, selectors.EVENT_READ)
        try:
            while app.keep_running:
                if (pending() or selector.select(self.ping_timeout)) and not read_callback():
                    break
                check_callback()
        finally:
            selector.close()


def _nothing_pending() -> int:
    return 0


class ReadAheadApp(websocket.WebSocketApp):
    """``WebSocketApp`` whose ``run_forever`` reads with :class:`PendingFirstDispatcher`.

    Give it a :class:`ReadAheadSocket` as ``socket``. A caller-supplied dispatcher (an
    event loop such as ``rel``) is left to websocket-client, as before.
    """

    def create_dispatcher(self, ping_timeout: float | None,
                          dispatcher: Any = None, *args: Any, **kwargs: Any) -> Any:
        if dispatcher is not None:
            return super().create_dispatcher(ping_timeout, dispatcher, *args, **kwargs)
        return PendingFirstDispatcher(self, ping_timeout or 10)
