"""Suite 7, replay: generated CSVs through ``SmaCrossover`` as fast as the engine goes.

Two files, written to a temporary directory: 25 years of daily bars for one symbol, and a
tick file (4 symbols interleaved, 10 ms apart). Each is replayed with
``livetrade.replay.run_replay`` when it exists (ManualClock, ``"block"`` policy,
``ReplayFeed(speed=None)``, the paper broker), else by driving ``LiveTradingEngine``
directly with the same settings (the JSON says which). The baseline is reading and
validating the same file with ``read_csv`` alone, in one thread: the feed's own cost, which
bounds the replay from above.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from benchmarks.config import Sizes
from benchmarks.results import JsonObject, Row, SuiteResult, fmt_rate
from benchmarks.stats import settle
from benchmarks.workloads import Progress
from livetrade.clock import ManualClock
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.feeds.csv_source import read_csv
from livetrade.feeds.replay import ReplayFeed
from livetrade.loader import load_strategy
from livetrade.strategy import Strategy

TITLE = "replay: generated CSV -> SmaCrossover via ReplayFeed(speed=None), rows/s"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sma_crossover.py"
BAR_SYMBOL = "SPY"
TICK_SYMBOLS = ("AAA", "BBB", "CCC", "DDD")


def _cents(c: int) -> str:
    return f"{c // 100}.{c % 100:02d}"


def write_bars(path: Path, count: int, seed: int = 7) -> None:
    """``count`` business-day OHLCV bars from 2000-01-03; consistent highs and lows."""
    rng = random.Random(seed)
    close = 10_000
    day = date(2000, 1, 3)
    lines = ["timestamp,open,high,low,close,volume"]
    while len(lines) <= count:
        if day.weekday() < 5:
            open_ = close
            close = max(100, round(open_ * (1 + rng.gauss(0, 0.012))))
            high = max(open_, close) + rng.randint(0, 150)
            low = max(1, min(open_, close) - rng.randint(0, 150))
            lines.append(f"{day.isoformat()},{_cents(open_)},{_cents(high)},{_cents(low)},"
                         f"{_cents(close)},{rng.randint(1_000, 90_000)}")
        day += timedelta(days=1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_ticks(path: Path, count: int, seed: int = 11) -> None:
    """``count`` ticks, symbols in turn, 10 ms apart from 2024-01-02, prices in cents."""
    rng = random.Random(seed)
    prices = dict.fromkeys(TICK_SYMBOLS, 10_000)
    start = datetime(2024, 1, 2, tzinfo=UTC)
    step = timedelta(milliseconds=10)
    with path.open("w", encoding="utf-8") as out:
        out.write("timestamp,symbol,price,volume\n")
        chunk: list[str] = []
        for i in range(count):
            symbol = TICK_SYMBOLS[i % len(TICK_SYMBOLS)]
            price = max(100, prices[symbol] + rng.randint(-5, 5))
            prices[symbol] = price
            chunk.append(f"{(start + step * i).isoformat()},{symbol},{_cents(price)},"
                         f"{rng.randint(1, 500)}\n")
            if len(chunk) >= 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))


def _strategy() -> Strategy:
    return load_strategy(f"{EXAMPLE}:SmaCrossover", {"fast": 5, "slow": 20, "quantity": 1})


def parse_only(path: Path, symbol: str | None) -> tuple[int, float]:
    """Rows read and validated by ``read_csv`` alone, and the seconds it took."""
    started = time.perf_counter()
    rows = sum(1 for _ in read_csv(path, symbol))
    return rows, time.perf_counter() - started


def status_interval_s(rows: int) -> float:
    """How often run_replay should poll: it ends within one interval of the last row.

    Every poll calls ``engine.status()``, which sorts the dispatcher's 65,536-sample latency
    ring (up to ~10 ms once full), so polling a long replay every 10 ms would starve it.
    Scaled so polling costs a few percent and adds at most a few percent of the run.
    """
    return min(0.25, max(0.01, rows / 500_000))


def replay_with_run_replay(path: Path, symbol: str | None, rows: int
                           ) -> tuple[int, int, int, float]:
    """rows, bad rows, fills, seconds, through ``livetrade.replay.run_replay``."""
    from livetrade.replay import run_replay

    strategy = _strategy()
    started = time.perf_counter()
    report = run_replay(path, strategy, symbol=symbol,
                        progress_interval_s=status_interval_s(rows))
    elapsed = time.perf_counter() - started
    if not report.completed:
        raise RuntimeError("run_replay reported an incomplete replay")
    return report.rows, report.bad_rows, len(report.fills), elapsed


def replay_direct(path: Path, symbol: str | None, timeout_s: float) -> tuple[int, int, int, float]:
    """The same replay, wiring ``LiveTradingEngine`` here. Blocks (bounded)."""
    strategy = _strategy()
    clock = ManualClock()
    feed = ReplayFeed(path, symbol=symbol, speed=None)
    settings = EngineSettings(market_data_policy="block", initial_cash=Decimal(100_000),
                              switch_interval_s=0)  # as run_replay: nothing waits in wall time
    engine = LiveTradingEngine(strategy, feeds=[feed], clock=clock, settings=settings)
    started = time.perf_counter()
    engine.start()
    try:
        feed.join(timeout_s)
        engine.wait_until_idle(timeout_s)
    finally:
        engine.stop()
    elapsed = time.perf_counter() - started
    return feed.rows, feed.bad_rows, engine.status().fills, elapsed


def _one(path: Path, symbol: str | None, expected: int, sizes: Sizes,
         notes: list[str]) -> JsonObject:
    settle()
    parsed, parse_s = parse_only(path, symbol)
    settle()
    how = "livetrade.replay.run_replay"
    try:
        rows, bad, fills, elapsed = replay_with_run_replay(path, symbol, expected)
    except Exception as exc:  # noqa: BLE001 - a moving API must not sink the suite
        how = "LiveTradingEngine wired here"
        note = (f"run_replay unusable ({type(exc).__name__}: {exc}); wired the engine here "
                "with the same settings instead")
        if note not in notes:
            notes.append(note)
        settle()
        rows, bad, fills, elapsed = replay_direct(path, symbol, sizes.drain_timeout_s * 5)
    return {"rows_expected": expected, "rows": rows, "bad_rows": bad, "fills": fills,
            "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed),
            "parse_only_rows_per_s": round(parsed / parse_s),
            "ratio_to_parse_only": round((rows / elapsed) / (parsed / parse_s), 3),
            "driven_by": how, "status_interval_s": status_interval_s(expected)}


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("replay", TITLE)
    with tempfile.TemporaryDirectory(prefix="livetrade-bench-") as tmp:
        bars = Path(tmp) / "bars.csv"
        ticks = Path(tmp) / "ticks.csv"
        write_bars(bars, sizes.replay_bars)
        progress(f"writing {sizes.replay_ticks:,} ticks")
        write_ticks(ticks, sizes.replay_ticks)
        daily = _one(bars, BAR_SYMBOL, sizes.replay_bars, sizes, result.notes)
        progress(f"daily bars: {daily['rows_per_s']:,} rows/s")
        tick = _one(ticks, None, sizes.replay_ticks, sizes, result.notes)
        progress(f"ticks: {tick['rows_per_s']:,} rows/s")
    result.figures.update(daily_bars=daily, ticks=tick)
    for label, data in ((f"{sizes.replay_bars:,} daily bars", daily),
                        (f"{sizes.replay_ticks:,} ticks", tick)):
        rows_per_s = data["rows_per_s"]
        parse = data["parse_only_rows_per_s"]
        ratio = data["ratio_to_parse_only"]
        assert isinstance(rows_per_s, int) and isinstance(parse, int)
        assert isinstance(ratio, float)
        result.rows.append(Row(
            f"{label}: {data['seconds']} s, {data['fills']} fills",
            fmt_rate(rows_per_s), baseline=f"read_csv alone {fmt_rate(parse)}", ratio=ratio))
        if data["rows"] != data["rows_expected"] or data["bad_rows"]:
            result.notes.append(f"{label}: replayed {data['rows']} rows "
                                f"({data['bad_rows']} bad) of {data['rows_expected']}")
    result.notes.append(f"Replays run by: bars {daily['driven_by']}, ticks {tick['driven_by']}; "
                        "timing includes engine set-up and stop. SmaCrossover(fast=5, slow=20, "
                        "quantity=1) from examples/sma_crossover.py.")
    if "run_replay" in f"{daily['driven_by']}{tick['driven_by']}":
        result.notes.append(f"run_replay's status poll: {daily['status_interval_s']} s (bars), "
                            f"{tick['status_interval_s']} s (ticks); each poll costs one "
                            "engine.status().")
    return result
