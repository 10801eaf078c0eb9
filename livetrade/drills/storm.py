"""Shared pieces of the chaos drill and the simulator resilience tests: a busy strategy,
an engine config pointed at a simulator, an event tally and the end-of-run verdict.

Why one module: the drill (``python -m livetrade.drills.chaos``) and
``tests/test_resilience_sim.py`` must judge a run by the same rules — no client order id
twice at the venue, every order final and equal on both sides, breaker and mode changes
counted from the engine's own ``SystemErrorEvent`` stream — or the drill proves something
the tests do not.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from livetrade.engine import LiveTradingEngine
from livetrade.events import MarketData, SystemErrorEvent
from livetrade.latency import LatencyRecorder
from livetrade.orders import OrderStatus
from livetrade.strategy import Strategy

# The simulator's order status -> ours, for an order that is over at the venue.
VENUE_FINAL = {"FILLED": OrderStatus.FILLED, "CANCELED": OrderStatus.CANCELED,
               "EXPIRED": OrderStatus.EXPIRED, "REJECTED": OrderStatus.REJECTED}


class StormStrategy(Strategy):
    """A busy order flow for fault drills: market orders both ways, resting limits, cancels.

    Position stays small (a sell follows a buy) so the venue never refuses for lack of
    funds: every refusal a run sees comes from the faults. ``ticks`` counts market data
    with its arrival time, so a test can show the strategy kept getting data throughout.
    """

    def __init__(self, seed: int = 1, quantity: str = "0.001", order_rate: float = 0.3
                 ) -> None:
        self._rng = random.Random(seed)
        self._quantity = Decimal(quantity)
        self._order_rate = order_rate
        self._next_side = "buy"
        self.tick_times: list[float] = []
        self.quiet = False
        """Set at the end of a run: keep counting ticks, send and cancel nothing."""

    def on_market_data(self, event: MarketData) -> None:
        self.tick_times.append(time.monotonic())
        if self.quiet:
            return
        roll = self._rng.random()
        if roll >= self._order_rate:
            return
        side, self._next_side = self._next_side, ("sell" if self._next_side == "buy"
                                                  else "buy")
        if roll < self._order_rate * 0.5:
            self.ctx.submit_order(event.symbol, side, self._quantity)
        elif roll < self._order_rate * 0.8:
            offset = Decimal("0.9995") if side == "buy" else Decimal("1.0005")
            self.ctx.submit_order(event.symbol, side, self._quantity, "limit",
                                  limit_price=(event.price * offset).quantize(Decimal("0.01")))
        else:
            open_orders = self.ctx.open_orders()
            if open_orders:
                self.ctx.cancel_order(self._rng.choice(open_orders).client_order_id)

    def ticks_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.tick_times if start <= t < end)


def engine_toml(rest_url: str, ws_url: str, *, resilience: dict[str, Any],
                strategy_params: dict[str, Any] | None = None, poll_interval_s: float = 0.2,
                timeout_ms: int = 2000, reconcile_interval_s: float = 0,
                reconcile_grace_s: float = 30, state_directory: str | None = None) -> str:
    """An engine config against the simulator at ``rest_url``/``ws_url`` (ccxt binance
    broker, Binance stream feed, :class:`StormStrategy`); ``resilience`` becomes the
    ``[resilience]`` table. Credentials come from ``LIVETRADE_API_KEY``/``_SECRET``.
    ``reconcile_interval_s`` 0: reconcile only when asked (tests ask).
    ``state_directory``: persist the engine's state there (checkpoints, journal)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        return str(v)

    params = ", ".join(f"{k} = {value(v)}" for k, v in (strategy_params or {}).items())
    lines = "\n".join(f"{k} = {value(v)}" for k, v in resilience.items())
    state_lines = ("" if state_directory is None else
                   f'directory = "{state_directory}"\naccount_id = "sim"\n')
    return f"""
[engine]
market_data_policy = "conflate"
conflate_depth = 10000
stop_timeout_s = 10
status_interval_s = 60

[broker]
type = "ccxt"
exchange = "binance"
rest_url = "{rest_url}"
ws_url = "{ws_url}"
timeout_ms = {timeout_ms}
enable_rate_limit = false
poll_interval_s = {poll_interval_s}
symbols = ["BTC/USDT"]
quote_currency = "USDT"

[[feeds]]
type = "binance_stream"
ws_url = "{ws_url}"
rest_url = "{rest_url}"
symbols = ["BTC/USDT"]
streams = ["trade"]
reconnect_initial_s = 0.1
reconnect_max_s = 1
ping_interval_s = 2
ping_timeout_s = 1
resync_timeout_s = 1

[strategy]
path = "livetrade.drills.storm:StormStrategy"
params = {{ {params} }}

[risk]
max_order_quantity = "1"
max_order_notional = "50000"
max_position_quantity = "1"
max_open_orders = 20
max_orders_per_second = 5

[state]
reconcile_interval_s = {reconcile_interval_s}
reconcile_grace_s = {reconcile_grace_s}
{state_lines}
[resilience]
{lines}

[logging]
format = "json"
level = "error"
"""


