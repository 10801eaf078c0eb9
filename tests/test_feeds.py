"""Feeds: a seeded random walk, CSV reading validated row by row, and CSV replay."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from kit import T0, D, manual_clock, wait_until

from livetrade.errors import DataFeedError, EngineStateError
from livetrade.events import Event, MarketData, Severity, SystemErrorEvent
from livetrade.feeds.csv_source import parse_timestamp, read_csv
from livetrade.feeds.replay import ReplayFeed
from livetrade.feeds.simulated import SimulatedFeed

pytestmark = pytest.mark.timeout(30)


class Sink:
    """Thread-safe event collector for feed threads."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, cls: type[Event]) -> list[Event]:
        with self._lock:
            return [e for e in self.events if isinstance(e, cls)]


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_to_end(feed: ReplayFeed | SimulatedFeed) -> Sink:
    """Run ``feed`` on its own thread until it ends; return what it published."""
    sink = Sink()
    feed.start(sink)
    assert feed.join(10), "feed did not finish"
    assert feed.finished
    return sink


# ---------------------------------------------------------------- simulated feed

def sim(seed: int = 7, **kwargs: object) -> SimulatedFeed:
    return SimulatedFeed(("A", "B"), seed=seed, max_events=200, rate_hz=0,
                         clock=manual_clock(), **kwargs)  # type: ignore[arg-type]


def test_simulated_prices_are_a_pure_function_of_the_seed() -> None:
    """Same seed, same path (prices, volumes, times); another seed, another path."""
    assert sim(7).prices() == sim(7).prices()
    assert [e.price for e in sim(7).prices()] != [e.price for e in sim(8).prices()]


def test_simulated_feed_publishes_the_same_path_on_its_thread() -> None:
    """What the feed thread publishes is exactly what ``prices()`` predicts."""
    feed = sim(7)
    sink = run_to_end(feed)
    assert sink.events == sim(7).prices()
    assert feed.published == 200 and not feed.failed


def test_simulated_prices_take_turns_and_sit_on_the_tick_grid() -> None:
    """Symbols alternate; prices are positive multiples of the tick; time is the clock's."""
    events = sim(3).prices()
    assert len(events) == 200
    assert [e.symbol for e in events[:4]] == ["A", "B", "A", "B"]
    assert all(e.price > 0 and e.price % Decimal("0.01") == 0 for e in events)
    assert all(e.price.as_tuple().exponent == -2 for e in events)
    assert all(1 <= e.volume <= 100 for e in events)
    assert all(e.timestamp == T0 for e in events)


def test_simulated_prices_respect_a_tick_that_is_not_a_power_of_ten() -> None:
    events = sim(3, tick_size=Decimal("0.05")).prices()
    assert all(e.price % Decimal("0.05") == 0 for e in events)


def test_simulated_feed_stops_on_request() -> None:
    """An endless feed ends promptly after stop(); join says so."""
    feed = SimulatedFeed(("A",), rate_hz=0, max_events=None, clock=manual_clock())
    sink = Sink()
    feed.start(sink)
    assert wait_until(lambda: feed.published > 10)
    feed.stop()
    assert feed.join(10) and feed.finished and feed.stopping
    with pytest.raises(EngineStateError):
        feed.start(sink)


@pytest.mark.parametrize("kwargs", [{"symbols": ()}, {"rate_hz": -1}, {"volatility_bps": -1},
                                    {"start_price": Decimal(0)}, {"tick_size": Decimal(0)}])
def test_simulated_feed_rejects_meaningless_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatedFeed(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- CSV parsing

@pytest.mark.parametrize(("text", "expected"), [
    ("2024-01-02T14:30:00Z", T0),
    ("2024-01-02T14:30:00+00:00", T0),
    ("2024-01-02T15:30:00+01:00", T0),
    ("2024-01-02T14:30:00", T0),  # no offset: taken as UTC
    ("2024-01-02 14:30:00", T0),
    (str(int(T0.timestamp())), T0),
    (f"{int(T0.timestamp())}.5", datetime(2024, 1, 2, 14, 30, 0, 500_000, tzinfo=UTC)),
    ("  1704205800 ", T0),
])
def test_timestamps_are_iso_or_epoch_seconds_in_utc(text: str, expected: datetime) -> None:
    value = parse_timestamp(text)
    assert value == expected and value.tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "", "2024-13-01T00:00:00", "1e20",
                                  "99999999999999999999"])
