"""Trading calendars: when is a market open, in UTC, holidays and early closes included.

Exchange sessions come from ``exchange_calendars`` (maintained holiday and early-close rules
per exchange, DST-correct UTC open/close instants), never from a hand-written holiday list;
24/7 crypto is a trivial calendar of our own. Everything this module returns is plain
Python (``datetime`` in UTC, ``date``): pandas stays inside :class:`ExchangeCalendar`, so the
scheduler and its tests never see a ``Timestamp``.

Building an ``exchange_calendars`` object costs ~0.1-0.3 s and importing the library ~0.7 s,
so both happen lazily, on the first question asked of a calendar, and the converted sessions
are kept by a :class:`CalendarRegistry` (one per process by default, see :func:`get_calendar`).
The CLI therefore starts fast and a process pays for each calendar once.

Conventions shared by every calendar:

* a :class:`Session` is the half-open interval ``[open_utc, close_utc)``; at ``close_utc``
  the session is over (for CME, whose sessions touch, that instant is the next open);
* ``session_date`` is the exchange's label for the session, its local trading date (a CME
  session opening Sunday 17:00 Chicago is Monday's session);
* all arguments must be timezone-aware; naive datetimes raise ``ValueError``.
"""

from __future__ import annotations

import bisect
import functools
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol

from livetrade.errors import ConfigError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session of one calendar, as UTC instants."""

    calendar: str
    session_date: date
    open_utc: datetime
    close_utc: datetime
    early_close: bool = False

    def contains(self, when: datetime) -> bool:
        """Whether the market is open at ``when`` (open inclusive, close exclusive)."""
        return self.open_utc <= when < self.close_utc


class TradingCalendar(Protocol):
    """What the scheduler needs to know about a market's hours.

    Implementations must be safe to call from several threads and must answer in plain
    UTC datetimes. A calendar may have a horizon (exchange rules are known some years
    ahead): past it, ``next_session`` returns ``None``.
    """

    @property
    def name(self) -> str:
        """The canonical name written into triggers (``"NYSE"``, ``"CRYPTO"``...)."""
        ...

    def sessions_between(self, start_utc: datetime, end_utc: datetime) -> list[Session]:
        """Sessions opening in ``[start_utc, end_utc)``, in order."""
        ...

    def session_at(self, when_utc: datetime) -> Session | None:
        """The session open at ``when_utc``, or ``None`` if the market is closed then."""
        ...

    def next_session(self, after_utc: datetime) -> Session | None:
        """The first session opening strictly after ``after_utc``."""
        ...

    def previous_session(self, at_utc: datetime) -> Session | None:
        """The last session opening at or before ``at_utc`` (it may still be open)."""
        ...

    def session_on(self, day: date) -> Session | None:
        """The session labelled ``day``, or ``None`` if ``day`` is not a trading day."""
        ...


def as_utc(when: datetime) -> datetime:
    """``when`` converted to UTC; naive datetimes are refused (their zone is a guess)."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when.isoformat()}: pass a timezone-aware time")
    return when if when.tzinfo is UTC else when.astimezone(UTC)


