"""The background log writer: lines rendered and written off the calling thread.

With ``background=True`` in :func:`livetrade.logs.configure_logging` (the default), the
caller's share of a log call is structlog's level filter, the context merge, the level
and a timestamp taken at the call; the event dict then goes into a bounded queue, and one
``livetrade-log-writer`` thread renders (JSON or console, the same renderers as the
synchronous mode, so the text is the same) and writes it. Rendering a JSON line costs
~17 us, which the dispatcher no longer pays per order. What that trades away:

* Values are rendered later: a call site must not mutate a list or dict it passed to a log
  call (livetrade's own call sites pass strings, numbers and fresh containers).
* The queue is bounded (``queue_lines``). When it is full, ``debug`` and ``info`` lines are
  dropped and counted (a ``log_lines_dropped`` warning line says how many, as soon as the
  writer catches up); ``warning`` and above are never dropped: their callers wait for room.
* Lines still queued are written when logging is reconfigured or closed
  (:func:`livetrade.logs.close_logging`), and at interpreter exit (an ``atexit`` hook that
  waits up to ``EXIT_TIMEOUT_S`` for a slow stream, and says on ``sys.__stderr__`` how many
  lines it gave up), so a normal exit, including one after a crash-stop, loses nothing. A hard exit
  (``os._exit``, ``kill -9``) loses what was still queued. A forked child writes its lines
  synchronously.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from structlog.types import EventDict, Processor, WrappedLogger

DEFAULT_QUEUE_LINES = 10_000
"""Log lines that may wait for the writer before debug/info lines are dropped."""
CLOSE_TIMEOUT_S = 5.0
"""How long closing (reconfiguration) waits for the writer to finish the queue."""
EXIT_TIMEOUT_S = 60.0
"""How long interpreter exit waits for a writer whose stream is slow (a stalled pipe to a
log shipper): a normal exit does not give up warnings and errors after a few seconds."""
_DROPPABLE = frozenset({"debug", "info"})
_HANDED_OVER: tuple[tuple[()], dict[str, Any]] = ((), {})


class LogWriter:
    """Renders and writes log lines on its own thread, from a bounded queue.

    Why: rendering a line is the most expensive thing an order does on the dispatcher
    thread. Producers (any thread) call :meth:`hand_over` as structlog's last processor;
    one daemon thread (``livetrade-log-writer``) runs ``processors`` (ending in a renderer
    that returns the line) on each event dict and writes the lines in order, flushing once
    per batch. See the module docstring for what is dropped (debug/info on overflow, counted)
    and what is never lost (warnings and errors; everything queued at close or exit).
    A line that fails to render or write is counted (``errors``), never raised at the
    caller, and the writer goes on. After :meth:`close`, lines are written synchronously
    until :meth:`start` runs the thread again.
    """

    def __init__(self, stream: TextIO, processors: Sequence[Processor], *,
                 capacity: int = DEFAULT_QUEUE_LINES, name: str = "livetrade-log-writer",
                 ) -> None:
        self._stream = stream
        self._processors = tuple(processors)
        self._capacity = capacity
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Start/close only. Handing a line over takes no lock at all (a signal handler that
        # logs must not wait on a lock its own thread holds); writing after close takes the
        # reentrant _write_lock (a value whose repr logs must not deadlock).
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        self.dropped = 0  # debug/info lines dropped because the queue was full
        self._dropped_reported = 0
        self.errors = 0  # lines that could not be rendered or written
        self.written = 0
        self._name = name
        self._thread: threading.Thread | None = None
        _WRITERS.add(self)
        self.start()

    def start(self) -> None:
        """Start the writer thread, or start a new one after :meth:`close`. Idempotent."""
        with self._lock:
            if self._thread is not None and not self._closed:
                return
            self._closed = False
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        atexit.register(self._close_at_exit)

    def _after_fork_in_child(self) -> None:
        """A forked child has the queue but not the thread: write synchronously there."""
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._queue = queue.SimpleQueue()
        self._closed = True
        self._thread = None

    # ------------------------------------------------------------------ producer side
    def logger_factory(self, *args: Any) -> _HandOff:
        """structlog's ``logger_factory``: every logger shares one no-op sink."""
        return _SINK

    def hand_over(self, logger: WrappedLogger, method_name: str,
                  event_dict: EventDict) -> tuple[tuple[()], dict[str, Any]]:
        """The last processor, on the caller's thread: queue the event dict. Never raises
        for a full queue: drops (and counts) debug/info, waits for room for the rest."""
        if not self._closed:
            if self._queue.qsize() >= self._capacity:
                if event_dict.get("level") in _DROPPABLE:
                    self.dropped += 1  # no lock: a lost increment only miscounts
                    return _HANDED_OVER
                self._wait_for_room()
            self._queue.put((method_name, event_dict))
            if not self._closed:
                return _HANDED_OVER
            # Closed while we queued: the writer may have ended before our line arrived.
            self._write_queued_here()
            return _HANDED_OVER
        line = self._render(method_name, event_dict)  # closed: on the caller's thread
        with self._write_lock:
            self._write([line])
        return _HANDED_OVER

    def _write_queued_here(self) -> None:
        """Write (on this thread) whatever is still queued once the writer has ended."""
        with self._write_lock:
            lines: list[str] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, threading.Event):
                    item.set()
                elif item is not _CLOSE:
                    lines.append(self._render(*item))
            self._write(lines)

    def _wait_for_room(self) -> None:
        if threading.current_thread() is self._thread:
            return  # the writer logging itself: only it could make room
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while (self._queue.qsize() >= self._capacity and not self._closed
               and time.monotonic() < deadline):
            time.sleep(0.0005)
        # After the deadline the line is queued anyway: a warning is never dropped, and a
        # stuck stream must not stall the caller forever.

    def flush(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Block until everything queued before this call is written and flushed."""
        if self._closed:
            return True
        done = threading.Event()
        self._queue.put(done)
        if self._closed:  # raced a close: whatever was queued is written by now or here
            self._write_queued_here()
            return True
        return done.wait(timeout_s)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write what is queued, end the thread; later lines are written synchronously.
        If the writer is still busy after ``timeout_s`` (a stream that does not take the
        lines), how many lines were left is said on ``sys.__stderr__``, never silently."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_CLOSE)
        atexit.unregister(self._close_at_exit)
        thread = self._thread
        if thread is None or threading.current_thread() is thread:
            return
        thread.join(timeout_s)
        if thread.is_alive():
            # The close marker is normally still queued behind the lines: not a line.
            left = max(self._queue.qsize() - 1, 0)
            if left and sys.__stderr__ is not None:
                sys.__stderr__.write(f"livetrade: the log stream took no line for "
                                     f"{timeout_s:g} s; at least {left} queued log line(s) "
                                     f"not written\n")
        else:
            self._write_queued_here()  # lines that arrived just after the close marker

    def _close_at_exit(self) -> None:
        self.close(EXIT_TIMEOUT_S)

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        get = self._queue.get
        while True:
            batch = [get()]
            batch.extend(self._queue.get_nowait() for _ in range(self._queue.qsize()))
            lines: list[str] = []
            closing = False
            for item in batch:
                if item is _CLOSE:
                    closing = True  # the lines behind it in this batch are written too
                    continue
                if isinstance(item, threading.Event):
                    with self._write_lock:
                        self._write(lines)
                    lines = []
                    item.set()
                    continue
                lines.append(self._render(*item))
            if self.dropped != self._dropped_reported:
                lines.append(self._drop_report())
            with self._write_lock:
                self._write(lines)
            if closing:
                return

    def _render(self, method_name: str, event_dict: EventDict) -> str:
        try:
            rendered: Any = event_dict
            for processor in self._processors:
                rendered = processor(self, method_name, rendered)
            return str(rendered) + "\n"
        except Exception as exc:  # noqa: BLE001 - a bad value must not kill the writer
            self.errors += 1
            return (f"log line {event_dict.get('event')!r} could not be rendered: "
                    f"{type(exc).__name__}\n")

    def _drop_report(self) -> str:
        dropped = self._dropped_reported = self.dropped
        return self._render("warning", {"dropped_total": dropped, "event": "log_lines_dropped",
                                        "level": "warning", "timestamp": datetime.now(UTC)})

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._stream.write("".join(lines))
            self._stream.flush()
            self.written += len(lines)
        except Exception:  # noqa: BLE001 - a broken stream: count, keep draining the queue
            self.errors += len(lines)


class _HandOff:
    """The wrapped logger of a background configuration: the work is already queued by the
    last processor (:meth:`LogWriter.hand_over`), so every method does nothing."""

    def msg(self) -> None:
        return None

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


_SINK = _HandOff()
_CLOSE = object()
_WRITERS: weakref.WeakSet[LogWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
