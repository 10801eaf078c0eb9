"""Replaying a CSV file as a feed: real-time, a multiple of it, or as fast as possible."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Literal

import structlog

from livetrade.brokers.base import EventSink
from livetrade.clock import Clock
from livetrade.errors import DataFeedError
from livetrade.events import FeedError, MarketData, Severity, trusted
from livetrade.feeds.base import DataFeed
from livetrade.feeds.csv_source import read_csv

_log = structlog.get_logger("livetrade.feeds.replay")


class ReplayFeed(DataFeed):
    """Publishes a CSV's rows in file order.

    ``speed``: ``None`` for as fast as possible, ``1.0`` for real time, ``10.0`` for ten
    times faster (the gap between two rows' timestamps divided by ``speed``).
    ``on_bad_row``: ``"skip"`` reports each bad row as a ``FeedError`` (warning,
    with file and line) and goes on; ``"fail"`` reports it as critical and ends the feed.
    ``rows``/``bad_rows``/``bytes_total`` let a caller show progress.
    """

    name = "replay"

    def __init__(
        self,
        path: str | Path,
        *,
        symbol: str | None = None,
        speed: float | None = None,
        on_bad_row: Literal["skip", "fail"] = "skip",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock)
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive, or None for as fast as possible")
        self.path = Path(path)
        self.symbol = symbol
        self.speed = speed
        self.on_bad_row = on_bad_row
        self.rows = 0
        self.bad_rows = 0
        self.bytes_total = self.path.stat().st_size if self.path.exists() else 0
        self.errors: list[DataFeedError] = []
        self.exhausted = False  # True once every row of the file has been read

    def check(self) -> None:
        """Raise ``DataFeedError`` now if the file cannot be read or its header is wrong.

        Lets a command line fail fast with a clear message instead of starting an engine
        whose only feed dies at once.
        """
        rows = read_csv(self.path, self.symbol)
        first = next(rows, None)
        rows.close()
        if first is None:
            raise DataFeedError("market data file has a header but no rows", file=str(self.path))

    def run(self, sink: EventSink) -> None:
        started = time.monotonic()
        data_start: datetime | None = None
        for item in read_csv(self.path, self.symbol):
            if self._stop.is_set():
                return
            self.rows += 1
            if isinstance(item, DataFeedError):
                self.bad_rows += 1
                if len(self.errors) < 100:
                    self.errors.append(item)
                fatal = self.on_bad_row == "fail"
                sink(trusted(FeedError, error_type="DataFeedError", message=str(item),
                             severity=Severity.CRITICAL if fatal else Severity.WARNING,
                             source=f"feed:{self.name}", timestamp=self._clock.now(),
                             context={k: str(v) for k, v in item.context.items()}))
                if fatal:
                    self.failed = True
                    return
                continue
            if self.speed is not None:
                data_start = self._pace(item, data_start, started)
            sink(item)
            self.published += 1
        self.exhausted = True

    def _pace(self, item: MarketData, data_start: datetime | None, started: float) -> datetime:
        """Sleep until ``item`` is due at ``speed`` times real time; return the data start."""
        assert self.speed is not None
        if data_start is None:
            return item.timestamp
        due = started + (item.timestamp - data_start).total_seconds() / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        return data_start
