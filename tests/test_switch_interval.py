"""A threaded engine hands the GIL over every millisecond while it runs, and gives the
process its own switch interval back when it stops."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit import RecordingStrategy, md, sync_engine, wait_until

from livetrade.app import build_engine
from livetrade.config import parse_config
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import ConfigError
from livetrade.events import MarketData
from livetrade.replay import run_replay
from livetrade.switch_interval import DEFAULT_SWITCH_INTERVAL_S, SwitchInterval

pytestmark = pytest.mark.timeout(60)
CPYTHON_DEFAULT = 0.005


@pytest.fixture(autouse=True)
def default_interval(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from CPython's default and no engine holding the interval."""
    saved = sys.getswitchinterval()
    monkeypatch.setattr(SwitchInterval, "_holders", 0)
    monkeypatch.setattr(SwitchInterval, "_saved", None)
    monkeypatch.setattr(SwitchInterval, "_applied", None)
    sys.setswitchinterval(CPYTHON_DEFAULT)
    yield
    sys.setswitchinterval(saved)


def threaded(settings: EngineSettings | None = None) -> LiveTradingEngine:
    engine = LiveTradingEngine(RecordingStrategy(), settings=settings)
    engine.start()
    return engine


def test_a_threaded_engine_shortens_the_interval_from_start_to_stop() -> None:
    engine = threaded()
    try:
        assert sys.getswitchinterval() == DEFAULT_SWITCH_INTERVAL_S == 0.001
        assert SwitchInterval.active()
    finally:
        engine.stop()
    assert sys.getswitchinterval() == CPYTHON_DEFAULT
    assert not SwitchInterval.active()


def test_the_synchronous_drive_mode_has_no_threads_and_leaves_it_alone() -> None:
    engine, _ = sync_engine(RecordingStrategy())
    assert sys.getswitchinterval() == CPYTHON_DEFAULT
    engine.stop_sync()


def test_overlapping_engines_use_the_smallest_and_restore_when_the_last_stops() -> None:
    first = threaded(EngineSettings(switch_interval_s=0.002))
    second = threaded(EngineSettings(switch_interval_s=0.0005))
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    second.stop()
    assert sys.getswitchinterval() == pytest.approx(0.0005)  # the first still runs
    first.stop()
    assert sys.getswitchinterval() == CPYTHON_DEFAULT


def test_a_shorter_interval_the_process_chose_is_kept() -> None:
    sys.setswitchinterval(0.00025)
    engine = threaded()
    assert sys.getswitchinterval() == pytest.approx(0.00025)
    engine.stop()
    assert sys.getswitchinterval() == pytest.approx(0.00025)


def test_an_interval_changed_by_someone_else_meanwhile_is_not_overwritten_at_stop() -> None:
    engine = threaded()
    sys.setswitchinterval(0.003)  # e.g. the embedding application, while the engine runs
    engine.stop()
    assert sys.getswitchinterval() == 0.003


def test_a_value_set_meanwhile_is_what_the_last_stop_puts_back() -> None:
    first = threaded(EngineSettings(switch_interval_s=0.002))
    sys.setswitchinterval(0.0015)  # the embedding application, between two engines' starts
    second = threaded()
    assert sys.getswitchinterval() == DEFAULT_SWITCH_INTERVAL_S
    first.stop()
    second.stop()
    assert sys.getswitchinterval() == pytest.approx(0.0015)


def test_a_stop_that_fails_part_way_still_hands_the_process_settings_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = threaded()
    stop_dispatcher = engine.dispatcher.stop

    def broken(**kwargs: object) -> list[object]:
        raise RuntimeError("a stage of stop() failed")

    monkeypatch.setattr(engine.dispatcher, "stop", broken)
    try:
        with pytest.raises(RuntimeError, match="stage of stop"):
            engine.stop()
        assert sys.getswitchinterval() == CPYTHON_DEFAULT
        assert not SwitchInterval.active() and not engine._tuning.gc_held
    finally:
        monkeypatch.setattr(engine.dispatcher, "stop", stop_dispatcher)
        stop_dispatcher(drain=False)


def test_an_engine_that_opts_out_leaves_the_processs_interval_alone() -> None:
    engine = threaded(EngineSettings(switch_interval_s=0))
    assert sys.getswitchinterval() == CPYTHON_DEFAULT
    assert not SwitchInterval.active()
    engine.stop()


@pytest.mark.parametrize("bad", [-0.001, 1.5, 1e-7])
def test_an_interval_out_of_range_is_refused_before_anything_starts(bad: float) -> None:
    with pytest.raises(ConfigError, match="switch_interval_s") as caught:
        EngineSettings(switch_interval_s=bad)
    assert caught.value.context["key"] == "engine.switch_interval_s"


def test_the_engine_table_sets_it_or_opts_out() -> None:
    assert build_engine(parse_config("")).settings.switch_interval_s == 0.001
    table = "[engine]\nswitch_interval_s = 0\n"
    assert build_engine(parse_config(table)).settings.switch_interval_s == 0
    with pytest.raises(ConfigError) as caught:
        parse_config("[engine]\nswitch_interval_s = 5\n")
    assert "engine.switch_interval_s" in "\n".join(caught.value.problems)


class Watches(RecordingStrategy):
    """Reads the switch interval from inside the run, on the dispatcher thread."""

    def __init__(self) -> None:
        super().__init__()
        self.intervals: set[float] = set()

    def on_market_data(self, event: MarketData) -> None:
        self.intervals.add(sys.getswitchinterval())


def test_a_replay_keeps_cpythons_interval_because_nothing_waits_in_wall_time(
        tmp_path: Path) -> None:
    data = tmp_path / "bars.csv"
    data.write_text("timestamp,symbol,price,volume\n" + "".join(
        f"2024-01-01T00:00:{i:02d}+00:00,X,{100 + i},1\n" for i in range(20)))
    strategy = Watches()
    run_replay(data, strategy)
    assert strategy.intervals == {CPYTHON_DEFAULT}
    live = Watches()
    engine = LiveTradingEngine(live)
    engine.start()
    engine.publish(md("X", 100))
    assert wait_until(lambda: bool(live.intervals))
    engine.stop()
    assert live.intervals == {DEFAULT_SWITCH_INTERVAL_S}