def test_unparseable_timestamps_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_tick_files_yield_validated_market_data(tmp_path: Path) -> None:
    """Column order is free; each row becomes one MarketData; blank lines are skipped."""
    path = write(tmp_path, "symbol,price,volume,timestamp\n"
                           "AAPL,100.5,10,2024-01-02T14:30:00Z\n"
                           "\n"
                           "MSFT,20,0,1704205801\n")
    events = list(read_csv(path))
    assert events == [
        MarketData(symbol="AAPL", timestamp=T0, price=D("100.5"), volume=D(10)),
        MarketData(symbol="MSFT", timestamp=datetime(2024, 1, 2, 14, 30, 1, tzinfo=UTC),
                   price=D(20), volume=D(0)),
    ]


def test_bar_files_take_the_symbol_from_the_caller(tmp_path: Path) -> None:
    """Bars carry OHLC; the price is the close; the symbol comes from the caller."""
    path = write(tmp_path, "timestamp,open,high,low,close,volume\n"
                           "2024-01-02T14:30:00Z,10,12,9,11,500\n")
    [event] = list(read_csv(path, symbol="X"))
    assert isinstance(event, MarketData)
    assert (event.symbol, event.price, event.open, event.high, event.low, event.close) == (
        "X", D(11), D(10), D(12), D(9), D(11))
    assert event.volume == 500


def test_bar_files_may_carry_their_own_symbol_column(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,symbol,open,high,low,close,volume\n"
                           "2024-01-02T14:30:00Z,Y,10,12,9,11,5\n")
    [event] = list(read_csv(path))
    assert isinstance(event, MarketData) and event.symbol == "Y"


BAD_TICK_ROWS = [
    ("AAPL,100,10", "expected 4 fields, found 3"),
    ("AAPL,100,10,2024-01-02T14:30:00Z,extra", "expected 4 fields, found 5"),
    ("AAPL,NaN,10,2024-01-02T14:30:00Z", "price is not finite"),
    ("AAPL,inf,10,2024-01-02T14:30:00Z", "price is not finite"),
    ("AAPL,abc,10,2024-01-02T14:30:00Z", "price is not a number"),
    ("AAPL,-5,10,2024-01-02T14:30:00Z", "price"),
    ("AAPL,0,10,2024-01-02T14:30:00Z", "price"),
    ("AAPL,100,-1,2024-01-02T14:30:00Z", "volume"),
    (",100,10,2024-01-02T14:30:00Z", "symbol"),
    ("AAPL,100,10,not-a-time", "not an ISO 8601 time"),
]


@pytest.mark.parametrize(("row", "why"), BAD_TICK_ROWS, ids=[w for _, w in BAD_TICK_ROWS])
def test_a_malformed_tick_row_yields_an_error_naming_file_and_line(
        tmp_path: Path, row: str, why: str) -> None:
    """The bad row becomes a DataFeedError with its file and line; rows around it are
    still read."""
    path = write(tmp_path, "symbol,price,volume,timestamp\n"
                           "AAPL,1,1,2024-01-02T14:30:00Z\n"
                           f"{row}\n"
                           "AAPL,2,1,2024-01-02T14:30:01Z\n")
    first, bad, last = list(read_csv(path))
    assert isinstance(first, MarketData) and isinstance(last, MarketData)
    assert isinstance(bad, DataFeedError)
    assert bad.context == {"file": str(path), "line": 3}
    assert why in bad.message
    assert "\n" not in str(bad)


@pytest.mark.parametrize("row", ["2024-01-02T14:30:00Z,10,12,9,13,1",  # close above high
                                 "2024-01-02T14:30:00Z,8,12,9,11,1",  # open below low
                                 "2024-01-02T14:30:00Z,10,9,12,11,1"])  # low above high
