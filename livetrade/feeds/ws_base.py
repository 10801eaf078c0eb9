"""The venue-agnostic websocket feed: connect, subscribe, watch, resync, reconnect, stop.

A venue (Binance today; Bybit and Hyperliquid later) subclasses :class:`WebSocketFeed` and
supplies only its message shapes: the stream URL, the subscribe frames, how a decoded JSON
frame becomes ``MarketData`` and how to fetch a REST snapshot. Everything that makes a
stream trustworthy lives here, once:

* **One connection at a time, on the feed thread.** Each attempt is a fresh
  ``websocket.WebSocketApp`` whose ``run_forever`` returns when the connection ends;
  websocket-client's own reconnect is not used (its fixed delay cannot be interrupted by
  stop). We open the TCP (and TLS) socket ourselves so connect and handshake are bounded by
  ``connect_timeout_s`` and :meth:`stop` can cut a blocked socket at once. Reads go
  through :class:`~livetrade.feeds.read_ahead.ReadAheadSocket` (one ``recv`` per burst of
  frames, not three system calls per frame; see that module).
* **Reconnect** with capped exponential :class:`~livetrade.feeds.health.Backoff` through an
  injectable ``sleep`` that wakes at once on stop. The attempt count resets only after a
  connection delivered data, so a venue that accepts and drops at once is not hammered.
* **Subscribe on every open**, then, after a reconnect, a ``FeedError`` ("StreamGap", in
  stream order) and the venue's REST **resync** are published *before* the first stream
  message of the new connection is read (``on_open`` runs before the read loop), so a
  strategy sees the current price, never a stale one after a gap.
* **Heartbeat**: websocket-client pings every ``ping_interval_s`` and drops the connection
  when no pong comes within ``ping_timeout_s``; server pings are answered by the library.
* **Staleness watchdog** (a small thread): no data for ``stale_after_s`` → one
  ``SystemErrorEvent`` (warning, "FeedStale") and the health flag; the next data clears it
  and says so ("FeedRecovered", info).
* **Garbage** (binary frames, bad UTF-8, oversize, bad JSON, wrong shapes, unknown streams,
  NaN/inf/exponent numbers) is counted per reason and logged rate-limited; it never raises
  out of a callback and never becomes a ``MarketData``.

Trade-off: a frame that arrives between the re-subscribe and the REST snapshot may be older
than the snapshot; we keep stream order rather than guess from timestamps a venue may omit.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlsplit

import structlog
import websocket

from livetrade.brokers.base import EventSink
from livetrade.clock import Clock
from livetrade.errors import DataFeedError
from livetrade.events import FeedError, MarketData, Severity, SystemErrorEvent, trusted
from livetrade.feeds.base import DataFeed
from livetrade.feeds.health import (
    FeedHealth,
    FeedHealthTracker,
    StaleWatchdog,
    recovered_event,
    stale_event,
)
from livetrade.feeds.read_ahead import ReadAheadApp, ReadAheadSocket
from livetrade.feeds.stream_settings import StreamSettings
from livetrade.feeds.wire import BadFrame

_log = structlog.get_logger("livetrade.feeds.ws")

_BINARY = websocket.ABNF.OPCODE_BINARY


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not a number we accept")


# One decoder for every frame (json.loads with arguments builds a new one per call).
# NaN/Infinity literals are refused; JSON floats become Decimal, never float.
_JSON = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def open_socket(url: str, timeout_s: float) -> socket.socket:
    """TCP (and TLS for ``wss``) connection to ``url``'s host, bounded by ``timeout_s``.

    The socket keeps ``timeout_s`` as its timeout, which bounds the websocket handshake
    and any single read of a frame that has started to arrive. Blocks.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    raw = socket.create_connection((host, port), timeout=timeout_s)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not secure:
        return raw
    try:
        return ssl.create_default_context().wrap_socket(raw, server_hostname=host)
    except (OSError, ssl.SSLError):
        raw.close()
        raise


