"""The scheduler inside the engine: triggers reach ``on_schedule`` at the right point of
the data stream (replay and drive mode), and live on the scheduler's own thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from kit import wait_until

from livetrade.app import build_engine
from livetrade.clock import ManualClock
from livetrade.config import parse_config
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import ConfigError, EngineStateError
from livetrade.events import MarketData, OrderFill, ScheduledTrigger
from livetrade.orders import ClientOrderIdGenerator
from livetrade.replay import run_replay
from livetrade.strategy import Strategy


class BuyAtTheOpen(Strategy):
    """Registers a market-open trigger in on_start and buys 1 share on each one."""

    def __init__(self) -> None:
        self.log: list[tuple[str, datetime]] = []
        self.fills: list[tuple[datetime, Decimal]] = []

    def on_start(self) -> None:
        self.ctx.schedule.market_open(name="open")

    def on_market_data(self, event: MarketData) -> None:
        self.log.append(("bar", event.timestamp))

    def on_schedule(self, trigger: ScheduledTrigger) -> None:
        self.log.append(("trigger", trigger.scheduled_time))
        self.ctx.buy("SPY", 1)

    def on_fill(self, fill: OrderFill) -> None:
        self.fills.append((fill.timestamp, fill.fill_price))


def half_hour_bars() -> list[MarketData]:
    """Friday 2024-03-08 13:00Z to Monday 2024-03-11 21:00Z, every 30 minutes; the price
    encodes the bar's position so a fill's price says which bar it filled on."""
    start = datetime(2024, 3, 8, 13, 0, tzinfo=UTC)
    bars = []
    for i in range(0, 3 * 48 + 17):
        bars.append(MarketData(symbol="SPY", timestamp=start + timedelta(minutes=30 * i),
                               price=Decimal(100 + i)))
    return bars


# Friday: EST, the 09:30 open is 14:30Z. DST starts Sunday 10 March: Monday's open is 13:30Z.
EXPECTED_OPENS = [datetime(2024, 3, 8, 14, 30, tzinfo=UTC),
                  datetime(2024, 3, 11, 13, 30, tzinfo=UTC)]


def test_drive_mode_delivers_each_open_right_after_its_bar_and_trades_on_it() -> None:
    """Each trigger arrives after the bar stamped at the open and before the next bar; the
    order it sends fills at that bar's price. No trigger on the weekend."""
    strategy = BuyAtTheOpen()
    clock = ManualClock()
    engine = LiveTradingEngine(strategy, clock=clock, order_ids=ClientOrderIdGenerator("s"),
                               settings=EngineSettings(market_data_policy="unbounded"))
    engine.start_sync()
    bars = half_hour_bars()
    for event in bars:
        engine.process(event)
    engine.stop_sync()
    triggers = [t for kind, t in strategy.log if kind == "trigger"]
    assert triggers == EXPECTED_OPENS
    for opened in EXPECTED_OPENS:
        i = strategy.log.index(("trigger", opened))
        assert strategy.log[i - 1] == ("bar", opened)
        assert strategy.log[i + 1] == ("bar", opened + timedelta(minutes=30))
    price_at = {b.timestamp: b.price for b in bars}
    assert strategy.fills == [(t, price_at[t]) for t in EXPECTED_OPENS]


def test_replay_fires_the_same_triggers_at_the_same_bars(tmp_path: Path) -> None:
    csv = tmp_path / "spy.csv"
    csv.write_text("timestamp,symbol,price,volume\n" + "".join(
        f"{b.timestamp.isoformat()},SPY,{b.price},1\n" for b in half_hour_bars()))
    strategy = BuyAtTheOpen()
    report = run_replay(csv, strategy)
    assert [t for kind, t in strategy.log if kind == "trigger"] == EXPECTED_OPENS
    assert [f["timestamp"] for f in report.fills] == [t.isoformat() for t in EXPECTED_OPENS]
    # 14:30Z Friday is bar 3 (price 103); 13:30Z Monday is bar 3*48+1 (price 245).
    assert [f["price"] for f in report.fills] == ["103", "245"]


