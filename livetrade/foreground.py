"""Running an engine in the foreground: until a signal, a deadline, or the end of the feeds.

Why apart from :mod:`livetrade.engine`: this is what a script and supervisord need and an
embedding application does not (it calls ``start``/``stop`` itself): signal handlers
installed and restored, a wait loop with a status callback, and the rule for a second
signal. :meth:`LiveTradingEngine.run_forever` hands its run to a :class:`ForegroundRun`.

Whatever ends the run (a signal, the deadline, the feeds, a failing status callback, a dead
dispatcher), the engine's ``stop()`` runs. Signal handlers are installed only from the main
thread and restored before returning; during the graceful stop a second SIGINT/SIGTERM exits
at once (status 128 + signal): the journal and the last checkpoint make that safe, and it is
the operator's way to bound a stuck stop.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Protocol

import structlog

from livetrade.dispatcher import Dispatcher
from livetrade.engine_types import EngineStatus, StopReport
from livetrade.feeds.base import DataFeed
from livetrade.logs import flush_logs

_log = structlog.get_logger("livetrade.engine")  # the engine's events, under its name

_POLL_S = 0.02


class RunnableEngine(Protocol):
    """What a foreground run needs of an engine."""

    @property
    def dispatcher(self) -> Dispatcher: ...

    @property
    def feeds(self) -> Sequence[DataFeed]: ...

    def start(self) -> None: ...

    def stop(self) -> StopReport: ...

    def status(self) -> EngineStatus: ...

    def wait_until_idle(self, timeout_s: float = 60.0) -> bool: ...


class ForegroundRun:
    """One engine's foreground run and the flag that ends it (module docstring).
    ``request_stop`` is safe from any thread and from signal handlers."""

    def __init__(self) -> None:
        self._stop_requested = threading.Event()
        self._signal: int | None = None

    def request_stop(self) -> None:
        self._stop_requested.set()

    def run(
        self,
        engine: RunnableEngine,
        duration_s: float | None,
        *,
        on_status: Callable[[EngineStatus], None] | None,
        status_interval_s: float,
        stop_when_feeds_done: bool,
    ) -> StopReport:
        """Start ``engine``, wait for the end of the run, stop it. Blocks."""
        if duration_s is not None and duration_s < 0:
            raise ValueError("duration_s must be >= 0")
        main = threading.current_thread() is threading.main_thread()
        previous: dict[int, object] = {}
        if main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            engine.start()
            try:
                self._wait(engine, duration_s, on_status, status_interval_s,
                           stop_when_feeds_done)
            finally:
                if main:
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        signal.signal(sig, _force_exit)
                report = engine.stop()
            return report
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]

    def _wait(self, engine: RunnableEngine, duration_s: float | None,
              on_status: Callable[[EngineStatus], None] | None, status_interval_s: float,
              stop_when_feeds_done: bool) -> None:
        deadline = None if duration_s is None else time.monotonic() + duration_s
        next_status = time.monotonic() + status_interval_s
        feeds, dispatcher = engine.feeds, engine.dispatcher
        while not self._stop_requested.wait(_POLL_S):
            now = time.monotonic()
            if not dispatcher.running:
                _log.error("dispatcher_stopped_unexpectedly")
                break
            if on_status is not None and now >= next_status:
                next_status += status_interval_s
                try:
                    on_status(engine.status())
                except Exception as exc:  # noqa: BLE001 - a status sink must not kill trading
                    _log.error("status_callback_failed", error=f"{type(exc).__name__}: {exc}")
                    on_status = None
            if deadline is not None and now >= deadline:
                break
            if (stop_when_feeds_done and feeds and all(f.finished for f in feeds)
                    and dispatcher.queue_depth == 0):
                break
        if self._signal is not None:
            _log.info("stop_signal", signal=signal.Signals(self._signal).name)
        if stop_when_feeds_done and feeds and all(f.finished for f in feeds):
            engine.wait_until_idle()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only set flags here: logging from a signal handler can deadlock on the logger's
        # own lock if the signal lands while the main thread is writing a log line.
        self._signal = signum
        self._stop_requested.set()


def _force_exit(signum: int, frame: FrameType | None) -> None:
    """A second signal: out now, after at most a second for the queued log lines (the
    log writer takes no lock a signal handler could be waiting on)."""
    flush_logs(1.0)
    os._exit(128 + signum)
