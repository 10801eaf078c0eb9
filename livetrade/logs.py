"""structlog setup, done by the entry point (CLI or script), never at import time.

``console`` renders for a person at a terminal; ``json`` writes one JSON object per line
for supervisord and log shippers. Context such as ``client_order_id`` and ``symbol`` is
passed as keyword arguments at each call site, so every line can be filtered by them.

Lines are rendered and written off the calling thread by default (``background=True``):
:mod:`livetrade.log_writer` says how, and what that trades away.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from livetrade.log_writer import CLOSE_TIMEOUT_S, DEFAULT_QUEUE_LINES, LogWriter

LogFormat = Literal["console", "json"]


def configure_logging(fmt: LogFormat = "console", level: str = "info",
                      stream: TextIO | None = None, *, background: bool = True,
                      queue_lines: int = DEFAULT_QUEUE_LINES) -> None:
    """Configure structlog process-wide. Call once, from the program's entry point.

    ``background=False`` renders and writes on the calling thread (no writer thread).
    Reconfiguring first closes the previous background writer, after it wrote its queue.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    elif fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=(stream or sys.stderr).isatty())
    else:
        raise ValueError(f"unknown log format {fmt!r}; use console or json")
    if queue_lines <= 0:
        raise ValueError("queue_lines must be positive")
    close_logging()
    out = stream or sys.stderr
    exceptions: Processor = structlog.processors.format_exc_info if fmt == "json" else _passthrough
    processors: list[Processor] = [structlog.contextvars.merge_contextvars,
                                   structlog.processors.add_log_level]
    factory: Callable[..., WrappedLogger]
    if background:
        writer = LogWriter(out, [_format_timestamp, exceptions, renderer], capacity=queue_lines)
        processors += [_stamp_time, _capture_exc_info, writer.hand_over]
        factory = writer.logger_factory
    else:
        processors += [structlog.processors.TimeStamper(fmt="iso", utc=True), exceptions,
                       renderer]
        factory = structlog.PrintLoggerFactory(out)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        # Not cached, on purpose: caching saves ~2 us per log call, but a cached logger keeps
        # the configuration (and stream) of its first use forever, even across
        # structlog.reset_defaults(): an embedding application that reconfigures logging
        # would silently keep writing to the old stream.
        cache_logger_on_first_use=False,
    )


def current_writer() -> LogWriter | None:
    """The background writer of the current configuration, if it has one."""
    factory = structlog.get_config().get("logger_factory")
    owner = getattr(factory, "__self__", None)
    return owner if isinstance(owner, LogWriter) else None


def flush_logs(timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """Block until every line logged so far is written and the stream flushed.

    True when done (also when logging is synchronous); False if ``timeout_s`` ran out.
    """
    writer = current_writer()
    return writer.flush(timeout_s) if writer is not None else True


def close_logging() -> None:
    """Write what the background writer still holds, then end its thread. Blocks (bounded).

    Loggers keep working afterwards: lines are then rendered and written on the caller's
    thread until logging is configured again.
    """
    writer = current_writer()
    if writer is not None:
        writer.close()


def resume_logging() -> None:
    """Start the background writer of the current configuration again after
    :func:`close_logging` (for a caller that restores a saved structlog configuration)."""
    writer = current_writer()
    if writer is not None:
        writer.start()


def _stamp_time(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """The time of the call, taken at the call (formatted later by the writer)."""
    event["timestamp"] = datetime.now(UTC)
    return event


def _format_timestamp(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """What ``TimeStamper(fmt="iso", utc=True)`` writes, for the time taken at the call."""
    stamp = event.get("timestamp")
    if isinstance(stamp, datetime):
        event["timestamp"] = stamp.isoformat().replace("+00:00", "Z")
    return event


def _capture_exc_info(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """``exc_info=True`` means "the exception being handled now": resolve it on the
    caller's thread, where it is being handled (the writer thread has none)."""
    if event.get("exc_info") is True:
        event["exc_info"] = sys.exc_info()
    return event


def _passthrough(logger: object, name: str, event: EventDict) -> EventDict:
    return event


def enabled_for(level: str) -> bool:
    """Whether a line at ``level`` (``"info"``, ``"warning"``, ...) gets past the level
    filter as configured now.

    Why: loggers are not cached (see :func:`configure_logging`), so every call on a
    module's logger first assembles a bound logger (~3 us) only for the filtering logger
    to drop the line; the call site also builds its arguments. A path that logs per order
    asks this first and skips both. Reads the current configuration, so reconfiguring
    takes effect at once; a wrapper class other than structlog's filtering loggers is
    taken to log every level.
    """
    minimum = _filter_level(structlog.get_config()["wrapper_class"])
    return minimum is None or _LEVELS[level] >= minimum


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


@functools.cache
def _filter_level(wrapper_class: type) -> int | None:
    for level in (logging.NOTSET, *_LEVELS.values()):
        if structlog.make_filtering_bound_logger(level) is wrapper_class:
            return level
    return None
