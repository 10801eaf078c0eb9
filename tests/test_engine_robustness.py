"""Ways a demanding user (or a hostile strategy) has tried to break the engine, each pinned.

One test per finding of the pre-release review: replay determinism with bad rows, a
strategy calling sys.exit(), the kill switch racing an order on its way out, drive mode and
the market-data policy, a status callback that fails, absurd quantities, BOMs and unsorted
files, import errors in strategy files, and honest replay exit codes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kit import T0, RecordingStrategy, at, manual_clock, md, sync_engine, wait_until

from livetrade.brokers.paper import PaperBroker
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import MarketData, OrderAccepted, SystemErrorEvent
from livetrade.orders import ClientOrderIdGenerator, OrderStatus
from livetrade.replay import run_replay
from livetrade.strategy import Strategy

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(120)


class BuyOnError(Strategy):
    """Buys on every error: its fills reveal exactly when errors reached it."""

    def on_error(self, error: SystemErrorEvent) -> None:
        self.ctx.buy("X", 1)


def test_replay_with_bad_rows_is_identical_run_after_run(tmp_path: Path) -> None:
    rows = ["timestamp,symbol,price,volume"]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(3000):
        price = "NaN" if i % 500 == 250 else str(100 + i % 7)
        rows.append(f"{(start + timedelta(seconds=i)).isoformat()},X,{price},1")
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(rows) + "\n")
    reports = [run_replay(data, BuyOnError()).to_json() for _ in range(4)]
    assert len(set(reports)) == 1
    fills = json.loads(reports[0])["fills"]
    # Each error arrives right after the bar before the bad row: fills at those bars.
    assert [f["timestamp"][11:19] for f in fills] == [
        (start + timedelta(seconds=i - 1)).isoformat()[11:19] for i in range(250, 3000, 500)]


def test_a_strategy_calling_sys_exit_is_an_error_not_a_dead_engine() -> None:
    errors: list[SystemErrorEvent] = []

    class Exiter(Strategy):
        def on_market_data(self, event: MarketData) -> None:
            sys.exit(3)

        def on_error(self, error: SystemErrorEvent) -> None:
            errors.append(error)

    strategy = Exiter()
    engine = LiveTradingEngine(strategy, clock=manual_clock())
    engine.start()
    try:
        for i in range(5):
            engine.publish(md(price=100 + i, ts=at(i)))
        assert wait_until(lambda: len(errors) == 5)
        assert engine.dispatcher.running
    finally:
        report = engine.stop()
    assert report.clean and errors[0].error_type == "SystemExit"


def test_kill_switch_engaged_while_an_order_is_in_flight_cancels_it_on_acceptance() -> None:
    """The switch is flipped from another thread after the order passed the risk check
    but before the venue acknowledged it: the acknowledgement triggers the cancel."""
    gate = threading.Event()
    released = threading.Event()

    class SlowAckBroker(PaperBroker):
        inline = False  # driven by the executor thread, like an I/O venue

        def submit_order(self, client_order_id: str, request: Any) -> None:
            gate.set()
            released.wait(10)
            super().submit_order(client_order_id, request)

    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if len(s.of("market_data")) == 1:
            s.ctx.buy(event.symbol, 1, order_type="limit", limit_price=50)

    clock = manual_clock()
    strategy = RecordingStrategy(on_bar)
    engine = LiveTradingEngine(strategy, broker=SlowAckBroker(clock=clock), clock=clock,
                               order_ids=ClientOrderIdGenerator("k"))
    accepted: list[OrderAccepted] = []
    engine.dispatcher.subscribe(OrderAccepted, accepted.append)
    engine.start()
    try:
        engine.publish(md(price=100, ts=T0))
        assert gate.wait(10)
        engine.engage_kill_switch("operator")
        released.set()
        assert wait_until(lambda: (o := engine.context.order("k-1")) is not None
                          and o.status is OrderStatus.CANCELED)
    finally:
        engine.stop()
    assert accepted and engine.broker.get_open_orders() == []


def test_drive_mode_never_conflates_or_blocks_whatever_the_settings() -> None:
    for policy in ("conflate", "block"):
        strategy = RecordingStrategy()
        engine = LiveTradingEngine(
            strategy, clock=manual_clock(),
            settings=EngineSettings(market_data_policy=policy,
                                    conflate_depth=10, max_pending_market_data=5))
        engine.start_sync()
        engine.process(*(md(price=100 + i % 5, ts=at(i)) for i in range(200)))
        engine.stop_sync()
        assert len(strategy.of("market_data")) == 200, policy


def test_a_failing_status_callback_does_not_skip_the_graceful_stop() -> None:
    class Finish(Strategy):
        stopped = False

        def on_stop(self) -> None:
            self.stopped = True

    def broken_pipe(status: Any) -> None:
        raise BrokenPipeError("stdout went away")

    strategy = Finish()
    engine = LiveTradingEngine(strategy, clock=manual_clock())
    report = engine.run_forever(0.3, on_status=broken_pipe, status_interval_s=0.05)
    assert report.clean and strategy.stopped


def test_absurd_quantities_are_rejected_and_nothing_is_left_open() -> None:
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        s.ctx.buy(event.symbol, "9e999999")
        s.ctx.buy(event.symbol, "1e400000")

    strategy = RecordingStrategy(on_bar)
    engine, broker = sync_engine(strategy)
    engine.process(md(price=100, ts=at(1)))
    rejects = strategy.of("reject")
    assert len(rejects) == 2 and all("implausibly large" in r.reason for r in rejects)
    assert engine.context.open_orders() == () and broker.submitted == []


def test_run_exits_cleanly_on_sigint_under_load_many_times() -> None:
    """SIGINT while the engine logs heavily: the handler only sets a flag, so it can never
    deadlock on the logger's lock (it used to log from the handler)."""
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "livetrade", "run", "--json"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0
        assert json.loads(out.splitlines()[-1])["clean"] is True


