"""The collector is set for an event engine while one runs, and handed back as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from kit import RecordingStrategy, md, sync_engine

from livetrade.app import build_engine
from livetrade.config import parse_config
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.gc_tuning import YOUNG_THRESHOLD, GcTuning

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def default_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from CPython's defaults, nothing frozen and no engine holding the
    tuning, whatever ran before in this process (an engine some other test never stopped
    would otherwise still hold it); all of it is put back afterwards."""
    saved = gc.get_threshold()
    monkeypatch.setattr(GcTuning, "_holders", 0)
    monkeypatch.setattr(GcTuning, "_saved", None)
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


def test_a_running_engine_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    engine, _ = sync_engine(RecordingStrategy())
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0  # the imports, the engine, the strategy
    assert gc.isenabled()  # cycles are still collected
    engine.process(md("AAPL", 100))
    engine.stop_sync()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0  # nothing stays exempt after the engine


def test_overlapping_engines_hand_the_collector_back_when_the_last_stops() -> None:
    first, _ = sync_engine(RecordingStrategy())
    second, _ = sync_engine(RecordingStrategy())
    first.stop_sync()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)  # the second still runs
    assert GcTuning.active()
    second.stop_sync()
    assert gc.get_threshold() == (700, 10, 10)
    assert not GcTuning.active()


def test_an_engine_that_opts_out_leaves_the_processs_settings_alone() -> None:
    gc.set_threshold(1234, 5, 6)
    engine, _ = sync_engine(RecordingStrategy(), settings=EngineSettings(gc_tuning=False))
    assert gc.get_threshold() == (1234, 5, 6)
    assert gc.get_freeze_count() == 0
    engine.stop_sync()
    assert gc.get_threshold() == (1234, 5, 6)


def test_a_higher_threshold_the_process_chose_is_kept() -> None:
    gc.set_threshold(50_000, 20, 30)
    engine, _ = sync_engine(RecordingStrategy())
    assert gc.get_threshold() == (50_000, 20, 30)
    engine.stop_sync()
    assert gc.get_threshold() == (50_000, 20, 30)


def test_a_cycle_made_while_the_engine_runs_is_still_collected() -> None:
    engine, _ = sync_engine(RecordingStrategy())
    try:
        node: dict[str, object] = {}
        node["self"] = node
        del node
        assert gc.collect() >= 1
    finally:
        engine.stop_sync()


def test_a_threaded_engine_tunes_the_collector_from_start_to_stop() -> None:
    engine = LiveTradingEngine(RecordingStrategy())
    engine.start()
    try:
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    finally:
        engine.stop()
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0


def test_the_engine_table_can_opt_out() -> None:
    assert build_engine(parse_config("[engine]\ngc_tuning = false\n")).settings.gc_tuning is False
    assert build_engine(parse_config("")).settings.gc_tuning is True
