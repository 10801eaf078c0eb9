"""Trading calendars: exact UTC session times from exchange_calendars, as plain datetimes.

Every expected instant is written out in UTC; the comment next to it gives the local time
it stands for, so a reader can check the DST arithmetic by eye.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from livetrade.errors import ConfigError
from livetrade.scheduling import (
    CalendarRegistry,
    CryptoCalendar,
    ExchangeCalendar,
    Session,
    get_calendar,
    known_calendar_names,
)

pytestmark = pytest.mark.timeout(120)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def session(name: str, day: str) -> Session:
    found = get_calendar(name).session_on(date.fromisoformat(day))
    assert found is not None, f"{name} has no session on {day}"
    return found


def hours(s: Session) -> tuple[datetime, datetime]:
    return s.open_utc, s.close_utc


# ---------------------------------------------------------------- NYSE / NASDAQ

def test_nyse_open_moves_an_hour_earlier_in_utc_across_the_spring_forward() -> None:
    # US clocks went forward on Sunday 2024-03-10: 09:30 New York is 14:30Z then 13:30Z.
    assert hours(session("NYSE", "2024-03-08")) == (utc(2024, 3, 8, 14, 30), utc(2024, 3, 8, 21))
    assert hours(session("NYSE", "2024-03-11")) == (utc(2024, 3, 11, 13, 30),
                                                    utc(2024, 3, 11, 20))


def test_nyse_open_moves_an_hour_later_in_utc_across_the_fall_back() -> None:
    # US clocks went back on Sunday 2024-11-03.
    assert hours(session("NYSE", "2024-11-01")) == (utc(2024, 11, 1, 13, 30), utc(2024, 11, 1, 20))
    assert hours(session("NYSE", "2024-11-04")) == (utc(2024, 11, 4, 14, 30), utc(2024, 11, 4, 21))


def test_independence_day_has_no_nyse_session_and_the_day_before_closes_early() -> None:
    nyse = get_calendar("NYSE")
    assert nyse.session_on(date(2024, 7, 4)) is None
    assert nyse.session_at(utc(2024, 7, 4, 15)) is None
    july_3 = session("NYSE", "2024-07-03")
    assert july_3.close_utc == utc(2024, 7, 3, 17)  # 13:00 New York
    assert july_3.early_close
    after = nyse.next_session(july_3.close_utc)
    assert after is not None
    assert hours(after) == (utc(2024, 7, 5, 13, 30), utc(2024, 7, 5, 20))
    assert not after.early_close


def test_day_after_thanksgiving_closes_at_1300_new_york() -> None:
    friday = session("NYSE", "2024-11-29")
    assert hours(friday) == (utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 18))
    assert friday.early_close
    assert get_calendar("NYSE").session_on(date(2024, 11, 28)) is None  # Thanksgiving


def test_a_weekend_has_no_session_and_next_previous_skip_over_it() -> None:
    nyse = get_calendar("NYSE")
    assert nyse.session_on(date(2024, 3, 9)) is None
    assert nyse.session_on(date(2024, 3, 10)) is None
    assert nyse.session_at(utc(2024, 3, 9, 15)) is None
    monday = nyse.next_session(utc(2024, 3, 8, 21))
    assert monday is not None and monday.session_date == date(2024, 3, 11)
    friday = nyse.previous_session(utc(2024, 3, 10, 12))
    assert friday is not None and friday.session_date == date(2024, 3, 8)


def test_session_at_is_open_inclusive_and_close_exclusive() -> None:
    nyse = get_calendar("NYSE")
    assert nyse.session_at(utc(2024, 3, 8, 14, 29)) is None
    assert nyse.session_at(utc(2024, 3, 8, 14, 30)) == session("NYSE", "2024-03-08")
    assert nyse.session_at(utc(2024, 3, 8, 21) - timedelta(microseconds=1)) is not None
    assert nyse.session_at(utc(2024, 3, 8, 21)) is None


def test_previous_session_includes_one_still_open() -> None:
    nyse = get_calendar("NYSE")
    assert nyse.previous_session(utc(2024, 3, 8, 15)) == session("NYSE", "2024-03-08")
    assert nyse.previous_session(utc(2024, 3, 8, 14, 30)) == session("NYSE", "2024-03-08")


def test_sessions_between_lists_2024_nyse_trading_days() -> None:
    sessions = get_calendar("NYSE").sessions_between(utc(2024, 1, 1), utc(2025, 1, 1))
    assert len(sessions) == 252
    assert sessions[0].session_date == date(2024, 1, 2)
    assert sessions[-1].session_date == date(2024, 12, 31)
    assert [s.session_date for s in sessions if s.early_close] == [
        date(2024, 7, 3), date(2024, 11, 29), date(2024, 12, 24)]


def test_sessions_between_is_by_open_time_half_open() -> None:
    nyse = get_calendar("NYSE")
    opens = [s.open_utc for s in nyse.sessions_between(utc(2024, 3, 8, 14, 30),
                                                        utc(2024, 3, 11, 13, 30))]
    assert opens == [utc(2024, 3, 8, 14, 30)]
    assert nyse.sessions_between(utc(2024, 3, 9), utc(2024, 3, 9)) == []


def test_nasdaq_keeps_nyse_hours() -> None:
    assert hours(session("NASDAQ", "2024-03-11")) == (utc(2024, 3, 11, 13, 30),
                                                      utc(2024, 3, 11, 20))
    assert session("XNAS", "2024-11-29").close_utc == utc(2024, 11, 29, 18)


# ---------------------------------------------------------------- LSE / CME / crypto

def test_lse_sessions_follow_uk_dst_and_easter() -> None:
    # UK clocks went forward on 2024-03-31, three weeks after the US; 08:00 London.
    assert hours(session("LSE", "2024-03-28")) == (utc(2024, 3, 28, 8), utc(2024, 3, 28, 16, 30))
    lse = get_calendar("LSE")
    assert lse.session_on(date(2024, 3, 29)) is None  # Good Friday
    assert lse.session_on(date(2024, 4, 1)) is None  # Easter Monday
    assert hours(session("LSE", "2024-04-02")) == (utc(2024, 4, 2, 7), utc(2024, 4, 2, 15, 30))


def test_lse_christmas_eve_closes_at_1230() -> None:
    eve = session("XLON", "2024-12-24")
    assert eve.close_utc == utc(2024, 12, 24, 12, 30) and eve.early_close
    assert get_calendar("LSE").session_on(date(2024, 12, 25)) is None


def test_cme_session_opens_the_evening_before_its_date() -> None:
    # The CME session labelled Monday 2024-03-11 opens Sunday 17:00 Chicago (now CDT).
    monday = session("CME", "2024-03-11")
    assert hours(monday) == (utc(2024, 3, 10, 22), utc(2024, 3, 11, 22))
    # Sessions touch: at the close instant the next session is the open one.
    cme = get_calendar("CME")
    assert cme.session_at(utc(2024, 3, 11, 22)) == session("CME", "2024-03-12")


def test_cme_thanksgiving_friday_closes_early_and_christmas_is_closed() -> None:
    friday = session("CMES", "2024-11-29")
    assert hours(friday) == (utc(2024, 11, 28, 23), utc(2024, 11, 29, 18))
    assert friday.early_close
    assert get_calendar("CME").session_on(date(2024, 12, 25)) is None


def test_crypto_has_one_session_per_utc_day() -> None:
    crypto = get_calendar("crypto")
    assert isinstance(crypto, CryptoCalendar)
    leap = crypto.session_on(date(2024, 2, 29))
    assert leap == Session("CRYPTO", date(2024, 2, 29), utc(2024, 2, 29), utc(2024, 3, 1))
    assert crypto.session_at(utc(2024, 3, 1)) == crypto.session_on(date(2024, 3, 1))
    assert crypto.next_session(utc(2024, 3, 1)) == crypto.session_on(date(2024, 3, 2))
    assert crypto.previous_session(utc(2024, 3, 1, 23, 59)) == crypto.session_on(date(2024, 3, 1))
    assert [s.session_date for s in crypto.sessions_between(utc(2024, 2, 28, 12),
                                                             utc(2024, 3, 2))] == [
        date(2024, 2, 29), date(2024, 3, 1)]
    assert len(crypto.sessions_between(utc(2024, 1, 1), utc(2025, 1, 1))) == 366


# ---------------------------------------------------------------- names, laziness, errors

@pytest.mark.parametrize(("alias", "canonical"), [
    ("NYSE", "NYSE"), ("nyse", "NYSE"), ("XNYS", "NYSE"), ("Nasdaq", "NASDAQ"),
    ("xnas", "NASDAQ"), ("CME", "CME"), ("cmes", "CME"), ("LSE", "LSE"), ("XLON", "LSE"),
    ("Crypto", "CRYPTO"), ("24/7", "CRYPTO"),
])
def test_names_are_case_insensitive_and_accept_iso_codes(alias: str, canonical: str) -> None:
    registry = CalendarRegistry()
    assert registry.get(alias).name == canonical
    assert registry.get(alias) is registry.get(canonical)


def test_unknown_calendar_is_a_config_error_listing_known_names() -> None:
    with pytest.raises(ConfigError) as raised:
        CalendarRegistry().get("TSE")
    for name in ("NYSE", "NASDAQ", "CME", "LSE", "CRYPTO", "XNYS", "24/7"):
        assert name in str(raised.value)
    assert raised.value.problems
    assert set(known_calendar_names()) >= {"NYSE", "XLON", "24/7"}


def test_registry_builds_each_exchange_calendar_once() -> None:
    registry = CalendarRegistry()
    nyse = registry.get("NYSE")
    assert isinstance(nyse, ExchangeCalendar)
    nyse.session_on(date(2024, 3, 8))
    loaded = nyse._data
    nyse.session_on(date(2024, 6, 3))
    assert registry.get("xnys") is nyse and nyse._data is loaded


def test_calendar_window_grows_for_far_dates() -> None:
    nyse = ExchangeCalendar("NYSE", "XNYS")
    first = nyse.session_on(date(2024, 3, 8))
    assert first is not None and first.open_utc == utc(2024, 3, 8, 14, 30)
    old = nyse.session_on(date(2000, 1, 3))  # years before the first window
    assert old is not None and hours(old) == (utc(2000, 1, 3, 14, 30), utc(2000, 1, 3, 21))
    assert nyse.session_on(date(2024, 3, 8)) == first


def test_custom_calendars_can_be_registered() -> None:
    registry = CalendarRegistry()
    mine = CryptoCalendar("MYVENUE")
    registry.register("myvenue", mine)
    assert registry.get("MyVenue") is mine


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        get_calendar("CRYPTO").session_at(datetime(2024, 1, 1))


def test_importing_the_scheduler_does_not_import_exchange_calendars_or_pandas() -> None:
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from livetrade.clock import ManualClock\n"
        "from livetrade.scheduling import TradingScheduler\n"
        "s = TradingScheduler(ManualClock(datetime(2024, 1, 2, tzinfo=UTC)), print)\n"
        "s.market_open(); s.every(__import__('datetime').timedelta(minutes=5))\n"
        "assert 'exchange_calendars' not in sys.modules, 'exchange_calendars imported'\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
