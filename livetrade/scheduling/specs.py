"""Job requests to rules: validate what a strategy asked for, build its rule, name it.

Why it exists apart from the scheduler: turning ``at("15:55", "America/New_York")`` or
``every(timedelta(minutes=15))`` into a :class:`~livetrade.scheduling.rules.Rule` is parsing
and validation, and it changes when a kind of trigger is added or its options change, not
when the run loop does. The default names built here matter beyond display: a job's name
keys its fired instances in the :class:`~livetrade.scheduling.store.FiredStore`, so changing
a default name format makes a restarted process forget what that job already fired.

Nothing here reads a clock or touches the job table; calendars are resolved through the
``lookup`` the scheduler passes (its registry and default calendar), and only once the
arguments before it have been validated, so the first bad argument is the one reported.
Every error is a :class:`~livetrade.errors.ConfigError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from livetrade.errors import ConfigError
from livetrade.scheduling.calendars import TradingCalendar
from livetrade.scheduling.jobs import During, MissedPolicy, TriggerType
from livetrade.scheduling.rules import (
    DailyAtRule,
    IntervalRule,
    Rule,
    SessionEdgeRule,
    format_offset,
)

CalendarLookup = Callable[[str | None], TradingCalendar]
"""Resolves a calendar name (``None``: the scheduler's default) to a calendar."""

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def session_edge_spec(trigger_type: TriggerType, edge: Literal["open", "close"], *,
                      offset: timedelta, calendar: str | None,
                      lookup: CalendarLookup) -> tuple[str, Rule]:
    """``market_open`` / ``market_close``: the default name and the rule."""
    if not isinstance(offset, timedelta):
        raise ConfigError(f"{trigger_type}(): offset must be a timedelta, got {offset!r}")
    cal = lookup(calendar)
    default = f"{trigger_type}:{cal.name}" + (format_offset(offset) if offset else "")
    return default, SessionEdgeRule(cal, edge, offset)


def interval_spec(interval: timedelta, *, during: During, calendar: str | None,
                  lookup: CalendarLookup) -> tuple[str, Rule]:
    """``every``: the default name and the rule."""
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise ConfigError(f"every(): interval must be a positive timedelta, got {interval!r}")
    if during not in ("session", "always"):
        raise ConfigError(f"every(): during must be 'session' or 'always', got {during!r}")
    cal = None
    if during == "session" or calendar is not None:
        cal = lookup(calendar)
    rule = IntervalRule(interval, during, cal)
    default = f"every:{format_offset(interval, signed=False)}"
    if cal is not None:
        default += f":{cal.name}" if during == "session" else f":always:{cal.name}"
    return default, rule


def daily_at_spec(time_of_day: str, tz: str, *, trading_days_only: bool,
                  calendar: str | None, lookup: CalendarLookup) -> tuple[str, Rule]:
    """``at``: the default name and the rule."""
    match = _HHMM.match(time_of_day.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59 or int(match[3] or 0) > 59:
        raise ConfigError(f"at(): expected 'HH:MM' (24h), got {time_of_day!r}")
    wall = time(int(match[1]), int(match[2]), int(match[3] or 0))
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"at(): unknown time zone {tz!r}") from exc
    cal = lookup(calendar) if (calendar is not None or trading_days_only) else None
    rule = DailyAtRule(wall, zone, cal, trading_days_only)
    default = f"at:{time_of_day.strip()}:{tz}"
    if cal is not None:
        default += f":{cal.name}" + (":trading_days" if trading_days_only else "")
    return default, rule


def check_job_options(name: str | None, missed: MissedPolicy, grace_s: float) -> None:
    """The options every kind of job shares; raises :class:`ConfigError` on the first bad one."""
    if missed not in ("skip", "fire_once_late"):
        raise ConfigError(f"missed must be 'skip' or 'fire_once_late', got {missed!r}")
    if not (grace_s >= 0 and math.isfinite(grace_s)):
        raise ConfigError(f"grace_s must be >= 0, got {grace_s}")
    if name is not None and not name.strip():
        raise ConfigError("a job name must not be empty")
