"""The kill -9 drill: crash the engine at random instants of a busy order flow, restart it,
and prove it comes back knowing exactly what it owns.

    python -m livetrade.drills.crash --kills 100 --seed 7          # the long form
    python -m livetrade.drills.crash --kills 5 --json              # what CI runs (bounded)

Each round starts ``livetrade run`` (state + a persisted paper venue, a fast simulated feed
and :class:`DrillStrategy`, which sends market and limit orders and cancels at random) as a
subprocess, waits a random time, and sends SIGKILL: the kill lands anywhere, mid-order,
mid-fill, mid-checkpoint, mid-recovery. After each kill a recover-only run (``--duration
0``) restores, reconciles and stops cleanly, and the drill checks:

* the recovery found only differences a crash can legitimately leave (a fill the venue made
  that the engine had not yet journaled; an order journaled but never accepted), never a
  position or cash mismatch or an order the engine did not know (those mean lost data);
* no order was sent twice: the venue never refused a duplicate client order id, and every
  order the venue knows was journaled by the engine first;
* no fill was lost: every fill the venue reports is booked in the engine's checkpoint;
* positions, cash and open orders equal the venue's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from livetrade.drills.crash_sim import (
    MarketDriver,
    SimDrillReport,
    start_venue,
    verify_round,
)
from livetrade.drills.crash_sim import write_config as write_sim_config
from livetrade.drills.kill_points import kill_soon
from livetrade.drills.seeded import SeededStrategy
from livetrade.events import MarketData

ALLOWED = {"fill_missed", "order_missing_at_broker"}


class DrillStrategy(SeededStrategy):
    """A busy, random order flow: market orders, resting limits, cancels."""

    def on_market_data(self, event: MarketData) -> None:
        roll = self._rng.random()
        side = "buy" if self._rng.random() < 0.5 else "sell"
        if roll < 0.15:
            self.ctx.submit_order(event.symbol, side, 1)
        elif roll < 0.30:
            offset = Decimal("0.999") if side == "buy" else Decimal("1.001")
            self.ctx.submit_order(event.symbol, side, 1, "limit",
                                  limit_price=(event.price * offset).quantize(Decimal("0.01")))
        elif roll < 0.40:
            open_orders = self.ctx.open_orders()
            if open_orders:
                self.ctx.cancel_order(self._rng.choice(open_orders).client_order_id)


@dataclass
class DrillReport:
    kills: int = 0
    restarts_verified: int = 0
    failures: list[str] = field(default_factory=list)
    differences_seen: dict[str, int] = field(default_factory=dict)
    fills_at_venue: int = 0
    orders_at_venue: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


def write_config(work: Path, seed: int) -> Path:
    config = work / "drill.toml"
    config.write_text(f"""
[engine]
stop_timeout_s = 10

[broker]
type = "paper"
initial_cash = "1000000"
commission_bps = "1"
store_dir = "{work / 'venue'}"

[[feeds]]
type = "simulated"
symbols = ["A", "B", "C"]
rate_hz = 400
seed = {seed}

[strategy]
path = "livetrade.drills.crash:DrillStrategy"
params = {{ seed = {seed} }}

[state]
directory = "{work / 'state'}"
account_id = "drill"
checkpoint_interval_s = 0.5
debounce_s = 0.05
""")
    return config


def _run(config: Path, *extra: str, log: Path,
         env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "livetrade", "run", str(config),
                                 "--log-format", "json", "--json", *extra],
                                stdout=subprocess.DEVNULL, stderr=out, env=env)


def _verify(work: Path, report: DrillReport, round_no: int) -> None:
    from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
    from livetrade.state.store import StateStore

    store = StateStore.open_existing(work / "state")
    try:
        checkpoint = store.load_checkpoint()
        reports = store.reports()
    finally:
        store.close()
    last = reports[-1]["reconciliation"] if reports else {"differences": []}
    for difference in last["differences"]:
        kind = difference["kind"]
        report.differences_seen[kind] = report.differences_seen.get(kind, 0) + 1
        if kind not in ALLOWED:
            report.failures.append(f"round {round_no}: recovery found {kind}: "
                                   f"{difference['detail']}")
    venue = PaperBroker(PaperBrokerConfig(initial_cash=Decimal(1_000_000)),
                        store_dir=work / "venue")
    try:
        from datetime import UTC, datetime

        fills = venue.get_fills(datetime(1970, 1, 1, tzinfo=UTC))
        positions = {s: q for s, q in venue.get_positions().items() if q != 0}
        cash = venue.get_account_info().cash
        open_ids = {o.client_order_id for o in venue.get_open_orders()}
    finally:
        venue.close()
    booked: set[str] = set(checkpoint.processed_fill_ids.get("recent", []))
    for order in checkpoint.orders:
        booked.update(order.fill_ids)
    lost = [f.fill_id for f in fills if f.fill_id not in booked]
    # Closed orders beyond the retention window drop out of the checkpoint; the drill keeps
    # far fewer than that, so every venue fill must be there.
    if lost:
        report.failures.append(f"round {round_no}: fills lost: {lost[:5]}")
    mine = {p.symbol: p.quantity for p in checkpoint.portfolio.positions if p.quantity != 0}
    if mine != positions:
        report.failures.append(f"round {round_no}: positions {mine} != venue {positions}")
    if abs(checkpoint.portfolio.cash - cash) > Decimal("0.000001"):
        report.failures.append(f"round {round_no}: cash {checkpoint.portfolio.cash} != "
                               f"venue {cash}")
    local_open = {o.client_order_id for o in checkpoint.orders if o.status.is_open}
    if local_open != open_ids:
        report.failures.append(f"round {round_no}: open orders {sorted(local_open)} != "
                               f"venue {sorted(open_ids)}")
    report.fills_at_venue = len(fills)
    report.restarts_verified += 1


def _duplicates_refused(log: Path) -> int:
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        if "duplicate client order id" in line:
            count += 1
    return count


def run_drill(kills: int, seed: int, work: Path, *, min_s: float = 0.2, max_s: float = 2.0,
              progress: bool = False) -> DrillReport:
    """Run the drill in ``work`` (created); blocks until done. Bounded by ``kills``."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work, seed)
    log = work / "engine.log"
    report = DrillReport()
    for round_no in range(1, kills + 1):
        proc = _run(config, log=log)
        try:
            time.sleep(rng.uniform(min_s, max_s))
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        report.kills += 1
        recover = _run(config, "--duration", "0", log=log)
        code = recover.wait(120)
        if code != 0:
            report.failures.append(f"round {round_no}: recover-only run exited {code}")
            break
        _verify(work, report, round_no)
        if progress:
            print(f"round {round_no}/{kills}: killed, recovered, verified "
                  f"({report.fills_at_venue} fills at the venue)", file=sys.stderr)
    duplicates = _duplicates_refused(log)
    if duplicates:
        report.failures.append(f"the venue refused {duplicates} duplicate client order id(s)")
    return report