class CryptoCalendar:
    """Always open: one session per UTC day, ``00:00`` to the next ``00:00``.

    Cutting the continuous market into UTC days gives "daily" jobs (``market_open``) a
    meaning for crypto: they fire at UTC midnight.
    """

    def __init__(self, name: str = "CRYPTO") -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def session_on(self, day: date) -> Session:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return Session(self._name, day, start, start + timedelta(days=1))

    def session_at(self, when_utc: datetime) -> Session:
        return self.session_on(as_utc(when_utc).date())

    def previous_session(self, at_utc: datetime) -> Session:
        return self.session_at(at_utc)

    def next_session(self, after_utc: datetime) -> Session:
        return self.session_on(as_utc(after_utc).date() + timedelta(days=1))

    def sessions_between(self, start_utc: datetime, end_utc: datetime) -> list[Session]:
        first = self.next_session(as_utc(start_utc) - _TICK).session_date
        before_end = datetime.combine(first, time(), UTC) - as_utc(end_utc)
        days = -(before_end // timedelta(days=1))  # midnights in [first, end): a ceiling
        return [self.session_on(first + timedelta(days=i)) for i in range(max(0, days))]


class _Loaded(NamedTuple):
    """An immutable snapshot of converted sessions; swapped whole, so readers need no lock."""

    first: date
    last: date
    sessions: list[Session]
    opens: list[datetime]
    by_date: dict[date, Session]


class ExchangeCalendar:
    """An exchange's sessions, read from ``exchange_calendars`` and kept as plain Python.

    Sessions are loaded for a window of dates around the first question and the window
    grows (by rebuilding, a fraction of a second) when a question falls outside it, up to
    the library's bounds for that exchange. Lookups are ``bisect`` over the open times.
    """

    _MARGIN = timedelta(days=366)
    _MAX_EXTENSIONS = 5  # years searched past the window before "no next session"

    def __init__(self, name: str, code: str) -> None:
        self._name = name
        self.code = code
        self._lock = threading.Lock()
        self._data: _Loaded | None = None
        self._bounds: tuple[date | None, date | None] | None = None

    @property
    def name(self) -> str:
        return self._name

    # ---------------------------------------------------------------- loading
    def _cover(self, start: date, end: date) -> _Loaded:
        data = self._data
        if data is not None and data.first <= start and end <= data.last:
            return data
        with self._lock:
            data = self._data
            if data is not None and data.first <= start and end <= data.last:
                return data
            lo, hi = start - self._MARGIN, end + self._MARGIN
            if data is not None:
                lo, hi = min(lo, data.first), max(hi, data.last)
            lo, hi = self._clamp(lo, hi)
            data = self._data = self._load(lo, hi)
            return data

    def _clamp(self, lo: date, hi: date) -> tuple[date, date]:
        if self._bounds is None:
            default = self._build()
            bmin, bmax = default.bound_min(), default.bound_max()
            self._bounds = (None if bmin is None else bmin.date(),
                            None if bmax is None else bmax.date())
        bmin_d, bmax_d = self._bounds
        if bmin_d is not None and lo < bmin_d:
            lo = bmin_d
        if bmax_d is not None and hi > bmax_d:
            hi = bmax_d
        return lo, max(lo, hi)

    @staticmethod
    def _xcals() -> Any:
        # Imported here, not at module level: the import alone takes most of a second.
        import exchange_calendars

        return exchange_calendars

    def _build(self, **window: str) -> Any:
        xcals = self._xcals()
        with warnings.catch_warnings():
            # exchange_calendars 4.x reads ``Series.values`` on tz-aware columns, which
            # pandas 3.1 deprecates; harmless for us (we read ``.array.asi8``), and not
            # ours to fix. Narrow filter; held only while one calendar is built.
            warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
            return xcals.get_calendar(self.code, **window)

    def _load(self, lo: date, hi: date) -> _Loaded:
        cal = self._build(start=lo.isoformat(), end=hi.isoformat())
        frame = cal.schedule
        labels: list[date] = list(frame.index.date)
        opens_ns: list[int] = [int(v) for v in frame["open"].array.asi8]
        closes_ns: list[int] = [int(v) for v in frame["close"].array.asi8]
        early: set[date] = set(cal.early_closes.date)
        sessions = [
            Session(self._name, day, _from_ns(o), _from_ns(c), day in early)
            for day, o, c in zip(labels, opens_ns, closes_ns, strict=True)
        ]
        return _Loaded(lo, hi, sessions, [s.open_utc for s in sessions],
                       {s.session_date: s for s in sessions})

    # ---------------------------------------------------------------- questions
    def sessions_between(self, start_utc: datetime, end_utc: datetime) -> list[Session]:
        start, end = as_utc(start_utc), as_utc(end_utc)
        if end <= start:
            return []
        data = self._cover(start.date() - timedelta(days=1), end.date() + timedelta(days=1))
        lo = bisect.bisect_left(data.opens, start)
        hi = bisect.bisect_left(data.opens, end)
        return data.sessions[lo:hi]

    def previous_session(self, at_utc: datetime) -> Session | None:
        when = as_utc(at_utc)
        day = when.date()
        for _ in range(self._MAX_EXTENSIONS + 1):
            data = self._cover(day - timedelta(days=10), when.date() + timedelta(days=2))
            i = bisect.bisect_right(data.opens, when)
            if i > 0:
                return data.sessions[i - 1]
            if data.first > day - timedelta(days=10):
                return None  # the library's bound: nothing earlier exists
            day = data.first - timedelta(days=1)
        return None

    def session_at(self, when_utc: datetime) -> Session | None:
        session = self.previous_session(when_utc)
        if session is not None and session.contains(as_utc(when_utc)):
            return session
        return None

    def next_session(self, after_utc: datetime) -> Session | None:
        when = as_utc(after_utc)
        day = when.date()
        for _ in range(self._MAX_EXTENSIONS + 1):
            data = self._cover(when.date() - timedelta(days=2), day + timedelta(days=10))
            i = bisect.bisect_right(data.opens, when)
            if i < len(data.opens):
                return data.sessions[i]
            if data.last < day + timedelta(days=10):
                return None  # the library's bound: nothing later is known
            day = data.last + timedelta(days=1)
        return None

    def session_on(self, day: date) -> Session | None:
        return self._cover(day, day).by_date.get(day)


def _from_ns(nanoseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)


# name -> (canonical name, exchange_calendars code, or None for the crypto calendar)
_KNOWN: dict[str, tuple[str, str | None]] = {
    "NYSE": ("NYSE", "XNYS"), "XNYS": ("NYSE", "XNYS"),
    "NASDAQ": ("NASDAQ", "XNAS"), "XNAS": ("NASDAQ", "XNAS"),
    "CME": ("CME", "CMES"), "CMES": ("CME", "CMES"),
    "LSE": ("LSE", "XLON"), "XLON": ("LSE", "XLON"),
    "CRYPTO": ("CRYPTO", None), "24/7": ("CRYPTO", None),
}


def known_calendar_names() -> list[str]:
    """Every name :meth:`CalendarRegistry.get` accepts (case-insensitive), sorted."""
    return sorted(_KNOWN)


def canonical_calendar_name(name: str) -> str:
    """``"xnys"`` -> ``"NYSE"``; raises :class:`ConfigError` listing the known names."""
    entry = _KNOWN.get(name.strip().upper())
    if entry is None:
        known = ", ".join(known_calendar_names())
        raise ConfigError(f"unknown trading calendar {name!r}; known: {known}",
                          problems=[f"calendar: unknown name {name!r} (known: {known})"],
                          calendar=name)
    return entry[0]


class CalendarRegistry:
    """Calendars by name, each built once: the slow ``exchange_calendars`` objects are shared.

    Custom calendars (a test double, another venue) can be added with :meth:`register`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calendars: dict[str, TradingCalendar] = {}

    def register(self, name: str, calendar: TradingCalendar) -> None:
        """Answer ``name`` (case-insensitive) with ``calendar`` from now on."""
        with self._lock:
            self._calendars[name.strip().upper()] = calendar

    def get(self, name: str) -> TradingCalendar:
        """The calendar called ``name``: NYSE/XNYS, NASDAQ/XNAS, CME/CMES, LSE/XLON,
        CRYPTO/24/7 (case-insensitive). Cheap: nothing is loaded until it is asked a
        question. Unknown names raise :class:`ConfigError`."""
        key = name.strip().upper()
        with self._lock:
            found = self._calendars.get(key)
            if found is not None:
                return found
            canonical = canonical_calendar_name(key)
            found = self._calendars.get(canonical)
            if found is None:
                code = _KNOWN[canonical][1]
                found = CryptoCalendar(canonical) if code is None else ExchangeCalendar(
                    canonical, code)
                self._calendars[canonical] = found
            self._calendars[key] = found
            return found


@functools.cache
def default_calendars() -> CalendarRegistry:
    """The process-wide registry (created on first use, not at import)."""
    return CalendarRegistry()


def get_calendar(name: str) -> TradingCalendar:
    """``default_calendars().get(name)``."""
    return default_calendars().get(name)