def latency_window_us(recorder: LatencyRecorder, start: int, end: int) -> list[float]:
    """The dispatcher latencies (microseconds) of events ``start`` to ``end`` (counts),
    sorted; the part of that window still in the recorder's ring."""
    samples = recorder.samples()
    capacity = len(samples) if recorder.count > len(samples) else None
    if capacity is None:
        window = samples[start:end]
    else:  # wrapped: slot i % capacity holds event i for the last `capacity` events
        first = max(start, recorder.count - capacity)
        window = [samples[i % capacity] for i in range(first, min(end, recorder.count))]
    return sorted(ns / 1000.0 for ns in window)


def percentile(sorted_values: list[float], q: float) -> float:
    """``q`` (0..1) of already sorted values; 0.0 for none."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class Tally:
    """What the engine said about itself: breaker transitions and mode changes, in order.

    Subscribed to the dispatcher, so it runs on the dispatcher thread and only appends.
    """

    breaker: list[tuple[str, str, str]] = field(default_factory=list)  # group, old, new
    modes: list[tuple[str, str]] = field(default_factory=list)  # previous, mode
    other: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, engine: LiveTradingEngine) -> None:
        engine.dispatcher.subscribe(SystemErrorEvent, self.on_event, "storm.tally")

    def on_event(self, event: SystemErrorEvent) -> None:
        with self._lock:
            if event.error_type == "BreakerStateChange":
                self.breaker.append((event.context["group"], event.context["old"],
                                     event.context["new"]))
            elif event.error_type == "ModeChange":
                self.modes.append((event.context["previous"], event.context["mode"]))
            else:
                self.other[event.error_type] += 1

    def breaker_counts(self) -> dict[str, Counter[str]]:
        """``{group: Counter({"open": n, "half-open": n, "closed": n})}``."""
        with self._lock:
            counts: dict[str, Counter[str]] = {}
            for group, _, new in self.breaker:
                counts.setdefault(group, Counter())[new] += 1
            return counts


@dataclass
class Verdict:
    """The end-of-run comparison of the engine's book with the venue's."""

    venue_orders: int
    venue_fills: int
    duplicates: list[str]
    mismatches: list[str]
    shadow_at_venue: list[str]

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.mismatches or self.shadow_at_venue)


def judge(engine: LiveTradingEngine, venue_orders: list[dict[str, Any]],
          venue_trades: list[dict[str, Any]],
          venue_balances: dict[str, tuple[Decimal, Decimal]]) -> Verdict:
    """Compare order by order: each venue order is final on both sides with the same
    status and filled quantity; each local live order is final, and unfilled if the venue
    never saw it; no client id twice; no
    shadow order at the venue; positions and cash equal the venue's balances."""
    ids = [o["clientOrderId"] for o in venue_orders]
    counts = Counter(ids)
    duplicates = sorted(cid for cid, n in counts.items() if n > 1)
    mismatches: list[str] = []
    local = {o.client_order_id: o for o in engine.orders.all_orders()}
    shadow_at_venue = sorted(cid for cid in ids if cid in local and local[cid].shadow)
    for order in venue_orders:
        cid = order["clientOrderId"]
        want = VENUE_FINAL.get(order["status"])
        if want is None:
            mismatches.append(f"{cid}: still {order['status']} at the venue")
            continue
        mine = local.get(cid)
        if mine is None:
            mismatches.append(f"{cid}: at the venue ({order['status']}) but unknown locally")
            continue
        if mine.status is not want or mine.filled_quantity != Decimal(order["executedQty"]):
            mismatches.append(f"{cid}: venue {order['status']} {order['executedQty']}, "
                              f"engine {mine.status} {mine.filled_quantity}")
    venue_ids = set(ids)
    for cid, mine in local.items():
        if mine.shadow:
            continue
        if not mine.status.is_terminal:
            mismatches.append(f"{cid}: still {mine.status} locally")
        elif cid not in venue_ids and mine.filled_quantity != 0:
            # Never at the venue: refused, or lost to a fault and closed by reconciliation
            # (canceled) - either way it cannot have filled.
            mismatches.append(f"{cid}: filled {mine.filled_quantity} locally but never "
                              "at the venue")
    status = engine.status()
    btc = sum(venue_balances.get("BTC", (Decimal(0), Decimal(0))), Decimal(0))
    usdt = sum(venue_balances.get("USDT", (Decimal(0), Decimal(0))), Decimal(0))
    if status.positions.get("BTC/USDT", Decimal(0)) != btc:
        mismatches.append(f"position: engine {status.positions.get('BTC/USDT')} venue {btc}")
    if status.cash != usdt:
        mismatches.append(f"cash: engine {status.cash} venue {usdt}")
    return Verdict(len(venue_orders), len(venue_trades), duplicates, mismatches,
                   shadow_at_venue)