def run_sim_drill(kills: int, seed: int, work: Path, *, min_s: float = 0.3,
                  max_s: float = 2.5, progress: bool = False) -> SimDrillReport:
    """The drill against ``livetrade sim-exchange`` in its own process (it outlives every
    kill): engine subprocess, SIGKILL, the market keeps moving a moment (fills the engine
    misses), then a recover-only run with the market paused, and the check against the
    venue. Bounded by ``kills``."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    report = SimDrillReport()
    with (work / "venue.log").open("a") as venue_log:
        venue = start_venue(work, seed, venue_log)
        driver = MarketDriver(venue, seed)
        try:
            config = write_sim_config(work, venue, seed)
            log = work / "engine.log"
            for round_no in range(1, kills + 1):
                driver.resume()
                offset = log.stat().st_size if log.exists() else 0
                proc = _run(config, log=log, env=venue.env())
                try:
                    mode = kill_soon(proc.kill, work / "state", log, offset, rng,
                                     min_s=min_s, max_s=max_s)
                    proc.wait(30)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                report.kills += 1
                time.sleep(rng.uniform(0, 0.5))  # the venue trades on without the engine
                driver.pause()
                code = _run(config, "--duration", "0", log=log, env=venue.env()).wait(120)
                if code != 0:
                    report.failures.append(f"round {round_no}: recover-only run exited {code}")
                    break
                failures_before = len(report.failures)
                verify_round(work / "state", venue, report, round_no, settle_s=0)
                if progress:
                    for failure in report.failures[failures_before:]:
                        print(f"  FAILURE {failure}", file=sys.stderr)
                if progress:
                    print(f"round {round_no}/{kills}: killed ({mode}), recovered, verified: "
                          f"{report.orders_at_venue} orders, {report.fills_at_venue} fills "
                          f"at the venue, failures {len(report.failures)}", file=sys.stderr)
        finally:
            driver.close()
            venue.stop()
    return report


def print_table(summary: dict[str, Any]) -> None:
    """The drill's summary as a two-column table."""
    rows = [(k, v) for k, v in summary.items() if k not in ("failures", "differences_adopted")]
    rows += [(f"adopted: {k}", v) for k, v in sorted(summary.get("differences_adopted",
                                                                    {}).items())]
    width = max(len(str(k)) for k, _ in rows)
    print(f"{'figure'.ljust(width)}  value\n{'-' * width}  -----")
    for key, value in rows:
        print(f"{str(key).ljust(width)}  {value}")
    for failure in summary.get("failures", []):
        print(f"  FAILURE {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m livetrade.drills.crash",
        description="kill -9 the engine at random points and verify every recovery",
        epilog="examples:\n  python -m livetrade.drills.crash --kills 100 --seed 7\n"
               "  python -m livetrade.drills.crash --venue sim --supervisord --kills 100",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--venue", choices=["paper", "sim"], default="paper",
                        help="paper: persisted paper venue inside the engine process; sim: "
                             "livetrade sim-exchange in a process of its own")
    parser.add_argument("--supervisord", action="store_true",
                        help="with --venue sim: run the engine under a real supervisord, "
                             "which restarts it after every SIGKILL")
    parser.add_argument("--dir", help="work directory (default: a new temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.supervisord and args.venue != "sim":
        parser.error("--supervisord needs --venue sim")
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="livetrade-drill-"))
    started = time.monotonic()
    if args.venue == "sim":
        if args.supervisord:
            from livetrade.drills.supervised import run_supervised_drill

            sim_report = run_supervised_drill(args.kills, args.seed, work,
                                              progress=not args.json)
        else:
            sim_report = run_sim_drill(args.kills, args.seed, work, progress=not args.json)
        ok = sim_report.ok
        summary = {"venue": "sim", "supervisord": args.supervisord, **sim_report.summary(),
                   "seconds": round(time.monotonic() - started, 1), "work_dir": str(work)}
    else:
        report = run_drill(args.kills, args.seed, work, progress=not args.json)
        ok = report.ok
        summary = {"venue": "paper", "ok": report.ok, "kills": report.kills,
                   "restarts_verified": report.restarts_verified,
                   "fills_at_venue": report.fills_at_venue,
                   "differences_adopted": report.differences_seen,
                   "failures": report.failures,
                   "seconds": round(time.monotonic() - started, 1), "work_dir": str(work),
                   "pid": os.getpid()}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'OK' if ok else 'FAILED'}: crash drill ({summary['venue']} venue"
              f"{', under supervisord' if args.supervisord else ''})")
        print_table(summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
