"""What a strategy sees of the scheduler: ``self.ctx.schedule``.

Only job registration: a strategy cannot start, stop or drive the scheduler. Each change
tells the engine (``on_change``) so that a replay re-reads when the next trigger is due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from livetrade.scheduling.jobs import During, JobInfo, MissedPolicy
from livetrade.scheduling.scheduler import TradingScheduler


def _delta(value: timedelta | float | int, what: str) -> timedelta:
    """Accept a timedelta or a number of seconds (floats are fine here: durations, not money)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a timedelta or seconds, got {type(value).__name__}")
    return timedelta(seconds=value)


class StrategySchedule:
    """``ctx.schedule``: register triggers; they arrive in ``Strategy.on_schedule``.

    ``offset`` and ``interval`` take a ``timedelta`` or seconds. Each call returns the
    job's name (stable across restarts, so a persisted history is matched back to it).
    """

    def __init__(self, scheduler: TradingScheduler, on_change: Callable[[], None]) -> None:
        self._scheduler = scheduler
        self._on_change = on_change

    def market_open(self, offset: timedelta | float = 0, *, name: str | None = None,
                    calendar: str | None = None, missed: MissedPolicy = "fire_once_late",
                    grace_s: float = 60.0) -> str:
        """Every session open of ``calendar`` (default NYSE), shifted by ``offset``."""
        job = self._scheduler.market_open(_delta(offset, "offset"), name=name,
                                          calendar=calendar, missed=missed, grace_s=grace_s)
        self._on_change()
        return job

    def market_close(self, offset: timedelta | float = 0, *, name: str | None = None,
                     calendar: str | None = None, missed: MissedPolicy = "fire_once_late",
                     grace_s: float = 60.0) -> str:
        """Every session close (early closes included); ``offset=-300``: 5 minutes before."""
        job = self._scheduler.market_close(_delta(offset, "offset"), name=name,
                                           calendar=calendar, missed=missed, grace_s=grace_s)
        self._on_change()
        return job

    def every(self, interval: timedelta | float, *, during: During = "session",
              calendar: str | None = None, name: str | None = None,
              missed: MissedPolicy = "fire_once_late", grace_s: float = 60.0) -> str:
        """Every ``interval`` while the market is open (``during="session"``) or always."""
        job = self._scheduler.every(_delta(interval, "interval"), during=during,
                                    calendar=calendar, name=name, missed=missed,
                                    grace_s=grace_s)
        self._on_change()
        return job

    def at(self, time_of_day: str, tz: str = "UTC", *, name: str | None = None,
           trading_days_only: bool = False, calendar: str | None = None,
           missed: MissedPolicy = "fire_once_late", grace_s: float = 60.0) -> str:
        """Every day at ``"HH:MM"`` in ``tz`` (optionally trading days only)."""
        job = self._scheduler.at(time_of_day, tz, name=name,
                                 trading_days_only=trading_days_only, calendar=calendar,
                                 missed=missed, grace_s=grace_s)
        self._on_change()
        return job

    def cancel(self, name: str) -> bool:
        removed = self._scheduler.cancel(name)
        self._on_change()
        return removed

    def jobs(self) -> list[JobInfo]:
        return self._scheduler.jobs()