def test_an_inconsistent_bar_is_a_bad_row(tmp_path: Path, row: str) -> None:
    path = write(tmp_path, f"timestamp,open,high,low,close,volume\n{row}\n")
    [bad] = list(read_csv(path, symbol="X"))
    assert isinstance(bad, DataFeedError)
    assert "bar is inconsistent" in bad.message and bad.context["line"] == 2


@pytest.mark.parametrize("header", ["time,symbol,price,volume",
                                    "timestamp,symbol,price,volume,comment",
                                    "timestamp,symbol,price",
                                    "timestamp,open,high,low,close"])
def test_an_unrecognised_header_raises(tmp_path: Path, header: str) -> None:
    """A typo or an extra column is an error for the whole file, at line 1."""
    path = write(tmp_path, f"{header}\n")
    with pytest.raises(DataFeedError, match="unrecognised CSV header") as raised:
        list(read_csv(path))
    assert raised.value.context == {"file": str(path), "line": 1}


def test_a_bar_file_without_any_symbol_raises(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,open,high,low,close,volume\n")
    with pytest.raises(DataFeedError, match="need a symbol"):
        list(read_csv(path))


def test_missing_and_empty_files_raise(tmp_path: Path) -> None:
    with pytest.raises(DataFeedError, match="cannot open"):
        list(read_csv(tmp_path / "absent.csv"))
    with pytest.raises(DataFeedError, match="empty"):
        list(read_csv(write(tmp_path, "")))


# ---------------------------------------------------------------- replay

MIXED = ("timestamp,symbol,price,volume\n"
         "2024-01-02T14:30:00Z,AAPL,1,1\n"
         "2024-01-02T14:30:01Z,AAPL,NaN,1\n"
         "2024-01-02T14:30:02Z,AAPL,3,1\n")


def test_replay_skip_policy_reports_bad_rows_and_goes_on(tmp_path: Path) -> None:
    """"skip": each bad row is a WARNING SystemErrorEvent with file and line in its
    context, and the good rows around it are all published, in file order."""
    path = write(tmp_path, MIXED)
    feed = ReplayFeed(path, on_bad_row="skip")
    sink = run_to_end(feed)
    assert [type(e).__name__ for e in sink.events] == [
        "MarketData", "FeedError", "MarketData"]
    error = sink.events[1]
    assert isinstance(error, SystemErrorEvent)
    assert error.severity is Severity.WARNING and error.error_type == "DataFeedError"
    assert error.context == {"file": str(path), "line": "3"}
    assert error.source == "feed:replay"
    assert (feed.rows, feed.bad_rows, feed.published) == (3, 1, 2)
    assert len(feed.errors) == 1 and not feed.failed


def test_replay_fail_policy_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    """"fail": the bad row is CRITICAL, the feed ends there and says it failed."""
    path = write(tmp_path, MIXED)
    feed = ReplayFeed(path, on_bad_row="fail")
    sink = run_to_end(feed)
    assert [type(e).__name__ for e in sink.events] == ["MarketData", "FeedError"]
    error = sink.events[1]
    assert isinstance(error, SystemErrorEvent)
    assert error.severity is Severity.CRITICAL
    assert error.context == {"file": str(path), "line": "3"}
    assert feed.failed and feed.published == 1


def test_replay_of_an_unreadable_file_reports_instead_of_dying_silently(
        tmp_path: Path) -> None:
    """A bad header ends the feed thread, and a CRITICAL SystemErrorEvent says why."""
    feed = ReplayFeed(write(tmp_path, "nonsense\n1\n"))
    sink = run_to_end(feed)
    [error] = sink.events
    assert isinstance(error, SystemErrorEvent)
    assert error.severity is Severity.CRITICAL and error.error_type == "DataFeedError"
    assert "unrecognised CSV header" in error.message
    assert feed.failed


def test_replay_speed_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ReplayFeed(write(tmp_path, MIXED), speed=0)


def test_simulated_prices_refuses_an_endless_walk() -> None:
    """``prices()`` without ``max_events`` would never return: it says so instead."""
    with pytest.raises(ValueError, match="max_events"):
        SimulatedFeed(("A",), max_events=None).prices()