class WebSocketFeed(DataFeed):
    """Base of every websocket market-data feed; see the module docstring for the contract.

    Subclasses implement :meth:`stream_url`, :meth:`subscribe_frames`, :meth:`decode` and
    :meth:`resync`. ``health()`` may be called from any thread. ``sleep`` waits between
    attempts and must return early when the feed stops (the default waits on the stop
    event); tests inject one that records the delays.
    """

    def __init__(self, settings: StreamSettings, *, clock: Clock | None = None,
                 sleep: Callable[[float], object] | None = None) -> None:
        super().__init__(clock)
        self.settings = settings
        self._sleep: Callable[[float], object] = sleep or self._stop.wait
        self._health = FeedHealthTracker(self.name, settings.stale_after_s)
        self._lock = threading.Lock()
        self._app: websocket.WebSocketApp | None = None
        self._raw: socket.socket | None = None
        self._sink: EventSink | None = None
        self._opens = 0
        self._closed_at: float | None = None
        self._data_on_connection = False

    # -- venue part ---------------------------------------------------------------------------
    @abstractmethod
    def stream_url(self) -> str:
        """The URL to connect to (all configured streams)."""

    @abstractmethod
    def subscribe_frames(self) -> list[str]:
        """Text frames sent after every open (subscriptions)."""

    @abstractmethod
    def decode(self, payload: Any) -> list[MarketData]:
        """Events in one decoded JSON frame; ``[]`` for a control frame (an ack).

        Raises :class:`BadFrame` for anything unexpected; never returns unvalidated data.
        """

    @abstractmethod
    def resync(self, timeout_s: float) -> list[MarketData]:
        """The venue's current prices over REST, bounded by ``timeout_s``. Blocks.

        Raises ``DataFeedError`` (or ``OSError``) when the snapshot cannot be had.
        """

    # -- public -------------------------------------------------------------------------------
    def health(self) -> FeedHealth:
        """Connected, stale, last message age, reconnects and counters; any thread."""
        return self._health.snapshot()

    def stop(self) -> None:
        """Ask the feed to end; cuts the current socket so a blocked read returns at once."""
        super().stop()
        with self._lock:
            app, raw = self._app, self._raw
        if app is not None:
            app.keep_running = False
        if raw is not None:
            _shutdown(raw)

    # -- feed thread --------------------------------------------------------------------------
    def run(self, sink: EventSink) -> None:
        self._sink = sink
        watchdog = StaleWatchdog(self._health, self._on_stale)
        watchdog.start()
        attempt = 0
        try:
            while not self._stop.is_set():
                self._data_on_connection = False
                self._connect_once()
                if self._stop.is_set():
                    break
                if self._data_on_connection:
                    attempt = 0
                delay = self.settings.backoff.delay_s(attempt)
                attempt += 1
                self._health.count("backoff_waits")
                _log.info("feed_reconnect_wait", feed=self.name, delay_s=round(delay, 3),
                          attempt=attempt)
                self._sleep(delay)
        finally:
            watchdog.close()
            self._health.set_connected(False)

    def _connect_once(self) -> None:
        """One connection attempt, from TCP connect to close. Blocks."""
        url = self.stream_url()
        try:
            raw = open_socket(url, self.settings.connect_timeout_s)
        except OSError as exc:
            self._health.count("connect_failures")
            _log.warning("feed_connect_failed", feed=self.name, error=f"{type(exc).__name__}: "
                         f"{exc}")
            return
        app = ReadAheadApp(url, on_open=self._on_open, on_data=self._on_data,
                           on_error=self._on_error, on_ping=self._on_ping,
                           on_pong=self._on_pong,
                           # duck-typed: websocket-client only reads, writes and polls it
                           socket=cast(socket.socket, ReadAheadSocket(raw)))
        with self._lock:
            self._app, self._raw = app, raw
        try:
            if self._stop.is_set():
                return
            s = self.settings
            app.run_forever(ping_interval=s.ping_interval_s or 0,
                            ping_timeout=s.ping_timeout_s if s.ping_interval_s else None,
                            skip_utf8_validation=True)
        finally:
            with self._lock:
                self._app, self._raw = None, None
            _close(raw)
            if self._health.snapshot().connected:
                self._closed_at = time.monotonic()
            self._health.set_connected(False)

    # -- websocket-client callbacks (feed thread) ----------------------------------------------
    def _on_open(self, app: websocket.WebSocketApp) -> None:
        self._opens += 1
        self._health.set_connected(True)
        for frame in self.subscribe_frames():
            app.send(frame)
        self._health.count("subscribes")
        if self._opens > 1:
            self._health.reconnected()
            self._after_gap()

    def _after_gap(self) -> None:
        """Announce the gap, then publish the REST snapshot before any new stream data."""
        gap_s = 0.0 if self._closed_at is None else max(0.0, time.monotonic() - self._closed_at)
        reconnects = self._health.snapshot().reconnects
        self._publish(trusted(FeedError, error_type="StreamGap", severity=Severity.WARNING,
                              message=f"stream reconnected after {gap_s:.1f}s; resyncing",
                              source=f"feed:{self.name}", timestamp=self._clock.now(),
                              context={"gap_s": f"{gap_s:.3f}", "reconnects": str(reconnects)}))
        try:
            events = self.resync(self.settings.resync_timeout_s)
        except (DataFeedError, OSError, ValueError) as exc:
            self._health.count("resync_failures")
            _log.warning("feed_resync_failed", feed=self.name, error=f"{type(exc).__name__}: "
                         f"{exc}")
            self._publish(trusted(FeedError, error_type="ResyncFailed",
                                  severity=Severity.WARNING, source=f"feed:{self.name}",
                                  message=f"REST resync failed: {type(exc).__name__}",
                                  timestamp=self._clock.now()))
            return
        self._health.count("resyncs")
        if events and self._health.message(events=len(events)):
            self._announce_fresh()  # REST data is fresh data: a stale episode ends here
        for event in events:
            self._publish(event)
        self.published += len(events)

    def _on_data(self, app: websocket.WebSocketApp, data: bytes | str, opcode: int,
                 fin: bool) -> None:
        try:
            self._handle_frame(data, opcode)
        except Exception as exc:  # noqa: BLE001 - a bad frame must never end the read loop
            self._health.garbage("handler_error", f"{type(exc).__name__}: {exc}")

    def _handle_frame(self, data: bytes | str, opcode: int) -> None:
        if opcode == _BINARY:
            self._health.garbage("binary", f"{len(data)} bytes")
            return
        if len(data) > self.settings.max_message_bytes:
            self._health.garbage("oversize", f"{len(data)} bytes")
            return
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            payload = _JSON.decode(text)
        except UnicodeDecodeError as exc:
            self._health.garbage("not_utf8", str(exc))
            return
        except (ValueError, RecursionError) as exc:
            self._health.garbage("not_json", str(exc))
            return
        try:
            events = self.decode(payload)
        except BadFrame as bad:
            self._health.garbage(bad.reason, bad.detail)
            return
        if not events:
            self._health.count("control_frames")
            return
        self._data_on_connection = True
        if self._health.message(events=len(events)):
            self._announce_fresh()
        sink = self._sink
        if sink is not None:
            for event in events:
                sink(event)
        self.published += len(events)

    def _on_error(self, app: websocket.WebSocketApp, error: BaseException) -> None:
        # The connection is over either way: cut the socket so websocket-client's close
        # handshake does not wait seconds for a peer that is gone.
        with self._lock:
            raw = self._raw
        if raw is not None:
            _shutdown(raw)
        if not self._stop.is_set():
            self._health.count("disconnects")
            _log.warning("feed_disconnected", feed=self.name,
                         error=f"{type(error).__name__}: {error}")

    def _on_ping(self, app: websocket.WebSocketApp, payload: bytes) -> None:
        self._health.count("pings_received")

    def _on_pong(self, app: websocket.WebSocketApp, payload: bytes) -> None:
        self._health.count("pongs_received")

    # -- publishing ---------------------------------------------------------------------------
    def _publish(self, event: MarketData | SystemErrorEvent) -> None:
        sink = self._sink
        if sink is not None:
            sink(event)

    def _announce_fresh(self) -> None:
        self._publish(recovered_event(self.name, self._clock))

    def _on_stale(self, silence_s: float) -> None:
        self._publish(stale_event(self.name, silence_s, self._health.snapshot().connected,
                                  self._clock))


def _shutdown(raw: socket.socket) -> None:
    """Cut a socket both ways (wakes a thread blocked reading it); already-dead is fine."""
    try:
        raw.shutdown(socket.SHUT_RDWR)
    except OSError as exc:
        _log.debug("socket_shutdown_ignored", error=str(exc))


def _close(raw: socket.socket) -> None:
    try:
        raw.close()
    except OSError as exc:
        _log.debug("socket_close_ignored", error=str(exc))