def test_live_mode_runs_the_scheduler_on_its_own_thread() -> None:
    """Wall-clock engine: an `every` trigger of 1 s fires from the scheduler thread and
    reaches the strategy on the dispatcher thread."""
    import threading

    seen: list[str] = []

    class EverySecond(Strategy):
        def on_start(self) -> None:
            self.ctx.schedule.every(1, during="always", name="tick")

        def on_schedule(self, trigger: ScheduledTrigger) -> None:
            seen.append(threading.current_thread().name)

    engine = LiveTradingEngine(EverySecond())
    engine.start()
    try:
        assert wait_until(lambda: len(seen) >= 1, timeout_s=15)
    finally:
        engine.stop()
    assert seen[0] == "livetrade-dispatcher"
    assert not engine.scheduler.running


def test_context_without_a_scheduler_says_so() -> None:
    from livetrade.strategy import StrategyContext

    engine = LiveTradingEngine(Strategy())
    ctx = StrategyContext(engine.orders, engine.portfolio, engine.clock)
    with pytest.raises(EngineStateError, match="no scheduler"):
        _ = ctx.schedule


def test_schedule_entries_in_config_register_jobs(tmp_path: Path) -> None:
    config = parse_config(f'''
[scheduler]
default_calendar = "NYSE"
store_dir = "{tmp_path / 'fired'}"

[[schedule]]
type = "market_close"
offset_s = -300
name = "flatten"

[[schedule]]
type = "every"
interval_s = 900

[[schedule]]
type = "at"
time = "00:00"
calendar = "CRYPTO"
''')
    engine = build_engine(config)
    names = [job.name for job in engine.scheduler.jobs()]
    assert names[0] == "flatten" and len(names) == 3


def test_bad_schedule_entries_are_config_errors_with_their_index() -> None:
    config = parse_config('[[schedule]]\ntype = "market_open"\ncalendar = "MARS"\n'
                          '[[schedule]]\ntype = "at"\ntime = "25:00"\n')
    with pytest.raises(ConfigError) as caught:
        build_engine(config)
    problems = caught.value.problems
    assert problems[0].startswith("schedule.0:") and "MARS" in problems[0]
    assert problems[1].startswith("schedule.1:") and "25:00" in problems[1]


def test_schedule_keys_are_validated_with_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[[schedule]]\ntype = "every"\ninterval_s = 0\n', "s.toml")
    assert caught.value.problems == ["s.toml:3: schedule.0.interval_s: Input should be "
                                     "greater than 0"]


def test_with_state_a_restarted_engine_never_fires_the_same_trigger_twice(
        tmp_path: Path) -> None:
    """[state] set and no [scheduler] store_dir: fired triggers are remembered beside the
    checkpoints, so a restart that sees the same midnight again does not fire it again."""
    config = parse_config(f'''
feeds = []

[state]
directory = "{tmp_path / 'state'}"

[[schedule]]
type = "at"
time = "00:00"
calendar = "CRYPTO"
name = "midnight"
''')
    start = datetime(2024, 1, 1, 23, 58, tzinfo=UTC)
    bars = [MarketData(symbol="BTC-USD", timestamp=start + timedelta(minutes=i),
                       price=Decimal(100)) for i in range(5)]
    fired_per_run = []
    for _ in range(2):
        engine = build_engine(config, clock=ManualClock())
        fired: list[ScheduledTrigger] = []
        engine.dispatcher.subscribe(ScheduledTrigger, fired.append)
        engine.start_sync()
        engine.process(*bars)
        engine.stop_sync()
        fired_per_run.append([t.scheduled_time for t in fired])
    assert fired_per_run == [[datetime(2024, 1, 2, tzinfo=UTC)], []]
