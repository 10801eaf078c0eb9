"""Job records: what the scheduler knows about each job, and what it shows of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from livetrade.errors import ConfigError
from livetrade.scheduling.rules import Rule

MissedPolicy = Literal["skip", "fire_once_late"]
"""What a late look does with instances it finds overdue (see the scheduler module)."""

During = Literal["session", "always"]
TriggerType = Literal["market_open", "market_close", "every", "at"]


class DuplicateJobError(ConfigError):
    """A job with this name already exists (names key the fired-instance store)."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A job as listed by ``TradingScheduler.jobs()``."""

    name: str
    trigger_type: str
    description: str
    missed: MissedPolicy
    grace_s: float
    next_time: datetime | None


@dataclass(frozen=True, slots=True)
class JobStats:
    """Counters for monitoring one job; lateness is ``actual - scheduled`` in seconds."""

    name: str
    fired: int
    skipped: int
    last_fired: datetime | None
    last_skipped: datetime | None
    last_lateness_s: float | None
    max_lateness_s: float


@dataclass(slots=True)
class Job:
    """The scheduler's mutable record of one job; guarded by the scheduler's lock."""

    name: str
    trigger_type: TriggerType
    rule: Rule
    missed: MissedPolicy
    grace: timedelta
    added_at: datetime
    stored: datetime | None  # last fired instance found in the store when added
    seq: int
    cursor: datetime | None = None  # instances at or before this are done (fired/skipped)
    next_at: datetime | None = None  # cached first instance after the cursor (None: unknown)
    fired: int = 0
    skipped: int = 0
    last_fired: datetime | None = None
    last_skipped: datetime | None = None
    last_lateness_s: float | None = None
    max_lateness_s: float = 0.0
    failing: bool = False

    def info(self, next_time: datetime | None) -> JobInfo:
        return JobInfo(self.name, self.trigger_type, self.rule.describe(), self.missed,
                       self.grace.total_seconds(), next_time)

    def stats(self) -> JobStats:
        return JobStats(self.name, self.fired, self.skipped, self.last_fired,
                        self.last_skipped, self.last_lateness_s, self.max_lateness_s)
