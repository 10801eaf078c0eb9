"""When a job's instances fall: pure functions of a calendar, the job's spec and a time.

A *rule* answers three questions about the ordered sequence of a job's scheduled instances
(``first_after``, ``last_at_or_before``, ``count_between``) without iterating from some
origin, so the scheduler can jump over a weekend, a stalled hour or a year of replay in a
few lookups. Rules hold no state and read no clock; the scheduler owns "now" and "what was
already fired".

Instances are whole microseconds in UTC; interval arithmetic is done in integer
microseconds so that alignment never drifts by float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from livetrade.scheduling.calendars import Session, TradingCalendar

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SESSION_SPAN = timedelta(days=7)  # longer than any session: a safe look-back for counting
_DAY = timedelta(days=1)
_MAX_DAYS_SCANNED = 400  # a daily rule with no instance within this many days has none


@dataclass(frozen=True, slots=True)
class Instance:
    """One scheduled occurrence of a job; ``session`` is set when it belongs to one."""

    time: datetime
    session: Session | None = None


class Rule(Protocol):
    """The ordered, strictly increasing sequence of a job's instances."""

    def first_after(self, when: datetime) -> Instance | None:
        """The earliest instance strictly after ``when`` (``None``: past the horizon)."""
        ...

    def last_at_or_before(self, when: datetime) -> Instance | None:
        """The latest instance at or before ``when``."""
        ...

    def count_between(self, low: datetime, high: datetime) -> int:
        """How many instances lie strictly between ``low`` and ``high``."""
        ...

    def describe(self) -> str:
        """A short human description for listings and logs."""
        ...


def micros(delta: timedelta) -> int:
    return delta // _US


