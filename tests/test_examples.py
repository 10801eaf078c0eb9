"""The examples are part of the product: each one runs, and does what its docstring says."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import embed_in_backtest_loop  # noqa: E402
from sma_crossover import SmaCrossover  # noqa: E402


def test_embedded_loop_is_deterministic_and_books_its_trades() -> None:
    """Same legacy loop twice: same result; the book adds up (cash + position x last)."""
    first = embed_in_backtest_loop.run()
    second = embed_in_backtest_loop.run()
    assert first == second
    assert int(first["fills"]) >= 2
    last_close = embed_in_backtest_loop.legacy_bars()[-1][1]
    assert Decimal(first["equity"]) == (Decimal(first["cash"])
                                        + Decimal(first["position"]) * last_close)


def test_embedded_loop_starts_no_threads() -> None:
    import threading

    before = {t.ident for t in threading.enumerate()}
    embed_in_backtest_loop.run()
    assert {t.ident for t in threading.enumerate()} == before


def test_sma_crossover_script_runs_and_stops_by_itself() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "sma_crossover.py"), "2"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "undelivered 0" in result.stdout


def test_sma_crossover_rejects_bad_parameters() -> None:
    for kwargs in ({"fast": 5, "slow": 5}, {"fast": 0, "slow": 3}, {"quantity": "-1"}):
        try:
            SmaCrossover(**kwargs)
        except ValueError:
            continue
        raise AssertionError(f"accepted {kwargs}")


def test_sma_crossover_state_round_trips() -> None:
    strategy = SmaCrossover(fast=2, slow=3)
    strategy.set_state({"prices": {"X": ["1", "2", "3"]}, "above": {"X": True}})
    restored = SmaCrossover(fast=2, slow=3)
    restored.set_state(strategy.get_state())
    assert restored.get_state() == strategy.get_state()
    assert restored.get_state()["prices"] == {"X": ["1", "2", "3"]}


def test_readme_strategy_example_runs_as_written() -> None:
    """The strategy in README.md compiles, trades, and its take-profit limit order fills."""
    import re
    from datetime import UTC, datetime, timedelta

    from livetrade.clock import ManualClock
    from livetrade.engine import EngineSettings, LiveTradingEngine
    from livetrade.events import MarketData
    from livetrade.orders import ClientOrderIdGenerator

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Write a strategy\n\n```python\n(.*?)```", readme, re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    strategy = namespace["BuyTheDip"]()  # type: ignore[operator]
    clock = ManualClock()
    engine = LiveTradingEngine(strategy, clock=clock,
                               settings=EngineSettings(market_data_policy="unbounded"),
                               order_ids=ClientOrderIdGenerator("rd"))
    engine.start_sync()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i, price in enumerate(["100", "94", "96", "99", "100"]):
        engine.process(MarketData(symbol="X", timestamp=start + timedelta(minutes=i),
                                  price=Decimal(price)))
    engine.stop_sync()
    # bought 1 @ 94, take-profit limit @ 98.70 filled when 99 crossed it: flat again.
    assert engine.portfolio.position("X") == 0
    assert engine.portfolio.snapshot().realized_pnl == Decimal("4.70")


def test_readme_schedule_example_registers_its_four_jobs() -> None:
    import re

    from livetrade.engine import LiveTradingEngine

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Schedule it\n\n```python\n(.*?)```", readme, re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    engine = LiveTradingEngine(namespace["OpenClose"]())  # type: ignore[operator]
    engine.strategy.bind(engine.context)
    engine.strategy.on_start()
    assert len(engine.scheduler.jobs()) == 4
    assert "flatten" in [job.name for job in engine.scheduler.jobs()]


def test_sma_crossover_refuses_fractional_windows_and_nan_quantities() -> None:
    import pytest

    from livetrade.errors import ConfigError
    from livetrade.loader import load_strategy

    for params in ({"fast": Decimal("5.5"), "slow": 20}, {"fast": True, "slow": 20},
                   {"quantity": "NaN"}, {"quantity": "abc"}):
        with pytest.raises(ConfigError, match="rejected its parameters"):
            load_strategy(f"{ROOT / 'examples' / 'sma_crossover.py'}:SmaCrossover", params)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.toml")))
def test_every_example_config_passes_config_check(name: str) -> None:
    """What the README and the how-to tell people to run must at least parse and validate."""
    from livetrade.config import load_config

    load_config(ROOT / "examples" / name)
