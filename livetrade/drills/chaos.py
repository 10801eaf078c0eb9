"""The chaos drill: a busy engine against ``livetrade sim-exchange`` through a scripted
storm of exchange faults, then proof that nothing was sent twice and the books agree.

    python -m livetrade.drills.chaos                  # 10 minutes, the long form
    python -m livetrade.drills.chaos --quick --json   # ~45 s, what CI runs

The simulator runs as its own process (:class:`~livetrade.drills.simproc.SimProcess`);
the engine is built from a config (ccxt binance broker wrapped in retries, breakers,
deadlines and shadow mode; the Binance stream feed; :class:`~livetrade.drills.storm.
StormStrategy`). The storm, phase by phase: calm, 20% 5xx, 10% dropped responses
(executed, never answered), 429 bursts on orders, websocket drops, all of them mixed, a
60 s outage (the simulator process stopped, restarted on the same ports and state dir;
prices meanwhile come from a second source so the strategy keeps trading, on the shadow
venue), calm again. ``--quick`` scales every phase down (the outage to 6 s).

At the end the drill settles the run (kill switch, reconciliation), stops the simulator,
reads the venue's state directory and checks: zero duplicate client order ids, every
order final and equal on both sides, no shadow order at the venue, breakers opened and
ended closed, exactly one trip to shadow and back. Exit status 0 when all hold.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from livetrade.app import build_engine
from livetrade.config import load_config
from livetrade.drills.simproc import SimProcess
from livetrade.drills.storm import (
    Tally,
    engine_toml,
    judge,
    latency_window_us,
    percentile,
)
from livetrade.drills.storm import settle as settle_run
from livetrade.engine import LiveTradingEngine
from livetrade.events import MarketData
from livetrade.resilience.shadow import ShadowingBroker
from livetrade.simexchange import FaultConfig

ORDERS = ("POST /api/v3/order",)
BALANCES = {"USDT": Decimal(100_000), "BTC": Decimal(1)}
RESILIENCE: dict[str, Any] = {
    "retry_attempts": 4, "retry_initial_s": 0.1, "retry_max_s": 1.0, "submit_attempts": 3,
    "breaker_fail_max": 3, "breaker_reset_timeout_s": 1.0, "submit_timeout_s": 5,
    "cancel_timeout_s": 3, "positions_timeout_s": 3, "account_timeout_s": 3,
    "connect_timeout_s": 10, "degrade_after_s": 2, "probe_interval_s": 0.5,
    "resume_policy": "flatten_shadow"}


@dataclass(frozen=True)
class Phase:
    """``seconds`` of one kind of weather: faults cycled every ``cycle_s`` (a burst is a
    ``(FaultConfig, FaultConfig)`` pair: on for ``burst_s``, then the second)."""

    name: str
    seconds: float
    faults: FaultConfig | None = None
    burst: FaultConfig | None = None
    burst_s: float = 0.0
    cycle_s: float = 0.0
    drop_streams_every_s: float = 0.0
    outage: bool = False


def storm_script(minutes: float, quick: bool) -> list[Phase]:
    """The phases, scaled so they fill ``minutes`` (or ~35 s with ``quick``)."""
    base = FaultConfig(error_rate=0.2, timeout_rate=0.1, timeout_hold_s=0.3,
                       ws_drop_rate=0.01, seed=7)
    burst = FaultConfig(rate_limit_rate=1.0, retry_after_s=1, scope=ORDERS, seed=8)
    phases = [
        Phase("calm", 60),
        Phase("5xx", 90, FaultConfig(error_rate=0.2, seed=1)),
        Phase("dropped responses", 90, FaultConfig(timeout_rate=0.1, timeout_hold_s=0.3,
                                                   seed=2)),
        # a burst outlasts submit_attempts resends spaced by Retry-After: the breaker opens
        Phase("429 bursts", 60, burst=burst, burst_s=3.5, cycle_s=8),
        Phase("websocket drops", 60, FaultConfig(ws_drop_rate=0.02, seed=3),
              drop_streams_every_s=10),
        Phase("mixed", 90, base, burst=burst, burst_s=3.5, cycle_s=10,
              drop_streams_every_s=15),
        Phase("outage", 60, outage=True),
        Phase("calm after", 60),
    ]
    if quick:
        scale = {"calm": 4, "outage": 6, "calm after": 5}
        return [Phase(p.name, scale.get(p.name, 4), p.faults, p.burst, p.burst_s,
                      min(p.cycle_s, 4) if p.cycle_s else 0.0,
                      min(p.drop_streams_every_s, 2) if p.drop_streams_every_s else 0.0,
                      p.outage) for p in phases]
    total = sum(p.seconds for p in phases)
    factor = minutes * 60 / total
    return [Phase(p.name, p.seconds * factor, p.faults, p.burst, p.burst_s, p.cycle_s,
                  p.drop_streams_every_s, p.outage) for p in phases]


class LogCounter:
    """A structlog processor counting events by name (retries, ambiguous submits)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, logger: object, name: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        self.counts[str(event.get("event"))] += 1
        return event


