"""Scheduled triggers: market open/close, intervals and wall-clock times, per exchange calendar.

:class:`TradingScheduler` turns job specs into ``ScheduledTrigger`` events (at most once per
scheduled instance, across restarts with a persistent :class:`FiredStore`); the calendars
say when each market is open. Nothing here imports pandas or ``exchange_calendars`` until a
calendar is first asked a question, so importing this package is cheap.
"""

from livetrade.scheduling.calendars import (
    CalendarRegistry,
    CryptoCalendar,
    ExchangeCalendar,
    Session,
    TradingCalendar,
    get_calendar,
    known_calendar_names,
)
from livetrade.scheduling.jobs import (
    DuplicateJobError,
    During,
    JobInfo,
    JobStats,
    MissedPolicy,
)
from livetrade.scheduling.scheduler import TradingScheduler
from livetrade.scheduling.store import DiskcacheFiredStore, FiredStore, InMemoryFiredStore

__all__ = [
    "CalendarRegistry",
    "CryptoCalendar",
    "DiskcacheFiredStore",
    "DuplicateJobError",
    "During",
    "ExchangeCalendar",
    "FiredStore",
    "InMemoryFiredStore",
    "JobInfo",
    "JobStats",
    "MissedPolicy",
    "Session",
    "TradingCalendar",
    "TradingScheduler",
    "get_calendar",
    "known_calendar_names",
]
