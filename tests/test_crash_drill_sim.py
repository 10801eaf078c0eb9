"""The kill -9 drill against ``livetrade sim-exchange`` in its own process, bounded for CI.

The long form: ``python -m livetrade.drills.crash --venue sim --supervisord --kills 100``.
The simulator outlives every kill, so fills it makes while the engine is down must come
back through recovery; each test fails on a duplicate client id at the venue, a venue
order the engine never journaled, a lost fill, or a position/cash/open-order difference.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from kit import RecordingPaperBroker, at, manual_clock, md
from simkit import binance_client, running_sim

from livetrade.brokers.ccxt.adapter import CCXTAdapter
from livetrade.brokers.ccxt.capabilities import capabilities
from livetrade.clock import ManualClock
from livetrade.drills.crash import run_sim_drill
from livetrade.drills.crash_sim import SimDrillReport
from livetrade.drills.supervised import run_supervised_drill
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import OrderType, Side
from livetrade.orders import ClientOrderIdGenerator
from livetrade.state.manager import StateManager, StateSettings
from livetrade.strategy import Strategy


def assert_every_recovery_exact(report: SimDrillReport, kills: int) -> None:
    assert report.failures == []
    assert report.duplicates == 0
    assert report.lost_fills == 0
    assert report.unjournaled == 0
    assert report.mismatches == 0
    assert report.kills == kills and report.restarts_verified == kills


@pytest.mark.timeout(180)
def test_engine_against_the_simulator_process_survives_kill_9s(tmp_path: Path) -> None:
    """Four SIGKILLs (at start-up, random instants, right after a journaled intent); the
    venue trades on while the engine is down; every recovery matches the venue exactly."""
    report = run_sim_drill(4, seed=5, work=tmp_path / "drill", min_s=0.2, max_s=1.5)
    assert_every_recovery_exact(report, 4)
    assert report.orders_at_venue >= 8  # busy enough to mean something
    assert report.fills_at_venue >= 4


@pytest.mark.timeout(240)
@pytest.mark.skipif(shutil.which("supervisord") is None,
                    reason="supervisor is a test dependency: pip install -e .[test]")
def test_supervisord_restarts_the_killed_engine_and_it_recovers_exactly(
        tmp_path: Path) -> None:
    """Three SIGKILLs of the supervised engine's PID: supervisord restarts it each time,
    it recovers while the market keeps moving, and its book then equals the venue's."""
    report = run_supervised_drill(3, seed=3, work=tmp_path / "drill", min_s=0.2, max_s=1.5)
    assert_every_recovery_exact(report, 3)
    assert report.orders_at_venue >= 8


def test_fills_since_a_checkpoint_come_back_in_full_beyond_one_venue_page() -> None:
    """Found by the drill: recovery asked for the fills since the checkpoint with one
    ``fetch_my_trades`` call, and a venue answers a ``startTime`` query with its oldest
    page only (500 by default), so after a busy stretch the newest fills - the ones the
    engine missed while down - were never adopted. 520 fills must all come back."""
    with running_sim() as sim:
        for n in range(520):
            sim.venue.place_order("BTC/USDT", Side.BUY, OrderType.MARKET, Decimal("0.001"),
                                  client_order_id=f"page-{n}")
        adapter = CCXTAdapter(binance_client(sim), capabilities("binance"),
                              symbols=["BTC/USDT"], quote_currency="USDT",
                              poll_interval_s=60, secrets=[sim.api_key, sim.api_secret])
        adapter.connect(lambda event: None)
        try:
            fills = adapter.get_fills(datetime(1970, 1, 1, tzinfo=UTC))
        finally:
            adapter.disconnect()
    assert len(fills) == 520
    assert len({f.fill_id for f in fills}) == 520
    assert {f.client_order_id for f in fills} == {f"page-{n}" for n in range(520)}


class FillsWhileAsked(RecordingPaperBroker):
    """A venue that trades while recovery asks: the first positions answer is taken just
    before a resting order fills, so the fills query that follows already has that fill."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.fill_on_next_positions_query = False

    def get_positions(self) -> Mapping[str, Decimal]:
        positions = dict(super().get_positions())
        if self.fill_on_next_positions_query:
            self.fill_on_next_positions_query = False
            self.on_market_data(md("A", 98, ts=at(5)))  # crosses the resting buy at 99
        return positions


def test_recovery_does_not_adopt_a_position_older_than_the_fills_it_compared(
        tmp_path: Path) -> None:
    """Found by the sim drill under supervisord (the market moves during recovery): the
    broker's position, read before a fill, was adopted over a book that already had that
    fill, and the engine stayed one fill short of the venue for good."""
    clock = manual_clock()
    broker = FillsWhileAsked(clock)
    settings = StateSettings(directory=tmp_path, account_id="acct", strategy_id="s")
    first = LiveTradingEngine(Strategy(), broker=broker, clock=clock,
                              settings=EngineSettings(market_data_policy="unbounded"),
                              order_ids=ClientOrderIdGenerator("s"),
                              state=StateManager(settings, clock))
    first.start_sync()
    first.context.buy("A", 1, order_type="limit", limit_price=99)
    first.process(md("A", 100, ts=at(1)))
    first.stop_sync()

    broker.fill_on_next_positions_query = True
    second = LiveTradingEngine(Strategy(), broker=broker, clock=clock,
                               settings=EngineSettings(market_data_policy="unbounded"),
                               order_ids=ClientOrderIdGenerator("s"),
                               state=StateManager(settings, clock))
    second.start_sync()
    second.process(md("A", 98, ts=at(6)))
    assert broker.get_positions()["A"] == Decimal(1)
    assert second.portfolio.position("A") == Decimal(1)
    assert second.portfolio.cash() == broker.get_account_info().cash
    second.stop_sync()