def short_grace(engine: LiveTradingEngine, grace_s: float = 1.0) -> None:
    """Let reconciliation settle an order lost to a fault after ``grace_s`` instead of the
    default 30 s, which would outlast a test (``[state]`` has no knob for it)."""
    engine.reconciler.settings = replace(engine.reconciler.settings, grace_s=grace_s)


def settle(engine: LiveTradingEngine, venue_open_orders: Callable[[], list[Any]],
           timeout_s: float = 20.0) -> bool:
    """End a run: stop new orders (the kill switch cancels the open ones) and wait until
    neither side has an open order. An order whose submit stayed ambiguous (venue and
    lookup both failed) stays open locally until a reconciliation finds it missing at the
    venue, so one is requested every second. Then one last reconciliation. Blocks."""
    if isinstance(engine.strategy, StormStrategy):
        # Its cancels would keep touching orders lost to faults, and reconciliation only
        # closes an order that has not changed for grace_s.
        engine.strategy.quiet = True
    engine.engage_kill_switch("run ends: settling")
    deadline = time.monotonic() + timeout_s
    # First let the kill switch's cancels finish: a snapshot taken while a cancel is in
    # flight and applied after it can bring the canceled order back (a race reported
    # with the chaos drill's findings), so reconciliation waits for the quiet.
    asked = time.monotonic() + min(5.0, timeout_s / 4)
    while time.monotonic() < deadline:
        if engine.orders.open_orders() and time.monotonic() < asked:
            time.sleep(0.05)
            continue
        if time.monotonic() - asked > 1:
            asked = time.monotonic()
            engine.reconcile_now("run ends")
        if not engine.orders.open_orders() and not venue_open_orders():
            # Reconciliation leaves out what moved within grace_s (in flight is not
            # wrong): wait that out, then one last snapshot, applied before returning.
            time.sleep(engine.reconciler.settings.grace_s + 0.5)
            runs = engine.reconciler.runs
            engine.reconcile_now("run ends: final")
            while engine.reconciler.runs <= runs and time.monotonic() < deadline + 10:
                time.sleep(0.05)
            return True
        time.sleep(0.05)
    return False
