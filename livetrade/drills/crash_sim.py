"""The crash drill's venue in a process of its own: ``livetrade sim-exchange`` with a
persisted account, a market the drill drives (and pauses to verify), a busy strategy whose
orders respect the venue's filters, and the check of the engine's book against the venue.

Used by :mod:`livetrade.drills.crash` (``--venue sim``) and
:mod:`livetrade.drills.supervised` (``--supervisord``). The simulator outlives every engine
kill, so a fill the venue makes while the engine is down is exactly what a real exchange
would do to a crashed client.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import IO, Any

from livetrade.drills.seeded import SeededStrategy
from livetrade.errors import DataFeedError, StateError
from livetrade.events import MarketData

SYMBOLS = ("BTC/USDT", "ETH/USDT")
START_PRICES = {"BTC/USDT": Decimal("30000"), "ETH/USDT": Decimal("2000")}
# One order is worth ~30 USDT (the venue's minimum notional is 5; lot step 0.00001).
QUANTITIES = {"BTC/USDT": "0.001", "ETH/USDT": "0.015"}
TICK = Decimal("0.01")
KEY_ENV, SECRET_ENV = "LIVETRADE_DRILL_API_KEY", "LIVETRADE_DRILL_API_SECRET"
# What a crash may legitimately leave for recovery to adopt: a fill the venue made while
# the engine was down (or before it was journaled), an order journaled but never accepted.
# An order the engine never journaled, or a position/cash mismatch, means lost data.
ALLOWED = {"fill_missed", "order_missing_at_broker"}


class SimDrillStrategy(SeededStrategy):
    """The drill's busy random flow against the simulator: market orders, resting limits
    a few ticks away, cancels. Quantities are fixed per symbol and prices quantized to the
    venue's tick, so every order passes the venue's filters; sells only what is held, so a
    reject means a real problem rather than noise."""

    def on_market_data(self, event: MarketData) -> None:
        quantity = Decimal(QUANTITIES.get(event.symbol, "0"))
        if quantity == 0:
            return
        roll = self._rng.random()
        side = "buy" if self._rng.random() < 0.55 else "sell"
        if side == "sell" and self.ctx.position(event.symbol) < 4 * quantity:
            side = "buy"
        if roll < 0.15:
            self.ctx.submit_order(event.symbol, side, quantity)
        elif roll < 0.35:
            offset = Decimal("0.9995") if side == "buy" else Decimal("1.0005")
            price = (event.price * offset).quantize(TICK, rounding=ROUND_DOWN)
            self.ctx.submit_order(event.symbol, side, quantity, "limit", limit_price=price)
        elif roll < 0.45:
            open_orders = self.ctx.open_orders()
            if open_orders:
                self.ctx.cancel_order(self._rng.choice(open_orders).client_order_id)


@dataclass
class SimVenue:
    """A running ``livetrade sim-exchange`` process and where to reach it."""

    process: subprocess.Popen[str]
    rest_url: str
    ws_url: str
    admin_url: str
    state_dir: Path
    api_key: str
    api_secret: str

    def env(self) -> dict[str, str]:
        """The engine's environment: the credentials go by variable, never in a file."""
        return {**os.environ, KEY_ENV: self.api_key, SECRET_ENV: self.api_secret}

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.admin_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_venue(work: Path, seed: int, log: IO[str]) -> SimVenue:
    """Start the simulator (manual prices: the drill drives them) and read its JSON line."""
    state_dir = work / "venue"
    key, secret = f"drillkey{seed}", f"drillsecret{random.Random(seed).randrange(1 << 60)}"
    process = subprocess.Popen(
        [sys.executable, "-m", "livetrade", "sim-exchange", "--state", str(state_dir),
         "--symbols", ",".join(SYMBOLS), "--price-source", "manual", "--json",
         "--balance", "USDT=100000",
         "--weight-limit", "1000000", "--api-key", key, "--api-secret", secret,
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("{"):
        process.kill()
        raise DataFeedError(f"sim-exchange did not start (exit {process.wait(10)})")
    info = json.loads(line)
    return SimVenue(process, info["rest_url"], info["ws_url"], info["admin_url"], state_dir,
                    key, secret)


class MarketDriver:
    """A random walk posted to the simulator's admin price endpoint on a thread of its
    own. ``pause`` returns once no step is in flight: with the market still, nothing fills
    at the venue and the engine has nothing to trade on, so the books can be compared."""

    def __init__(self, venue: SimVenue, seed: int, interval_s: float = 0.05) -> None:
        self._venue = venue
        self._rng = random.Random(seed)
        self._interval_s = interval_s
        self._prices = dict(START_PRICES)
        self._running = threading.Event()
        self._closed = threading.Event()
        self._step_lock = threading.Lock()
        self.errors = 0
        self._thread = threading.Thread(target=self._loop, name="drill-market", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed.is_set():
            if not self._running.wait(0.1):
                continue
            with self._step_lock:
                if not self._running.is_set():
                    continue
                for symbol, last in self._prices.items():
                    move = Decimal(str(round(self._rng.gauss(0, 0.0004), 6)))
                    price = (last * (1 + move)).quantize(TICK)
                    self._prices[symbol] = price
                    try:
                        self._venue.admin("POST", "/price", {"symbol": symbol,
                                                             "price": str(price),
                                                             "volume": "5"})
                    except OSError:
                        self.errors += 1
            time.sleep(self._interval_s)

    def resume(self) -> None:
        self._running.set()

    def pause(self) -> None:
        self._running.clear()
        with self._step_lock:
            pass

    def close(self) -> None:
        self._closed.set()
        self._running.clear()
        self._thread.join(5)


def write_config(work: Path, venue: SimVenue, seed: int) -> Path:
    """The engine's config: ccxt broker + Binance stream feed against ``venue``."""
    config = work / "drill-sim.toml"
    symbols = json.dumps(list(SYMBOLS))
    config.write_text(f"""
[engine]
stop_timeout_s = 10

[broker]
type = "ccxt"
exchange = "binance"
rest_url = "{venue.rest_url}"
ws_url = "{venue.ws_url}"
api_key_env = "{KEY_ENV}"
api_secret_env = "{SECRET_ENV}"
timeout_ms = 5000
enable_rate_limit = false
poll_interval_s = 0.5
symbols = {symbols}
quote_currency = "USDT"

[[feeds]]
type = "binance_stream"
ws_url = "{venue.ws_url}"
rest_url = "{venue.rest_url}"
symbols = {symbols}
streams = ["trade"]
stale_after_s = 30

[strategy]
path = "livetrade.drills.crash_sim:SimDrillStrategy"
params = {{ seed = {seed} }}

[resilience]
degrade_to_paper = false
retry_initial_s = 0.2
retry_max_s = 1

[state]
directory = "{work / 'state'}"
account_id = "drill-sim"
checkpoint_interval_s = 0.5
debounce_s = 0.05
reconcile_interval_s = 0
""")
    return config


@dataclass
class SimDrillReport:
    """What the sim drill saw: kills, verified recoveries and every failure, by round."""

    kills: int = 0
    restarts_verified: int = 0
    failures: list[str] = field(default_factory=list)
    differences_seen: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    lost_fills: int = 0
    unjournaled: int = 0
    mismatches: int = 0
    orders_at_venue: int = 0
    fills_at_venue: int = 0
    reports_seen: int = 0
    known_ids: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, Any]:
        return {"ok": self.ok, "kills": self.kills, "restarts_verified": self.restarts_verified,
                "duplicates": self.duplicates, "lost_fills": self.lost_fills,
                "unjournaled_orders": self.unjournaled, "mismatches": self.mismatches,
                "orders_at_venue": self.orders_at_venue, "fills_at_venue": self.fills_at_venue,
                "differences_adopted": dict(self.differences_seen),
                "failures": list(self.failures)}


def wire_id(our_id: str) -> str:
    from livetrade.brokers.ccxt.capabilities import CAPABILITIES

    return CAPABILITIES["binance"].client_order_id(our_id)


def collect_known_ids(state_dir: Path, report: SimDrillReport) -> None:
    """Add every client id the engine's store knows (journal + checkpoint) to the set of
    ids it journaled. Called often, because checkpoints prune the journal."""
    from livetrade.state.store import StateStore

    try:
        store = StateStore.open_existing(state_dir)
    except StateError:
        return  # not created yet
    try:
        entries = store.journal_since(store.journal_first() - 1)
        report.known_ids.update(wire_id(e.client_order_id) for e in entries
                                if e.kind == "intent")
        if store.checkpoint_numbers():
            report.known_ids.update(wire_id(o.client_order_id)
                                    for o in store.load_checkpoint().orders)
    except StateError:
        return  # pruned under us by a concurrent checkpoint: the next pass catches up
    finally:
        store.close()


def compare(state_dir: Path, venue: SimVenue) -> tuple[list[str], dict[str, Any]]:
    """Compare the engine's newest checkpoint with the venue (both quiet); return the
    differences (empty when they agree) and the venue figures."""
    from livetrade.simexchange.store import VenueStore
    from livetrade.state.store import StateStore

    store = StateStore.open_existing(state_dir)
    try:
        checkpoint = store.load_checkpoint()
    finally:
        store.close()
    venue_store = VenueStore(venue.state_dir)
    try:
        snapshot = venue_store.load()
    finally:
        venue_store.close()
    if snapshot is None:
        raise StateError("the simulator has no state yet")
    live = venue.admin("GET", "/state")
    problems: list[str] = []
    booked: set[str] = set(checkpoint.processed_fill_ids.get("recent", []))
    for order in checkpoint.orders:
        booked.update(order.fill_ids)
    lost = [f"{t.symbol.replace('/', '')}:{t.trade_id}" for t in snapshot.trades]
    lost = [fill for fill in lost if fill not in booked]
    if lost:
        problems.append(f"lost fills {lost[:5]} ({len(lost)})")
    balances = {a: Decimal(b["free"]) + Decimal(b["locked"])
                for a, b in live["balances"].items()}
    mine = {p.symbol: p.quantity for p in checkpoint.portfolio.positions}
    for symbol in SYMBOLS:
        base = symbol.split("/")[0]
        # The venue's start balance of the base asset was adopted as a position.
        if mine.get(symbol, Decimal(0)) != balances.get(base, Decimal(0)):
            problems.append(f"position {symbol}: engine {mine.get(symbol, 0)} != venue "
                            f"{balances.get(base, 0)}")
    if checkpoint.portfolio.cash != balances.get("USDT", Decimal(0)):
        problems.append(f"cash: engine {checkpoint.portfolio.cash} != venue "
                        f"{balances.get('USDT')}")
    local_open = {wire_id(o.client_order_id) for o in checkpoint.orders if o.status.is_open}
    venue_open = {str(o["clientOrderId"]) for o in live["open_orders"]}
    if local_open != venue_open:
        problems.append(f"open orders: engine-only {sorted(local_open - venue_open)[:5]}, "
                        f"venue-only {sorted(venue_open - local_open)[:5]}")
    figures = {"orders": [o.client_order_id for o in snapshot.orders],
               "trades": len(snapshot.trades), "lost": lost}
    return problems, figures


def verify_round(state_dir: Path, venue: SimVenue, report: SimDrillReport, round_no: int,
                 *, settle_s: float) -> None:
    """After a recovery, with the market paused: check the reconciliation reports written
    since the last round, then wait (bounded) until the engine's book equals the venue's.
    A live engine needs a moment to book the last arrivals; a lost fill never arrives."""
    from livetrade.state.store import StateStore

    store = StateStore.open_existing(state_dir)
    try:
        reports = store.reports()
    finally:
        store.close()
    for recovery in reports[report.reports_seen:]:
        for difference in recovery.get("reconciliation", {}).get("differences", []):
            kind = difference["kind"]
            report.differences_seen[kind] = report.differences_seen.get(kind, 0) + 1
            if kind not in ALLOWED:
                report.failures.append(f"round {round_no}: recovery found {kind}: "
                                       f"{difference['detail']}")
    report.reports_seen = len(reports)
    deadline = time.monotonic() + settle_s
    while True:
        problems, figures = compare(state_dir, venue)
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    collect_known_ids(state_dir, report)
    counts = Counter(figures["orders"])
    duplicates = sorted(cid for cid, n in counts.items() if n > 1)
    unjournaled = sorted(set(counts) - report.known_ids)
    report.duplicates = sum(counts[cid] - 1 for cid in duplicates)
    report.unjournaled = len(unjournaled)
    report.lost_fills = len(figures["lost"])
    report.orders_at_venue = len(counts)
    report.fills_at_venue = figures["trades"]
    if duplicates:
        problems.append(f"client ids sent twice: {duplicates[:5]}")
    if unjournaled:
        problems.append(f"venue orders never journaled: {unjournaled[:5]}")
    if problems:
        report.mismatches += 1
        report.failures.extend(f"round {round_no}: {p}" for p in problems)
    else:
        report.restarts_verified += 1