def _count_steps(first: datetime, step_us: int, n: int, low: datetime, high: datetime) -> int:
    """How many of ``first + k*step`` for ``k`` in ``[0, n)`` lie in ``(low, high)``."""
    if n <= 0 or high <= first:
        return 0
    k_low = 0 if low < first else micros(low - first) // step_us + 1
    k_high = min(n - 1, (micros(high - first) - 1) // step_us)
    return max(0, k_high - k_low + 1)


def _steps_in(session: Session, step_us: int) -> int:
    """How many ``open + k*step`` fall before the close."""
    return -(-micros(session.close_utc - session.open_utc) // step_us)


class SessionEdgeRule:
    """``offset`` after each session's open (or close), early closes included."""

    def __init__(self, calendar: TradingCalendar, edge: Literal["open", "close"],
                 offset: timedelta) -> None:
        self.calendar = calendar
        self.edge = edge
        self.offset = offset

    def _edge(self, session: Session) -> datetime:
        return session.open_utc if self.edge == "open" else session.close_utc

    def _at(self, session: Session | None) -> Instance | None:
        return None if session is None else Instance(self._edge(session) + self.offset, session)

    def first_after(self, when: datetime) -> Instance | None:
        edge_after = when - self.offset  # the first session whose edge is > this
        cal = self.calendar
        if self.edge == "open":
            return self._at(cal.next_session(edge_after))
        # Sessions do not overlap, so the one open at that instant (if any) closes first.
        return self._at(cal.session_at(edge_after) or cal.next_session(edge_after))

    def last_at_or_before(self, when: datetime) -> Instance | None:
        edge_at = when - self.offset
        session = self.calendar.previous_session(edge_at)
        if self.edge == "close" and session is not None and session.close_utc > edge_at:
            session = self.calendar.previous_session(session.open_utc - _US)
        return self._at(session)

    def count_between(self, low: datetime, high: datetime) -> int:
        if high <= low:
            return 0
        sessions = self.calendar.sessions_between(low - self.offset - _SESSION_SPAN,
                                                  high - self.offset + _US)
        return sum(1 for s in sessions if low < self._edge(s) + self.offset < high)

    def describe(self) -> str:
        return f"{self.calendar.name} {self.edge} {format_offset(self.offset)}"


class IntervalRule:
    """Every ``interval``: aligned to each session's open while it is open (``session``),
    or to multiples of the interval since the UTC epoch (``always``).

    ``session``: ``open, open + interval, ...`` strictly before the close, so a 15-minute
    rule on NYSE fires 09:30 ... 15:45 New York time (the close itself is ``market_close``).
    ``always``: ``calendar``, if given, only labels the instances that fall in a session.
    """

    def __init__(self, interval: timedelta, during: Literal["session", "always"],
                 calendar: TradingCalendar | None) -> None:
        if during == "session" and calendar is None:
            raise ValueError("an interval during sessions needs a calendar")
        self.step_us = micros(interval)
        self.interval = interval
        self.during = during
        self.calendar = calendar

    def _always(self, k: int) -> Instance:
        when = _EPOCH + timedelta(microseconds=k * self.step_us)
        session = self.calendar.session_at(when) if self.calendar is not None else None
        return Instance(when, session)

    def first_after(self, when: datetime) -> Instance | None:
        if self.during == "always":
            return self._always(micros(when - _EPOCH) // self.step_us + 1)
        assert self.calendar is not None
        session = self.calendar.session_at(when)
        if session is not None:
            k = micros(when - session.open_utc) // self.step_us + 1
            candidate = session.open_utc + timedelta(microseconds=k * self.step_us)
            if candidate < session.close_utc:
                return Instance(candidate, session)
        session = self.calendar.next_session(when)
        return None if session is None else Instance(session.open_utc, session)

    def last_at_or_before(self, when: datetime) -> Instance | None:
        if self.during == "always":
            return self._always(micros(when - _EPOCH) // self.step_us)
        assert self.calendar is not None
        session = self.calendar.previous_session(when)
        if session is None:
            return None
        end = min(when, session.close_utc - _US)
        k = micros(end - session.open_utc) // self.step_us
        return Instance(session.open_utc + timedelta(microseconds=k * self.step_us), session)

    def count_between(self, low: datetime, high: datetime) -> int:
        if high <= low:
            return 0
        if self.during == "always":
            return _count_steps(_EPOCH, self.step_us, 1 << 62, low, high)
        assert self.calendar is not None
        return sum(
            _count_steps(s.open_utc, self.step_us, _steps_in(s, self.step_us), low, high)
            for s in self.calendar.sessions_between(low - _SESSION_SPAN, high)
        )

    def describe(self) -> str:
        where = ""
        if self.calendar is not None:
            where = (f" during {self.calendar.name} sessions" if self.during == "session"
                     else f" (labelled by {self.calendar.name})")
        return f"every {format_offset(self.interval, signed=False)}{where}"


class DailyAtRule:
    """A wall-clock time in a time zone, every day (or every trading day of a calendar).

    DST: a local time that does not exist that day (02:30 on a spring-forward night) fires
    at the instant it maps to with the pre-transition offset (one hour later on the wall);
    an ambiguous one (01:30 on a fall-back night) fires once, at its first occurrence.
    ``session`` is the calendar's session labelled with that local date, when there is one.
    """

    def __init__(self, at: time, tz: ZoneInfo, calendar: TradingCalendar | None,
                 trading_days_only: bool) -> None:
        if trading_days_only and calendar is None:
            raise ValueError("trading_days_only needs a calendar")
        self.at = at
        self.tz = tz
        self.calendar = calendar
        self.trading_days_only = trading_days_only

    def _on(self, day: date) -> Instance | None:
        session = self.calendar.session_on(day) if self.calendar is not None else None
        if self.trading_days_only and session is None:
            return None
        when = datetime.combine(day, self.at, self.tz).astimezone(UTC)
        return Instance(when, session)

    def first_after(self, when: datetime) -> Instance | None:
        day = when.astimezone(self.tz).date() - _DAY
        for i in range(_MAX_DAYS_SCANNED):
            found = self._on(day + i * _DAY)
            if found is not None and found.time > when:
                return found
        return None

    def last_at_or_before(self, when: datetime) -> Instance | None:
        day = when.astimezone(self.tz).date() + _DAY
        for i in range(_MAX_DAYS_SCANNED):
            found = self._on(day - i * _DAY)
            if found is not None and found.time <= when:
                return found
        return None

    def count_between(self, low: datetime, high: datetime) -> int:
        if high <= low:
            return 0
        first = low.astimezone(self.tz).date() - _DAY
        days = (high.astimezone(self.tz).date() - first).days + 2
        count = 0
        for i in range(days):
            found = self._on(first + i * _DAY)
            if found is not None and low < found.time < high:
                count += 1
        return count

    def describe(self) -> str:
        days = f" on {self.calendar.name} trading days" if self.trading_days_only and \
            self.calendar is not None else ""
        return f"at {self.at.isoformat('minutes' if not self.at.second else 'seconds')} " \
               f"{self.tz.key}{days}"


def format_offset(delta: timedelta, *, signed: bool = True) -> str:
    """``timedelta(minutes=-5)`` -> ``"-5m"``; ``timedelta(hours=1, seconds=30)`` ->
    ``"+1h0m30s"``; ``signed=False`` drops the sign (for intervals)."""
    total = micros(delta)
    sign = "-" if total < 0 else "+"
    total = abs(total)
    seconds, us = divmod(total, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes or (hours and (secs or us)):
        parts.append(f"{minutes}m")
    if secs or us or not parts:
        parts.append(f"{secs}.{us:06d}s".rstrip("0").rstrip(".") if us else f"{secs}s")
    text = "".join(parts)
    return f"{sign}{text}" if signed else text
