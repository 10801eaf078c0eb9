"""Where the scheduler remembers the last instance it fired for each job.

This memory is what makes "never fire the same instance twice" survive a crash: a
restarted scheduler given the same store resumes every job after its last fired instance.
The scheduler writes here *before* it publishes (at-most-once, see
:mod:`livetrade.scheduling.scheduler`), so a store write must be durable when it returns.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

from livetrade.scheduling.calendars import as_utc

_PREFIX = "livetrade.scheduler.last_fired:"


class FiredStore(Protocol):
    """Last fired scheduled instance (a UTC datetime) per job name.

    Contract: ``record_fired`` is durable when it returns (or raises); both methods are
    safe to call from any thread. Jobs are keyed by name, so a job keeps its history only
    if its name is stable across restarts (explicit, or generated from its spec).
    """

    def last_fired(self, job: str) -> datetime | None:
        """The scheduled time of ``job``'s last fired instance, or ``None``."""
        ...

    def record_fired(self, job: str, scheduled_time: datetime) -> None:
        """Remember that ``job``'s instance at ``scheduled_time`` has fired."""
        ...


class InMemoryFiredStore:
    """A dict: no protection against restarts, but it can be snapshotted into a checkpoint
    and restored from one (``InMemoryFiredStore(snapshot)``)."""

    def __init__(self, initial: Mapping[str, datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._fired = {name: as_utc(when) for name, when in (initial or {}).items()}

    def last_fired(self, job: str) -> datetime | None:
        with self._lock:
            return self._fired.get(job)

    def record_fired(self, job: str, scheduled_time: datetime) -> None:
        with self._lock:
            self._fired[job] = as_utc(scheduled_time)

    def snapshot(self) -> dict[str, datetime]:
        """A copy of every job's last fired instance, for a checkpoint."""
        with self._lock:
            return dict(self._fired)


class DiskcacheFiredStore:
    """A ``diskcache.Cache`` directory (SQLite underneath) that survives the process.

    SQLite runs with ``synchronous=FULL`` here: every record is on disk when
    ``record_fired`` returns, even across a power loss, at the price of an fsync per fired
    trigger (triggers are rare; a lost record would mean a double fire after restart).
    Several processes must not share one directory for the same job names.
    """

    def __init__(self, directory: str | Path) -> None:
        # No stubs; unused-ignore too, in case mypy.ini later gets a diskcache section.
        import diskcache  # type: ignore[import-untyped, unused-ignore]

        self.directory = Path(directory)
        self._cache = diskcache.Cache(str(self.directory), sqlite_synchronous=2)

    def last_fired(self, job: str) -> datetime | None:
        value = self._cache.get(_PREFIX + job)
        return None if value is None else datetime.fromisoformat(str(value))

    def record_fired(self, job: str, scheduled_time: datetime) -> None:
        self._cache.set(_PREFIX + job, as_utc(scheduled_time).isoformat())

    def snapshot(self) -> dict[str, datetime]:
        """Every job's last fired instance."""
        found: dict[str, datetime] = {}
        for key in list(self._cache.iterkeys()):
            if isinstance(key, str) and key.startswith(_PREFIX):
                value = self._cache.get(key)
                if value is not None:
                    found[key.removeprefix(_PREFIX)] = datetime.fromisoformat(str(value))
        return found

    def close(self) -> None:
        """Close the SQLite connections (the data stays on disk)."""
        self._cache.close()

    def __enter__(self) -> DiskcacheFiredStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