def livetrade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livetrade", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=False)


SMA = f"{ROOT / 'examples' / 'sma_crossover.py'}:SmaCrossover"


def test_a_csv_with_a_bom_and_a_backwards_row(tmp_path: Path) -> None:
    data = tmp_path / "bom.csv"
    data.write_text("\ufefftimestamp,symbol,price,volume\n2024-01-01T00:00:02Z,X,10,1\n"
                    "2024-01-01T00:00:01Z,X,11,1\n2024-01-01T00:00:03Z,X,12,1\n",
                    encoding="utf-8")
    result = livetrade("replay", str(data), "--strategy", SMA, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bad_rows"] == 1 and "goes back in time" in report["bad_row_errors"][0]


def test_a_file_with_no_valid_row_fails_the_replay(tmp_path: Path) -> None:
    data = tmp_path / "all-bad.csv"
    data.write_text("timestamp,symbol,price,volume\n2024-01-01,X,-1,1\n2024-01-02,X,NaN,1\n")
    result = livetrade("replay", str(data), "--strategy", SMA)
    assert result.returncode == 1 and "no valid row" in result.stderr


def test_a_strategy_file_that_fails_to_import_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import math\n\nraise RuntimeError('boom at import')\n")
    data = tmp_path / "t.csv"
    data.write_text("timestamp,symbol,price,volume\n2024-01-01,X,1,1\n")
    result = livetrade("replay", str(data), "--strategy", f"{broken}:S")
    assert result.returncode == 2
    assert "failed to import: RuntimeError: boom at import" in result.stderr
    assert "line: 3" in result.stderr and "Traceback" not in result.stderr


def test_negative_duration_is_refused() -> None:
    engine = LiveTradingEngine(Strategy(), clock=manual_clock())
    with pytest.raises(ValueError, match="duration_s"):
        engine.run_forever(-1)


def test_two_live_runs_never_share_an_id_prefix() -> None:
    prefixes = {LiveTradingEngine(Strategy()).orders.ids.prefix for _ in range(50)}
    assert len(prefixes) > 45  # same second, different random bits
    assert all(len(p) <= 16 for p in prefixes)


def test_positions_limit_counts_resting_orders() -> None:
    from kit import D

    from livetrade.risk import RiskLimits

    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if len(s.of("market_data")) == 1:
            for _ in range(3):
                s.ctx.buy(event.symbol, 1, order_type="limit", limit_price=90)

    strategy = RecordingStrategy(on_bar)
    engine, _ = sync_engine(strategy, risk_limits=RiskLimits(max_position_quantity=D(1)))
    engine.process(md(price=100, ts=at(1)), md(price=89, ts=at(2)))
    assert engine.portfolio.position("AAPL") == Decimal(1)
    assert len(strategy.of("reject")) == 2
