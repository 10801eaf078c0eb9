"""TradingScheduler: the right triggers at the right UTC instants, each at most once.

Time is a ManualClock the test moves; the sink is a list. Expected trigger times are
written out in UTC, with the local time they stand for in a comment where DST matters.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kit import wait_until

from livetrade.clock import ManualClock
from livetrade.dispatcher import Dispatcher
from livetrade.errors import ConfigError, EngineStateError
from livetrade.events import Event, ScheduledTrigger, SystemErrorEvent
from livetrade.scheduling import (
    CalendarRegistry,
    CryptoCalendar,
    DiskcacheFiredStore,
    DuplicateJobError,
    InMemoryFiredStore,
    MissedPolicy,
    Session,
    TradingScheduler,
    get_calendar,
)

pytestmark = pytest.mark.timeout(120)

MIN = timedelta(minutes=1)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


class Harness:
    """A scheduler on a ManualClock publishing into a list."""

    def __init__(self, start: datetime, *, calendars: CalendarRegistry | None = None) -> None:
        self.clock = ManualClock(start)
        self.sink: list[Event] = []
        self.scheduler = TradingScheduler(self.clock, self.sink.append, calendars=calendars)

    @property
    def triggers(self) -> list[ScheduledTrigger]:
        return [e for e in self.sink if isinstance(e, ScheduledTrigger)]

    def times(self, name: str | None = None) -> list[datetime]:
        return [t.scheduled_time for t in self.triggers if name is None or t.name == name]

    def at(self, when: datetime) -> int:
        """Move the clock to ``when`` and run a pass."""
        self.clock.advance_to(when)
        return self.scheduler.run_pending()

    def run_through(self, end: datetime) -> None:
        """Look at the clock now, then at every due instant up to ``end`` (jumping there)."""
        self.scheduler.run_pending()
        self.scheduler.run_through(self.clock, end)


# ---------------------------------------------------------------- exact trigger times

def test_market_open_across_the_spring_forward_weekend() -> None:
    h = Harness(utc(2024, 3, 8))
    h.scheduler.market_open(name="open")
    h.run_through(utc(2024, 3, 12))
    assert h.times() == [
        utc(2024, 3, 8, 14, 30),  # 09:30 EST, Friday
        utc(2024, 3, 11, 13, 30),  # 09:30 EDT, Monday: nothing on the weekend
    ]
    first, second = h.triggers
    assert (first.trigger_type, first.calendar, first.session) == ("market_open", "NYSE",
                                                                   date(2024, 3, 8))
    assert second.session == date(2024, 3, 11)
    assert first.actual_time == first.scheduled_time and first.lateness_s == 0


def test_market_open_across_the_fall_back_weekend() -> None:
    h = Harness(utc(2024, 11, 1))
    h.scheduler.market_open()
    h.run_through(utc(2024, 11, 5))
    assert h.times() == [
        utc(2024, 11, 1, 13, 30),  # 09:30 EDT
        utc(2024, 11, 4, 14, 30),  # 09:30 EST
    ]


def test_no_trigger_on_independence_day_and_the_early_close_before_it() -> None:
    h = Harness(utc(2024, 7, 3))
    h.scheduler.market_open(name="open")
    h.scheduler.market_close(name="close")
    h.run_through(utc(2024, 7, 6))
    assert h.times("open") == [utc(2024, 7, 3, 13, 30), utc(2024, 7, 5, 13, 30)]
    assert h.times("close") == [utc(2024, 7, 3, 17), utc(2024, 7, 5, 20)]  # 13:00, 16:00 EDT


def test_five_minutes_before_the_close_honours_the_thanksgiving_early_close() -> None:
    h = Harness(utc(2024, 11, 27))
    name = h.scheduler.market_close(timedelta(minutes=-5))
    h.run_through(utc(2024, 12, 3))
    assert name == "market_close:NYSE-5m"
    assert h.times() == [
        utc(2024, 11, 27, 20, 55),  # 15:55 EST
        utc(2024, 11, 29, 17, 55),  # 12:55 EST: the 13:00 early close
        utc(2024, 12, 2, 20, 55),
    ]
    assert [t.session for t in h.triggers] == [date(2024, 11, 27), date(2024, 11, 29),
                                               date(2024, 12, 2)]


def test_offsets_before_the_open_belong_to_that_session() -> None:
    h = Harness(utc(2024, 3, 8))
    h.scheduler.market_open(timedelta(minutes=-15))
    h.run_through(utc(2024, 3, 12))
    assert h.times() == [utc(2024, 3, 8, 14, 15), utc(2024, 3, 11, 13, 15)]
    assert [t.session for t in h.triggers] == [date(2024, 3, 8), date(2024, 3, 11)]


def test_every_during_session_is_aligned_to_the_open_and_skips_the_weekend() -> None:
    h = Harness(utc(2024, 3, 8, 20))
    h.scheduler.every(timedelta(hours=1))
    h.run_through(utc(2024, 3, 11, 15))
    assert h.times() == [
        utc(2024, 3, 8, 20, 30),  # 15:30 EST; 16:30 would be after the close
        utc(2024, 3, 11, 13, 30),  # Monday's open, 09:30 EDT
        utc(2024, 3, 11, 14, 30),
    ]


def test_every_15_minutes_on_an_early_close_day_stops_before_the_close() -> None:
    h = Harness(utc(2024, 11, 29))
    h.scheduler.every(timedelta(minutes=15))
    h.run_through(utc(2024, 11, 30))
    times = h.times()
    assert times[0] == utc(2024, 11, 29, 14, 30)
    assert times[-1] == utc(2024, 11, 29, 17, 45)
    assert len(times) == 14  # 09:30 ... 12:45 New York


def test_every_always_fires_on_epoch_multiples_through_the_weekend() -> None:
    h = Harness(utc(2024, 3, 9, 0, 1))
    h.scheduler.every(timedelta(minutes=7), during="always", name="seven")
    h.scheduler.every(timedelta(hours=6), during="always", calendar="NYSE", name="six")
    h.run_through(utc(2024, 3, 11, 18, 1))
    sevens = h.times("seven")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert all((t - epoch) % timedelta(minutes=7) == timedelta(0) for t in sevens)
    assert sevens[0] == utc(2024, 3, 9, 0, 4)  # the first multiple of 7 min after 00:01
    assert [b - a for a, b in itertools.pairwise(sevens)] == \
        [timedelta(minutes=7)] * (len(sevens) - 1)
    six = [t for t in h.triggers if t.name == "six"]
    assert [t.scheduled_time for t in six] == [utc(2024, 3, 9, 6), utc(2024, 3, 9, 12),
                                               utc(2024, 3, 9, 18), utc(2024, 3, 10),
                                               utc(2024, 3, 10, 6), utc(2024, 3, 10, 12),
                                               utc(2024, 3, 10, 18), utc(2024, 3, 11),
                                               utc(2024, 3, 11, 6), utc(2024, 3, 11, 12),
                                               utc(2024, 3, 11, 18)]
    # Only the one inside Monday's session carries it.
    assert [(t.calendar, t.session) for t in six if t.session] == [("NYSE", date(2024, 3, 11))]


def test_lse_open_across_uk_dst_and_easter() -> None:
    h = Harness(utc(2024, 3, 28))
    h.scheduler.market_open(calendar="LSE")
    h.run_through(utc(2024, 4, 3))
    assert h.times() == [utc(2024, 3, 28, 8), utc(2024, 4, 2, 7)]  # 08:00 GMT, 08:00 BST
    assert {t.calendar for t in h.triggers} == {"LSE"}


def test_cme_open_is_the_evening_before_the_session_date() -> None:
    h = Harness(utc(2024, 3, 8))
    h.scheduler.market_open(calendar="CME")
    h.scheduler.market_close(timedelta(minutes=-10), calendar="CMES", name="close")
    h.run_through(utc(2024, 3, 12))
    opens = [t for t in h.triggers if t.trigger_type == "market_open"]
    assert [(t.scheduled_time, t.session) for t in opens] == [
        (utc(2024, 3, 10, 22), date(2024, 3, 11)),  # Sunday 17:00 CDT
        (utc(2024, 3, 11, 22), date(2024, 3, 12)),
    ]
    assert h.times("close") == [utc(2024, 3, 8, 22, 50), utc(2024, 3, 11, 21, 50)]


def test_crypto_midnight_trigger_including_the_leap_day() -> None:
    h = Harness(utc(2024, 2, 28, 12))
    h.scheduler.at("00:00", calendar="CRYPTO", name="midnight")
    h.scheduler.at("00:00", name="plain")
    h.run_through(utc(2024, 3, 2, 1))
    assert h.times("midnight") == [utc(2024, 2, 29), utc(2024, 3, 1), utc(2024, 3, 2)]
    labelled = [t for t in h.triggers if t.name == "midnight"]
    assert [(t.trigger_type, t.calendar, t.session) for t in labelled] == [
        ("at", "CRYPTO", date(2024, 2, 29)), ("at", "CRYPTO", date(2024, 3, 1)),
        ("at", "CRYPTO", date(2024, 3, 2))]
    plain = [t for t in h.triggers if t.name == "plain"]
    assert [(t.calendar, t.session) for t in plain] == [("", None)] * 3


def test_crypto_market_open_is_utc_midnight() -> None:
    h = Harness(utc(2024, 1, 1, 12))
    h.scheduler.market_open(calendar="24/7")
    h.run_through(utc(2024, 1, 3, 12))
    assert h.times() == [utc(2024, 1, 2), utc(2024, 1, 3)]


def test_at_in_new_york_on_trading_days_follows_dst() -> None:
    h = Harness(utc(2024, 3, 8))
    h.scheduler.at("09:00", tz="America/New_York", trading_days_only=True)
    h.run_through(utc(2024, 3, 12))
    assert h.times() == [utc(2024, 3, 8, 14), utc(2024, 3, 11, 13)]
    assert [t.session for t in h.triggers] == [date(2024, 3, 8), date(2024, 3, 11)]


def test_at_a_local_time_that_does_not_exist_or_happens_twice_fires_once() -> None:
    h = Harness(utc(2024, 3, 9, 12))
    h.scheduler.at("02:30", tz="America/New_York", name="gap")
    h.run_through(utc(2024, 3, 11, 12))
    assert h.times("gap") == [
        utc(2024, 3, 10, 7, 30),  # 02:30 did not exist: fires at 03:30 EDT
        utc(2024, 3, 11, 6, 30),  # 02:30 EDT
    ]
    h = Harness(utc(2024, 11, 2, 12))
    h.scheduler.at("01:30", tz="America/New_York", name="twice")
    h.run_through(utc(2024, 11, 4, 12))
    assert h.times("twice") == [
        utc(2024, 11, 3, 5, 30),  # the first 01:30 (EDT) only, not 06:30Z (EST)
        utc(2024, 11, 4, 6, 30),
    ]


# ---------------------------------------------------------------- missed triggers

def test_fire_once_late_within_grace_records_lateness() -> None:
    h = Harness(utc(2024, 3, 8, 14, 29))
    h.scheduler.market_open(name="open", grace_s=60)
    h.scheduler.run_pending()
    assert h.at(utc(2024, 3, 8, 14, 30, 30)) == 1
    trigger = h.triggers[0]
    assert trigger.actual_time == utc(2024, 3, 8, 14, 30, 30) and trigger.lateness_s == 30
    stats = h.scheduler.stats()["open"]
    assert (stats.fired, stats.skipped, stats.last_lateness_s, stats.max_lateness_s) == (
        1, 0, 30, 30)
    assert stats.last_fired == utc(2024, 3, 8, 14, 30)


@pytest.mark.parametrize("missed", ["skip", "fire_once_late"])
def test_a_trigger_noticed_after_its_grace_is_skipped_and_counted(missed: MissedPolicy) -> None:
    h = Harness(utc(2024, 3, 8, 14, 29))
    h.scheduler.market_open(name="open", missed=missed, grace_s=60)
    h.scheduler.run_pending()
    assert h.at(utc(2024, 3, 8, 14, 31, 1)) == 0
    stats = h.scheduler.stats()["open"]
    assert (stats.fired, stats.skipped, stats.last_skipped) == (0, 1, utc(2024, 3, 8, 14, 30))
    h.run_through(utc(2024, 3, 12))
    assert h.times() == [utc(2024, 3, 11, 13, 30)]  # the next one is on time again


def test_after_a_stall_skip_fires_each_instance_within_grace() -> None:
    h = Harness(utc(2024, 1, 2, 10))
    h.scheduler.every(MIN, during="always", missed="skip", grace_s=150, name="m")
    h.scheduler.run_pending()  # fires 10:00
    assert h.at(utc(2024, 1, 2, 10, 5)) == 3
    assert h.times() == [utc(2024, 1, 2, 10), utc(2024, 1, 2, 10, 3), utc(2024, 1, 2, 10, 4),
                         utc(2024, 1, 2, 10, 5)]
    stats = h.scheduler.stats()["m"]
    assert (stats.skipped, stats.last_skipped, stats.max_lateness_s) == (
        2, utc(2024, 1, 2, 10, 2), 120)


def test_after_a_stall_fire_once_late_fires_only_the_latest() -> None:
    h = Harness(utc(2024, 1, 2, 10))
    h.scheduler.every(MIN, during="always", missed="fire_once_late", grace_s=150, name="m")
    h.scheduler.run_pending()
    assert h.at(utc(2024, 1, 2, 10, 5, 10)) == 1
    assert h.times() == [utc(2024, 1, 2, 10), utc(2024, 1, 2, 10, 5)]
    stats = h.scheduler.stats()["m"]
    assert (stats.skipped, stats.last_skipped, stats.last_lateness_s) == (
        4, utc(2024, 1, 2, 10, 4), 10)


def test_a_long_stall_is_counted_without_walking_every_instance() -> None:
    h = Harness(utc(2024, 1, 2))
    h.scheduler.every(timedelta(seconds=1), during="always", name="s")
    h.scheduler.every(MIN, name="session")  # NYSE sessions
    h.scheduler.run_pending()
    h.at(utc(2024, 2, 2))  # a month later, nothing due within grace
    stats = h.scheduler.stats()
    # Fired: 01-02 00:00:00 and 02-02 00:00:00; skipped: every second in between.
    assert (stats["s"].fired, stats["s"].skipped) == (2, 31 * 86400 - 1)
    assert stats["session"].skipped == 22 * 390  # 22 full NYSE sessions of 390 minutes
    assert stats["session"].fired == 0


def test_the_same_instance_never_fires_twice_when_the_clock_stands_still() -> None:
    h = Harness(utc(2024, 3, 8, 14, 30))
    h.scheduler.market_open()
    assert h.scheduler.run_pending() == 1
    assert h.scheduler.run_pending() == 0
    assert h.at(utc(2024, 3, 8, 14, 30, 20)) == 0
    assert len(h.triggers) == 1


# ---------------------------------------------------------------- first start

def test_first_start_does_not_fire_an_instance_before_it_even_within_grace() -> None:
    h = Harness(utc(2024, 3, 8, 14, 30, 10))
    h.scheduler.market_open(missed="fire_once_late", grace_s=60)
    h.run_through(utc(2024, 3, 11, 14))
    assert h.times() == [utc(2024, 3, 11, 13, 30)]
    assert next(iter(h.scheduler.stats().values())).skipped == 0


def test_an_instance_exactly_at_the_start_fires() -> None:
    h = Harness(utc(2024, 3, 8, 14, 30))
    h.scheduler.market_open()
    assert h.scheduler.run_pending() == 1


def test_a_job_added_on_a_clock_still_at_its_epoch_starts_at_the_first_look() -> None:
    # Replay: the strategy adds jobs in on_start before the first bar moves the clock.
    h = Harness(datetime(1970, 1, 1, tzinfo=UTC))
    h.scheduler.market_open(name="open")
    assert h.at(utc(2024, 3, 8, 14, 30)) == 1
    assert h.scheduler.stats()["open"].skipped == 0  # not 54 years of missed opens


def test_a_job_added_later_starts_when_it_is_added() -> None:
    h = Harness(utc(2024, 3, 8, 14))
    h.scheduler.run_pending()
    h.clock.advance_to(utc(2024, 3, 8, 14, 29, 59))
    h.scheduler.market_open()
    assert h.at(utc(2024, 3, 8, 14, 30, 5)) == 1


# ---------------------------------------------------------------- restart and persistence

def test_restart_with_the_same_disk_store_never_fires_an_instance_twice(tmp_path: Path) -> None:
    clock = ManualClock(utc(2024, 3, 8, 14, 29))
    sink: list[Event] = []
    store = DiskcacheFiredStore(tmp_path / "fired")
    first = TradingScheduler(clock, sink.append, store=store)
    first.market_open(name="open")
    first.run_pending()
    clock.advance_to(utc(2024, 3, 8, 14, 30, 5))
    assert first.run_pending() == 1
    store.close()  # the process "crashes" here

    clock.advance_to(utc(2024, 3, 8, 14, 30, 20))  # restarted, still within grace
    with DiskcacheFiredStore(tmp_path / "fired") as reopened:
        second = TradingScheduler(clock, sink.append, store=reopened)
        second.market_open(name="open")
        assert second.run_pending() == 0
        clock.advance_to(utc(2024, 3, 11, 13, 30))
        assert second.run_pending() == 1
        assert reopened.snapshot() == {"open": utc(2024, 3, 11, 13, 30)}
    assert [t.scheduled_time for t in sink if isinstance(t, ScheduledTrigger)] == [
        utc(2024, 3, 8, 14, 30), utc(2024, 3, 11, 13, 30)]


def test_restart_across_a_trigger_fires_it_late_once_when_history_is_known(
        tmp_path: Path) -> None:
    clock = ManualClock(utc(2024, 3, 8, 14, 30))
    sink: list[Event] = []
    with DiskcacheFiredStore(tmp_path) as store:
        first = TradingScheduler(clock, sink.append, store=store)
        first.market_open(name="open")
        assert first.run_pending() == 1  # Friday's open; then down over the weekend
    clock.advance_to(utc(2024, 3, 11, 13, 30, 40))  # back up 40 s after Monday's open
    with DiskcacheFiredStore(tmp_path) as store:
        second = TradingScheduler(clock, sink.append, store=store)
        second.market_open(name="open")
        assert second.run_pending() == 1
        assert second.run_pending() == 0
    monday = [t for t in sink if isinstance(t, ScheduledTrigger)][-1]
    assert (monday.scheduled_time, monday.lateness_s) == (utc(2024, 3, 11, 13, 30), 40)


def test_a_trigger_recorded_but_never_published_is_not_fired_after_restart() -> None:
    # At-most-once: the store is written before publishing, so a crash in between loses it.
    clock = ManualClock(utc(2024, 3, 8, 14, 29))
    store = InMemoryFiredStore()

    def crash(event: Event) -> None:
        raise RuntimeError("process died while publishing")

    first = TradingScheduler(clock, crash, store=store)
    first.market_open(name="open")
    first.run_pending()
    clock.advance_to(utc(2024, 3, 8, 14, 30))
    assert first.run_pending() == 0
    assert first.errors == 1
    sink: list[Event] = []
    second = TradingScheduler(clock, sink.append, store=InMemoryFiredStore(store.snapshot()))
    second.market_open(name="open")
    assert second.run_pending() == 0 and sink == []


def test_cancel_and_re_add_does_not_re_fire() -> None:
    h = Harness(utc(2024, 3, 8, 14, 30))
    h.scheduler.market_open(name="open")
    assert h.scheduler.run_pending() == 1
    assert h.scheduler.cancel("open") is True
    h.scheduler.market_open(name="open")
    assert h.at(utc(2024, 3, 8, 14, 30, 30)) == 0


# ---------------------------------------------------------------- job management

def test_cancel_stops_a_job_and_reports_whether_it_existed() -> None:
    h = Harness(utc(2024, 3, 8))
    keep = h.scheduler.market_open()
    drop = h.scheduler.market_close()
    assert h.scheduler.cancel(drop) is True
    assert h.scheduler.cancel(drop) is False
    assert h.scheduler.cancel("never-added") is False
    h.run_through(utc(2024, 3, 9))
    assert [t.name for t in h.triggers] == [keep]
    assert [j.name for j in h.scheduler.jobs()] == [keep]


def test_a_duplicate_name_is_a_typed_error_and_generated_names_are_unique() -> None:
    h = Harness(utc(2024, 3, 8))
    s = h.scheduler
    assert s.market_open(name="open") == "open"
    with pytest.raises(DuplicateJobError) as raised:
        s.market_close(name="open")
    assert isinstance(raised.value, ConfigError)
    assert s.market_open() == "market_open:NYSE"
    assert s.market_open() == "market_open:NYSE#2"
    assert s.market_open(timedelta(minutes=5), calendar="xlon") == "market_open:LSE+5m"
    assert s.every(timedelta(minutes=15)) == "every:15m:NYSE"
    assert s.every(timedelta(hours=1), during="always") == "every:1h"
    assert s.at("00:00", calendar="crypto") == "at:00:00:UTC:CRYPTO"
    assert s.at("09:00", tz="America/New_York", trading_days_only=True) == \
        "at:09:00:America/New_York:NYSE:trading_days"


def test_jobs_lists_each_job_with_its_next_instance() -> None:
    h = Harness(utc(2024, 3, 8, 15))
    h.scheduler.market_open(name="open")
    h.scheduler.market_close(timedelta(minutes=-5), name="close", missed="skip", grace_s=5)
    listed = {j.name: j for j in h.scheduler.jobs()}
    assert listed["open"].next_time == utc(2024, 3, 11, 13, 30)
    assert listed["close"].next_time == utc(2024, 3, 8, 20, 55)
    assert (listed["close"].trigger_type, listed["close"].missed, listed["close"].grace_s) == (
        "market_close", "skip", 5.0)
    assert "NYSE close" in listed["close"].description
    assert h.scheduler.next_due() == utc(2024, 3, 8, 20, 55)


def test_unknown_calendars_are_config_errors_listing_the_known_names() -> None:
    with pytest.raises(ConfigError, match="NYSE"):
        TradingScheduler(ManualClock(utc(2024, 1, 1)), print, default_calendar="TSE")
    h = Harness(utc(2024, 1, 1))
    with pytest.raises(ConfigError, match=r"known: .*CRYPTO"):
        h.scheduler.market_open(calendar="NOPE")
    assert h.scheduler.jobs() == []


@pytest.mark.parametrize("add", [
    lambda s: s.at("24:00"),
    lambda s: s.at("9h30"),
    lambda s: s.at("09:30", tz="Mars/Olympus"),
    lambda s: s.every(timedelta(0)),
    lambda s: s.every(timedelta(minutes=5), during="sometimes"),
    lambda s: s.market_open(missed="later"),
    lambda s: s.market_open(grace_s=-1),
    lambda s: s.market_open(name=" "),
])
def test_invalid_job_specs_are_config_errors(add: Callable[[TradingScheduler], str]) -> None:
    with pytest.raises(ConfigError):
        add(Harness(utc(2024, 1, 1)).scheduler)


# ---------------------------------------------------------------- failures

class BrokenCalendar(CryptoCalendar):
    def next_session(self, after_utc: datetime) -> Session:
        raise RuntimeError("calendar service down")


def test_a_failing_job_is_reported_once_and_does_not_stop_the_others() -> None:
    registry = CalendarRegistry()
    registry.register("BROKEN", BrokenCalendar("BROKEN"))
    h = Harness(utc(2024, 1, 1, 23, 59), calendars=registry)
    h.scheduler.market_open(calendar="BROKEN", name="broken")
    h.scheduler.at("00:00", name="fine")
    h.scheduler.run_pending()
    h.at(utc(2024, 1, 2))
    h.at(utc(2024, 1, 2, 0, 1))
    errors = [e for e in h.sink if isinstance(e, SystemErrorEvent)]
    assert len(errors) == 1
    assert (errors[0].source, errors[0].context, errors[0].error_type) == (
        "scheduler", {"job": "broken"}, "RuntimeError")
    assert h.times("fine") == [utc(2024, 1, 2)]


def test_a_sink_that_calls_back_into_the_scheduler_does_not_deadlock() -> None:
    clock = ManualClock(utc(2024, 1, 2))
    seen: list[ScheduledTrigger] = []
    scheduler: TradingScheduler

    def sink(event: Event) -> None:
        assert isinstance(event, ScheduledTrigger)
        seen.append(event)
        scheduler.cancel(event.name)
        scheduler.run_pending()

    scheduler = TradingScheduler(clock, sink)
    scheduler.every(MIN, during="always", name="once")
    assert scheduler.run_pending() == 1
    clock.advance_to(utc(2024, 1, 2, 0, 5))
    assert scheduler.run_pending() == 0
    assert [t.name for t in seen] == ["once"]


# ---------------------------------------------------------------- driven from outside

def test_replay_style_run_pending_feeds_a_real_dispatcher_without_any_thread() -> None:
    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    dispatcher = Dispatcher(clock=clock.now)
    received: list[ScheduledTrigger] = []
    dispatcher.subscribe(ScheduledTrigger, received.append, "test")
    scheduler = TradingScheduler(clock, dispatcher.publish)
    scheduler.market_open(name="open")
    scheduler.market_close(timedelta(minutes=-5), name="close")
    bars = [utc(2024, 3, 8, 14, 30) + n * timedelta(minutes=30) for n in range(14)]
    before_bar: dict[datetime, list[ScheduledTrigger]] = {}
    for bar_time in bars:  # what the engine does before dispatching each bar in replay
        scheduler.run_through(clock, bar_time)
        dispatcher.run_pending()
        before_bar[bar_time] = list(received)
        received.clear()
    assert [t.name for t in before_bar[utc(2024, 3, 8, 14, 30)]] == ["open"]
    close = before_bar[utc(2024, 3, 8, 21)]  # 20:55 lies between the 20:30 and 21:00 bars
    assert [(t.name, t.scheduled_time, t.lateness_s) for t in close] == [
        ("close", utc(2024, 3, 8, 20, 55), 0)]
    assert sum(len(v) for v in before_bar.values()) == 2
    assert not scheduler.running


def test_one_pass_per_bar_notices_a_between_bars_trigger_late() -> None:
    h = Harness(utc(2024, 3, 8, 20))
    h.scheduler.market_close(timedelta(minutes=-5), name="close", grace_s=60)
    h.scheduler.market_close(timedelta(minutes=-5), name="tolerant", grace_s=1800)
    h.scheduler.run_pending()
    h.at(utc(2024, 3, 8, 20, 30))
    h.at(utc(2024, 3, 8, 21))
    assert [(t.name, t.lateness_s) for t in h.triggers] == [("tolerant", 300)]
    assert h.scheduler.stats()["close"].skipped == 1
    with pytest.raises(ValueError, match="own clock"):
        h.scheduler.run_through(ManualClock(utc(2024, 3, 9)), utc(2024, 3, 9))


def test_a_year_of_daily_opens_in_simulated_time() -> None:
    h = Harness(utc(2024, 1, 1))
    h.scheduler.market_open(name="open")
    h.run_through(utc(2025, 1, 1))
    sessions = get_calendar("NYSE").sessions_between(utc(2024, 1, 1), utc(2025, 1, 1))
    assert [(t.session, t.scheduled_time) for t in h.triggers] == [
        (s.session_date, s.open_utc) for s in sessions]
    assert len(h.triggers) == 252
    assert h.scheduler.stats()["open"].max_lateness_s == 0


def test_a_year_stepped_hour_by_hour_fires_every_open_once_late() -> None:
    h = Harness(utc(2024, 1, 1))
    h.scheduler.market_open(name="open", grace_s=3600)
    when = utc(2024, 1, 1)
    while when < utc(2025, 1, 1):
        h.at(when)
        when += timedelta(hours=1)
    assert len(h.triggers) == 252
    assert {t.lateness_s for t in h.triggers} == {1800.0}  # each 14:30/13:30 seen at :00
    assert h.scheduler.stats()["open"].skipped == 0


# ---------------------------------------------------------------- the thread

def test_the_schedule_heartbeat_thread_fires_on_the_injected_clock() -> None:
    clock = ManualClock(utc(2024, 3, 8, 14))
    sink: list[Event] = []
    lock = threading.Lock()

    def publish(event: Event) -> None:
        with lock:
            sink.append(event)

    def count() -> int:
        with lock:
            return len(sink)

    scheduler = TradingScheduler(clock, publish, poll_interval_s=0.01)
    scheduler.market_open(name="open")
    scheduler.start()
    try:
        with pytest.raises(EngineStateError):
            scheduler.start()
        assert scheduler.running
        clock.advance_to(utc(2024, 3, 8, 14, 30, 1))
        assert wait_until(lambda: count() == 1, timeout_s=10)
        scheduler.market_close(timedelta(minutes=-5), name="close")  # added while running
        clock.advance_to(utc(2024, 3, 8, 20, 55))
        assert wait_until(lambda: count() == 2, timeout_s=10)
        clock.advance_to(utc(2024, 3, 11, 13, 30))
        assert wait_until(lambda: count() == 3, timeout_s=10)
    finally:
        scheduler.stop()
        assert scheduler.join(timeout_s=10)
    assert not scheduler.running
    names = [e.name for e in sink if isinstance(e, ScheduledTrigger)]
    assert names == ["open", "close", "open"]


def test_the_thread_survives_a_failing_sink_and_reports_it() -> None:
    clock = ManualClock(utc(2024, 1, 2))
    published: list[Event] = []
    failures = iter([True])

    def flaky(event: Event) -> None:
        if isinstance(event, ScheduledTrigger) and next(failures, False):
            raise OSError("queue unavailable")
        published.append(event)

    scheduler = TradingScheduler(clock, flaky, poll_interval_s=0.01)
    scheduler.every(MIN, during="always", name="m")
    scheduler.start()
    try:
        assert wait_until(lambda: scheduler.errors == 1, timeout_s=10)
        clock.advance_to(utc(2024, 1, 2, 0, 1))
        assert wait_until(
            lambda: any(isinstance(e, ScheduledTrigger) for e in published), timeout_s=10)
    finally:
        scheduler.stop()
        assert scheduler.join(timeout_s=10)
    assert any(isinstance(e, SystemErrorEvent) for e in published)


def test_join_without_start_returns_at_once() -> None:
    scheduler = TradingScheduler(ManualClock(utc(2024, 1, 1)), print)
    scheduler.stop()
    assert scheduler.join(0) is True and not scheduler.running


# ---------------------------------------------------------------- properties

def _oracle(start: datetime, end: datetime) -> dict[str, list[datetime]]:
    """Every instance of the property test's jobs in ``[start, end]``, listed by brute force
    from the calendars' sessions (not by the rules under test)."""
    nyse = get_calendar("NYSE").sessions_between(start - timedelta(days=2), end)
    instances: dict[str, list[datetime]] = {
        "open": [s.open_utc for s in nyse],
        "close5": [s.close_utc - timedelta(minutes=5) for s in nyse],
        "q": [],
        "seven": [],
        "midnight": [],
    }
    for s in nyse:
        t = s.open_utc
        while t < s.close_utc:
            instances["q"].append(t)
            t += timedelta(minutes=15)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    t = epoch + ((start - epoch) // timedelta(minutes=7)) * timedelta(minutes=7)
    while t <= end:
        instances["seven"].append(t)
        t += timedelta(minutes=7)
    day = start.date()
    while (t := datetime.combine(day, time(), UTC)) <= end:
        instances["midnight"].append(t)
        day += timedelta(days=1)
    return {k: [t for t in v if start <= t <= end] for k, v in instances.items()}


STARTS = [utc(2024, 3, 8, 14, 20), utc(2024, 7, 3, 16, 50), utc(2024, 11, 29, 17, 40),
          utc(2024, 11, 1, 23, 58), utc(2024, 12, 24, 13)]
JUMP = st.one_of(st.integers(0, 90), st.integers(0, 1800), st.integers(0, 3 * 86400))


@given(start=st.sampled_from(STARTS), jumps=st.lists(JUMP, max_size=40),
       missed=st.sampled_from(["skip", "fire_once_late"]),
       grace_s=st.sampled_from([0, 30, 60, 600]))
def test_property_each_instance_fires_at_most_once_and_the_latest_within_grace_fires(
        start: datetime, jumps: list[int], missed: MissedPolicy, grace_s: int) -> None:
    h = Harness(start)
    s = h.scheduler
    s.market_open(name="open", missed=missed, grace_s=grace_s)
    s.market_close(timedelta(minutes=-5), name="close5", missed=missed, grace_s=grace_s)
    s.every(timedelta(minutes=15), name="q", missed=missed, grace_s=grace_s)
    s.every(timedelta(minutes=7), during="always", name="seven", missed=missed,
            grace_s=grace_s)
    s.at("00:00", calendar="CRYPTO", name="midnight", missed=missed, grace_s=grace_s)
    end = start + timedelta(seconds=sum(jumps))
    oracle = _oracle(start, end)
    grace = timedelta(seconds=grace_s)
    now = start
    fired: set[tuple[str, datetime]] = set()
    for jump in [0, *jumps]:
        now += timedelta(seconds=jump)
        h.at(now)
        new = h.triggers[len(fired):]
        for trigger in new:
            key = (trigger.name, trigger.scheduled_time)
            assert key not in fired, f"fired twice: {key}"
            fired.add(key)
            assert trigger.scheduled_time in oracle[trigger.name]
            assert timedelta(0) <= trigger.actual_time - trigger.scheduled_time <= grace
        assert len(fired) == len(h.triggers)
        for name, times in oracle.items():
            due = times[:bisect.bisect_right(times, now)]
            within = [t for t in due if now - t <= grace]
            must = within[-1:] if missed == "fire_once_late" else within
            for t in must:
                assert (name, t) in fired, f"{name} {t} due within grace at {now} did not fire"


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    before = {t.name for t in threading.enumerate()}
    yield
    leaked = {t.name for t in threading.enumerate()} - before
    assert not any(name.startswith("livetrade-scheduler") for name in leaked)
