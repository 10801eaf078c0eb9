"""Shared CLI output: error messages people can act on, and the live status line."""

from __future__ import annotations

import json
import sys
import threading
from decimal import Decimal
from typing import Any, TextIO, cast

from livetrade.engine import EngineStatus
from livetrade.errors import ConfigError, LiveTradeError


def print_error(error: LiveTradeError, stream: TextIO | None = None) -> None:
    """``error: what`` then each problem on its own line, then what to do next."""
    out = stream or sys.stderr
    print(f"error: {error.message}", file=out)
    if isinstance(error, ConfigError):
        for problem in error.problems:
            print(f"  {problem}", file=out)
    for key, value in error.context.items():
        if key != "hint":
            print(f"  {key}: {value}", file=out)
    hint = error.context.get("hint")
    if hint:
        print(f"hint: {hint}", file=out)


def status_dict(status: EngineStatus, events_per_s: float) -> dict[str, Any]:
    return {
        "state": status.state,
        "uptime_s": round(status.uptime_s, 1),
        "events": status.events_dispatched,
        "events_per_s": round(events_per_s, 1),
        "queue_depth": status.queue_depth,
        "conflated": status.conflated,
        "handler_errors": status.handler_errors,
        "open_orders": status.open_orders,
        "orders": status.orders_submitted,
        "rejected": status.orders_rejected,
        "fills": status.fills,
        "cash": str(status.cash),
        "equity": str(status.equity),
        "positions": {s: str(q) for s, q in status.positions.items()},
        "latency_p99_us": round(status.latency_p99_us, 1),
        "mode": status.mode,
    }


def status_line(status: EngineStatus, events_per_s: float) -> str:
    positions = " ".join(f"{s}:{_fmt(q)}" for s, q in sorted(status.positions.items())) or "flat"
    mode = "" if status.mode == "live" else f"[{status.mode.upper()}] "
    return (f"{mode}{status.uptime_s:6.1f}s  {events_per_s:8.0f} ev/s  queue "
            f"{status.queue_depth:<5d} "
            f"orders {status.orders_submitted} fills {status.fills}  "
            f"equity {status.equity:,.2f}  pos {positions}")


def _fmt(q: Decimal) -> str:
    return f"{q.normalize():f}"


class StatusPrinter:
    """Prints a status line each interval: redrawn in place on a terminal, one line per
    interval otherwise, or a JSON object per line with ``--json``.

    On a terminal, log lines (written through :meth:`log_stream`) first clear the status
    line and then redraw it, so the two never interleave on one line.
    """

    def __init__(self, stream: TextIO, as_json: bool, every_n_lines: int = 10) -> None:
        self._stream = stream
        self._json = as_json
        self._tty = stream.isatty() and not as_json
        self._last: tuple[float, int] = (0.0, 0)
        self._line = ""
        self._lock = threading.Lock()
        self._ticks = 0
        self._every = every_n_lines

    def __call__(self, status: EngineStatus) -> None:
        now, count = status.uptime_s, status.events_dispatched
        rate = 0.0
        if now > self._last[0]:
            rate = (count - self._last[1]) / (now - self._last[0])
        self._last = (now, count)
        with self._lock:
            if self._json:
                print(json.dumps(status_dict(status, rate)), file=self._stream, flush=True)
            elif self._tty:
                self._line = status_line(status, rate)
                self._stream.write("\r\x1b[K" + self._line)
                self._stream.flush()
            else:
                self._ticks += 1
                if self._ticks % self._every == 1 or self._every == 1:
                    print(status_line(status, rate), file=self._stream, flush=True)

    def finish(self) -> None:
        with self._lock:
            if self._tty and self._line:
                self._stream.write("\n")
                self._stream.flush()
                self._line = ""

    def log_stream(self, target: TextIO) -> TextIO:
        """A stream for log output that keeps the status line intact on a terminal."""
        if not self._tty or target is not self._stream:
            return target
        return cast(TextIO, _ClearingStream(target, self))

    def _write_log(self, target: TextIO, text: str) -> None:
        with self._lock:
            if self._line:
                target.write("\r\x1b[K")
            target.write(text)
            if self._line:
                target.write(self._line)
            target.flush()


class _ClearingStream:
    """Buffers log output to whole lines, then writes them above the status line."""

    def __init__(self, target: TextIO, printer: StatusPrinter) -> None:
        self._target = target
        self._printer = printer
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self._printer._write_log(self._target, complete + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()
