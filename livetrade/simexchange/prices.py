"""Price sources that drive the simulator: a seeded random walk or a CSV replay.

Each runs on its own thread and calls ``step(symbol, price, volume)`` (the simulator's
``set_price``) every ``interval_s``; ``manual`` needs no thread (tests step prices).
A replay takes the CSV rows in order at that pace, ignoring their timestamps, and stops
at the end of the file; bad rows are logged and skipped.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import structlog

from livetrade.errors import DataFeedError
from livetrade.feeds.csv_source import read_csv

log = structlog.get_logger(__name__)

Step = Callable[[str, Decimal, Decimal], object]


class PriceDriver:
    """A thread stepping prices until ``stop``; why a class: start/stop own the thread."""

    def __init__(self, step: Step, *, symbols: tuple[str, ...], prices: Callable[[str], Decimal],
                 source: str | Path, interval_s: float, seed: int) -> None:
        self._step = step
        self._symbols = symbols
        self._prices = prices
        self._source = source
        self._interval_s = interval_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._source == "manual":
            return
        target = self._replay if isinstance(self._source, Path) else self._random_walk
        self._thread = threading.Thread(target=target, name="sim-prices", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _random_walk(self) -> None:
        while not self._stop.wait(self._interval_s):
            for symbol in self._symbols:
                last = self._prices(symbol)
                move = Decimal(str(round(self._rng.gauss(0, 0.001), 6)))
                volume = Decimal(str(round(self._rng.uniform(0.01, 2.0), 4)))
                self._step(symbol, last * (1 + move), volume)

    def _replay(self) -> None:
        assert isinstance(self._source, Path)
        for row in read_csv(self._source, self._symbols[0] if self._symbols else None):
            if self._stop.is_set():
                return
            if isinstance(row, DataFeedError):
                log.warning("sim-exchange replay: bad row skipped", error=str(row))
                continue
            if row.symbol not in self._symbols:
                continue
            self._step(row.symbol, row.price, row.volume)
            if self._stop.wait(self._interval_s):
                return
        log.info("sim-exchange replay finished", file=str(self._source))
