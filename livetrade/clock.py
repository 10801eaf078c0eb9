"""Clocks injected into every component that needs the time.

Nothing in livetrade calls ``datetime.now()`` directly: a replay must see the time of the
data it replays, and tests must control time. Every clock returns timezone-aware UTC.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time for the engine and its collaborators."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time, for live trading."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests and for replays.

    The replay engine advances it to each market-data event's timestamp, so fills, order
    timestamps and rate limits depend on the data, not on how fast the machine is.
    Moving backwards is ignored (an out-of-order tick must not rewind time).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start if start is not None else datetime(1970, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        """Move the clock forward to ``when``; earlier times are ignored."""
        with self._lock:
            if when > self._now:
                self._now = when