@dataclass
class PhaseFigures:
    name: str
    seconds: float
    orders: int
    ticks: int
    p50_us: float
    p99_us: float
    mode_changes: int = 0
    mode_at_end: str = ""  # the engine's mode as the phase ends (before the venue is back)


@dataclass
class ChaosReport:
    phases: list[PhaseFigures] = field(default_factory=list)
    orders: int = 0
    fills: int = 0
    shadow_orders: int = 0
    duplicates: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    shadow_at_venue: list[str] = field(default_factory=list)
    breakers: dict[str, dict[str, int]] = field(default_factory=dict)
    breakers_final: dict[str, str] = field(default_factory=dict)
    modes: list[tuple[str, str]] = field(default_factory=list)
    retries: int = 0
    ambiguous_submits: int = 0
    storm_p50_us: float = 0.0
    storm_p99_us: float = 0.0
    calm_p50_us: float = 0.0
    calm_p99_us: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _pump_prices(engine: LiveTradingEngine, stop: threading.Event) -> None:
    """While the venue is down: prices from a second source every 50 ms."""
    step = 0
    while not stop.wait(0.05):
        step += 1
        engine.publish(MarketData(symbol="BTC/USDT", price=Decimal(30000 + 40 * (step % 9)),
                                  volume=Decimal(1), timestamp=engine.clock.now()))


def _weather(sim: SimProcess, phase: Phase, engine: LiveTradingEngine) -> str:
    """Run one phase to its end; return the engine's mode as it ends (for an outage: just
    before the venue comes back). Blocks for ``phase.seconds``."""
    end = time.monotonic() + phase.seconds
    if phase.outage:
        stop = threading.Event()
        pump = threading.Thread(target=_pump_prices, args=(engine, stop), daemon=True,
                                name="chaos-prices")
        sim.stop()
        pump.start()
        time.sleep(max(0.0, end - time.monotonic()))
        mode = engine.mode
        sim.start()
        stop.set()
        pump.join(5)
        return mode
    sim.set_faults(phase.faults)
    next_drop = time.monotonic() + phase.drop_streams_every_s
    cycle_start = time.monotonic()
    bursting = False
    while (now := time.monotonic()) < end:
        if phase.burst is not None and phase.cycle_s:
            in_burst = (now - cycle_start) % phase.cycle_s < phase.burst_s
            if in_burst != bursting:
                bursting = in_burst
                sim.set_faults(phase.burst if in_burst else phase.faults)
        if phase.drop_streams_every_s and now >= next_drop:
            sim.drop_streams()
            next_drop = now + phase.drop_streams_every_s
        time.sleep(0.05)
    sim.set_faults(None)
    return engine.mode


