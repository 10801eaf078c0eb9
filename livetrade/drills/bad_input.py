"""The bad-input drill: feed the engine everything a hostile or broken world sends.

    python -m livetrade.drills.bad_input                 # the long form (bigger barrages)
    python -m livetrade.drills.bad_input --quick --json  # what CI runs (bounded)

Each case throws one kind of bad input at the real component that must take it, and
checks the promise: **no crash, each bad input is a typed error or an event, nothing is
half-written**. The cases:

* ``feed_frames``: a websocket server on 127.0.0.1 sends a Binance-shaped stream to the
  real :class:`~livetrade.feeds.binance_stream.BinanceStreamFeed` with garbage between good
  frames (random bytes, binary frames, wrong JSON shapes, unknown streams, NaN / inf /
  negative / zero prices and sizes, oversized messages). Every good frame must arrive as
  ``MarketData``, none of the bad ones, and each bad one is counted as garbage.
* ``events``: ``MarketData`` and ``OrderFill`` built with NaN, inf, negative, zero or
  non-numeric values are refused by validation (a typed error) before they exist.
* ``orders``: a strategy submits orders with NaN / negative / zero / absurd quantities and
  prices: each one becomes an ``OrderReject``; the engine keeps going.
* ``csv_rows``: a replay file with broken rows: each is skipped and reported (``FeedError``)
  or, with ``on_bad_row="fail"``, stops the replay with a ``DataFeedError``.
* ``checkpoints``: truncated and edited checkpoints, a future schema, another account's
  state, a truncated database file: ``StateError`` every time and nothing half-loaded.
* ``configs``: wrong types, unknown keys, broken TOML: ``ConfigError`` listing each problem
  with its line, never a traceback.
* ``strategy``: a strategy that raises in every callback: every failure is reported as a
  ``SystemErrorEvent`` and counted; the engine processes every event and stops cleanly.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from livetrade.drills.bad_input_cases import (
    check_checkpoints,
    check_configs,
    check_csv_rows,
    check_events,
    check_orders,
    check_strategy,
)
from livetrade.drills.frames import check_feed_frames


@dataclass
class CaseResult:
    """One row of the drill's table."""

    name: str
    inputs: int = 0
    handled: int = 0  # became a typed error, an event, or was counted and dropped
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.handled == self.inputs


Check = Callable[[Path, int, random.Random], tuple[int, int, list[str]]]


def cases() -> list[tuple[str, Check]]:
    return [("feed_frames", check_feed_frames), ("events", check_events),
            ("orders", check_orders), ("csv_rows", check_csv_rows),
            ("checkpoints", check_checkpoints), ("configs", check_configs),
            ("strategy", check_strategy)]


def run_drill(work: Path, *, scale: int, seed: int,
              only: set[str] | None = None) -> list[CaseResult]:
    """Run every case (or ``only`` those) in ``work``; blocks. Bounded by ``scale``."""
    results = []
    for name, check in cases():
        if only and name not in only:
            continue
        directory = work / name
        directory.mkdir(parents=True, exist_ok=True)
        result = CaseResult(name)
        try:
            result.inputs, result.handled, result.failures = check(
                directory, scale, random.Random(seed))
        except Exception as exc:  # noqa: BLE001 - a crash is exactly what the drill reports
            result.failures.append(f"crashed: {type(exc).__name__}: {exc}")
        results.append(result)
    return results


def table(results: list[CaseResult]) -> str:
    lines = [f"{'case':<14}{'bad inputs':>12}{'handled':>10}  result",
             "-" * 50]
    for r in results:
        lines.append(f"{r.name:<14}{r.inputs:>12,}{r.handled:>10,}  {'ok' if r.ok else 'FAILED'}")
        lines.extend(f"    {failure}" for failure in r.failures[:10])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m livetrade.drills.bad_input",
        description="throw malformed data, configs, checkpoints and strategies at the engine",
        epilog="examples:\n  python -m livetrade.drills.bad_input\n"
               "  python -m livetrade.drills.bad_input --quick --json\n"
               "  python -m livetrade.drills.bad_input --only feed_frames,checkpoints",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small barrages (CI)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    if only and (unknown := only - {name for name, _ in cases()}):
        parser.error(f"unknown case(s) {sorted(unknown)}; known: "
                     f"{', '.join(name for name, _ in cases())}")
    work = Path(tempfile.mkdtemp(prefix="livetrade-bad-input-"))
    started = time.monotonic()
    try:
        results = run_drill(work, scale=1 if args.quick else 10, seed=args.seed, only=only)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = all(r.ok for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "seconds": round(time.monotonic() - started, 1),
                          "cases": [{"name": r.name, "inputs": r.inputs, "handled": r.handled,
                                     "ok": r.ok, "failures": r.failures} for r in results]}))
    else:
        print(table(results))
        print(f"\n{'OK' if ok else 'FAILED'}: {sum(r.inputs for r in results):,} bad inputs, "
              f"{sum(r.handled for r in results):,} handled, in "
              f"{time.monotonic() - started:.1f} s")
    return 0 if ok else 1


__all__ = ["CaseResult", "main", "run_drill", "table"]

if __name__ == "__main__":
    sys.exit(main())
