"""The feed contract: one thread per feed, immutable events out, stop on request."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

import structlog

from livetrade.brokers.base import EventSink
from livetrade.clock import Clock, SystemClock
from livetrade.errors import EngineStateError
from livetrade.events import Severity, SystemErrorEvent, trusted

_log = structlog.get_logger("livetrade.feeds")


class DataFeed(ABC):
    """A source of market data running on a thread of its own.

    Contract: :meth:`start` returns at once; the feed thread validates what it reads
    (once, at this edge) and hands ``MarketData`` events to the sink; :meth:`stop` asks it
    to end and returns at once; :meth:`join` waits. A feed that fails reports a
    ``SystemErrorEvent`` through the sink before its thread ends, never dies silently.
    ``finished`` is true when the thread has ended (end of file, stop, or failure).
    """

    name: str = "feed"

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.failed = False

    def start(self, sink: EventSink) -> None:
        if self._thread is not None:
            raise EngineStateError(f"feed {self.name} already started")
        self._thread = threading.Thread(target=self._guarded_run, args=(sink,),
                                        name=f"livetrade-feed-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the feed thread to end; ``True`` if it has. Blocks."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    @property
    def finished(self) -> bool:
        thread = self._thread
        return thread is not None and not thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _guarded_run(self, sink: EventSink) -> None:
        try:
            self.run(sink)
        except Exception as exc:  # noqa: BLE001 - report, never die silently
            self.failed = True
            _log.error("feed_failed", feed=self.name, error=f"{type(exc).__name__}: {exc}",
                       exc_info=exc)
            sink(trusted(SystemErrorEvent, error_type=type(exc).__name__, message=str(exc),
                         severity=Severity.CRITICAL, source=f"feed:{self.name}",
                         timestamp=self._clock.now()))

    @abstractmethod
    def run(self, sink: EventSink) -> None:
        """The feed's loop, on its own thread; return when done or when ``stopping``."""