def run_drill(minutes: float, quick: bool, workdir: Path) -> ChaosReport:
    """The whole drill in ``workdir``; see the module docstring. Blocks."""
    counter = LogCounter()
    log_file = (workdir / "engine.log").open("w")
    structlog.configure(
        processors=[counter, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(log_file))
    key, secret = secrets.token_hex(16), secrets.token_hex(32)
    os.environ["LIVETRADE_API_KEY"], os.environ["LIVETRADE_API_SECRET"] = key, secret
    sim = SimProcess(workdir / "venue", api_key=key, api_secret=secret, balances=BALANCES)
    sim.start()
    report = ChaosReport()
    try:
        config_path = workdir / "engine.toml"
        # Periodic reconciliation is what settles an order lost to a fault (ambiguous
        # submit, never at the venue) during a long run: production's 300 s / 30 s grace,
        # scaled to 30 s / 10 s. The quick form reconciles only when settling.
        interval_s, grace_s = (0.0, 2.0) if quick else (30.0, 10.0)
        config_path.write_text(engine_toml(sim.rest_url, sim.ws_url, resilience=RESILIENCE,
                                           poll_interval_s=0.5,
                                           reconcile_interval_s=interval_s,
                                           reconcile_grace_s=grace_s))
        engine = build_engine(load_config(config_path))
        tally = Tally()
        tally.attach(engine)
        engine.start()
        try:
            _storm(engine, sim, tally, storm_script(minutes, quick), report)
            if not settle_run(engine, sim.open_orders, 30):
                report.failures.append("open orders remained after settling")
            time.sleep(1)  # the final reconciliation's turn on the dispatcher
            if isinstance(engine.broker, ShadowingBroker):
                report.breakers_final = engine.broker.live.breakers.states()
            report.breakers = {g: dict(c) for g, c in tally.breaker_counts().items()}
            report.modes = list(tally.modes)
            sim.stop()  # read the venue from its state dir; the engine sees an outage now
            venue = sim.read_venue()
            verdict = judge(engine, venue.orders, venue.trades, venue.balances)
            report.orders, report.fills = verdict.venue_orders, verdict.venue_fills
            report.duplicates, report.mismatches = verdict.duplicates, verdict.mismatches
            report.shadow_at_venue = verdict.shadow_at_venue
            report.shadow_orders = sum(o.shadow for o in engine.orders.all_orders())
        finally:
            engine.stop()
    finally:
        sim.stop()
        log_file.close()
    report.retries = counter.counts["broker_retry"]
    report.ambiguous_submits = counter.counts["submit_outcome_unknown"]
    _judge_report(report)
    return report


def _storm(engine: LiveTradingEngine, sim: SimProcess, tally: Tally, phases: list[Phase],
           report: ChaosReport) -> None:
    from livetrade.drills.storm import StormStrategy

    strategy = engine.strategy
    assert isinstance(strategy, StormStrategy)
    latency = engine.dispatcher.latency
    deadline = time.monotonic() + 20
    while not engine.orders.all_orders() and time.monotonic() < deadline:
        time.sleep(0.05)
    calm: list[float] = []
    storm: list[float] = []
    for phase in phases:
        first, started = latency.count, time.monotonic()
        orders_before = engine.orders.stats().submitted
        modes_before = len(tally.modes)
        mode_at_end = _weather(sim, phase, engine)
        window = latency_window_us(latency, first, latency.count)
        (calm if phase.name.startswith("calm") else storm).extend(window)
        report.phases.append(PhaseFigures(
            phase.name, round(time.monotonic() - started, 1),
            engine.orders.stats().submitted - orders_before,
            strategy.ticks_between(started, time.monotonic()),
            percentile(window, 0.5), percentile(window, 0.99),
            len(tally.modes) - modes_before, mode_at_end))
    calm.sort()
    storm.sort()
    report.calm_p50_us, report.calm_p99_us = percentile(calm, 0.5), percentile(calm, 0.99)
    report.storm_p50_us, report.storm_p99_us = percentile(storm, 0.5), percentile(storm, 0.99)


def _judge_report(report: ChaosReport) -> None:
    if report.duplicates:
        report.failures.append(f"duplicate client order ids: {report.duplicates}")
    if report.mismatches:
        report.failures.append(f"{len(report.mismatches)} order/book mismatch(es): "
                               f"{report.mismatches[:5]}")
    if report.shadow_at_venue:
        report.failures.append(f"shadow orders at the venue: {report.shadow_at_venue}")
    # Expected: the outage sends the engine to shadow; every trip ends back live (a 429
    # burst longer than degrade_after_s is an outage of the order endpoint and may too).
    trips = report.modes[0::2], report.modes[1::2]
    if (not report.modes or len(report.modes) % 2
            or set(trips[0]) != {("live", "shadow")} or set(trips[1]) != {("shadow", "live")}):
        report.failures.append(f"mode changes {report.modes}: expected live->shadow->live trips")
    # In shadow by the outage's end: sent there by it, or already there from a 429 burst
    # just before it (the outage then kept it there until the venue was back).
    if any(p.mode_at_end != "shadow" for p in report.phases if p.name == "outage"):
        report.failures.append("the outage did not send the engine to shadow")
    if not report.breakers.get("orders", {}).get("open"):
        report.failures.append("the orders breaker never opened")
    if any(state != "closed" for state in report.breakers_final.values()):
        report.failures.append(f"breakers not closed at the end: {report.breakers_final}")
    if report.shadow_orders == 0:
        report.failures.append("the strategy sent no order on the shadow venue")
    starved = [p.name for p in report.phases if p.ticks == 0]
    if starved:
        report.failures.append(f"no market data to the strategy during: {starved}")


def render(report: ChaosReport) -> str:
    lines = ["phase               seconds  orders  ticks  p50 us   p99 us  modes"]
    for p in report.phases:
        lines.append(f"{p.name:<19} {p.seconds:>7.1f} {p.orders:>7} {p.ticks:>6} "
                     f"{p.p50_us:>7.0f} {p.p99_us:>8.0f} {p.mode_changes:>6}")
    breakers = ", ".join(f"{g}: " + " ".join(f"{k}={v}" for k, v in sorted(c.items()))
                         for g, c in sorted(report.breakers.items())) or "none"
    lines += [
        "",
        f"orders at venue      {report.orders}",
        f"fills at venue       {report.fills}",
        f"shadow orders        {report.shadow_orders} (at venue: {len(report.shadow_at_venue)})",
        f"duplicates           {len(report.duplicates)}",
        f"book mismatches      {len(report.mismatches)}",
        f"breaker transitions  {breakers}",
        f"mode changes         {len(report.modes)} "
        f"({len(report.modes[0::2])} trip(s) live->shadow, {len(report.modes[1::2])} back)",
        f"retries              {report.retries} (ambiguous submits looked up: "
        f"{report.ambiguous_submits})",
        f"dispatcher latency   storm p50 {report.storm_p50_us:.0f} us p99 "
        f"{report.storm_p99_us:.0f} us | calm p50 {report.calm_p50_us:.0f} us p99 "
        f"{report.calm_p99_us:.0f} us",
        f"result               {'PASS' if report.ok else 'FAIL'}",
    ]
    lines += [f"  - {failure}" for failure in report.failures]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m livetrade.drills.chaos",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="~35 s of storm (CI)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--workdir", type=Path, help="keep the venue state and logs here")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        report = run_drill(args.minutes, args.quick, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="livetrade-chaos-") as tmp:
            report = run_drill(args.minutes, args.quick, Path(tmp))
    if args.json:
        data = {k: v for k, v in report.__dict__.items() if k != "phases"}
        data["phases"] = [p.__dict__ for p in report.phases]
        data["ok"] = report.ok
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
