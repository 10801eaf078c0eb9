"""The bad-input drill's cases other than the feed (see :mod:`livetrade.drills.bad_input`).

Each ``check_*`` takes a work directory, a scale and a seeded ``Random`` and returns
``(bad inputs, handled, failures)``: *handled* counts inputs that became a typed error or
an event as promised; a failure says what broke the promise.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import diskcache
from pydantic import ValidationError

from livetrade.brokers.paper import PaperBroker
from livetrade.clock import ManualClock
from livetrade.config import load_config
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import ConfigError, InvalidOrderError, StateError
from livetrade.events import (
    FeedError,
    MarketData,
    OrderFill,
    OrderReject,
    ScheduledTrigger,
    SystemErrorEvent,
)
from livetrade.feeds.replay import ReplayFeed
from livetrade.orders import ClientOrderIdGenerator
from livetrade.state.manager import StateManager, StateSettings
from livetrade.state.records import SCHEMA_VERSION
from livetrade.state.store import StateStore
from livetrade.strategy import Strategy

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
BAD_NUMBERS = ("NaN", "Infinity", "-Infinity", "-1", "0", "1e999", "abc", "", "1e-999999")
Outcome = tuple[int, int, list[str]]


def _tick(symbol: str = "A", price: Decimal = Decimal(100), seconds: int = 0) -> MarketData:
    return MarketData(symbol=symbol, timestamp=T0 + timedelta(seconds=seconds), price=price,
                      volume=Decimal(1))


# --------------------------------------------------------------------------- events
def check_events(work: Path, scale: int, rng: random.Random) -> Outcome:
    """Events cannot even be built from bad numbers: validation refuses them."""
    bad = handled = 0
    failures: list[str] = []
    builders: list[tuple[str, dict[str, Any]]] = []
    for value in BAD_NUMBERS:
        builders.append(("MarketData.price", {"price": value}))
        if value not in ("0", "1e-999999"):  # a zero or tiny volume is a volume
            builders.append(("MarketData.volume", {"volume": value}))
        builders.append(("OrderFill.fill_price", {"fill_price": value}))
        builders.append(("OrderFill.fill_amount", {"fill_amount": value}))
    for label, change in builders * scale:
        bad += 1
        try:
            if label.startswith("MarketData"):
                MarketData(**{"symbol": "A", "timestamp": T0, "price": "1", **change})
            else:
                OrderFill(**{"order_id": "o", "client_order_id": "c", "symbol": "A",
                             "side": "buy", "fill_price": "1", "fill_amount": "1",
                             "timestamp": T0, "fill_id": "f", **change})
        except ValidationError:
            handled += 1
            continue
        failures.append(f"{label}={change} was accepted")
    return bad, handled, failures


# --------------------------------------------------------------------------- orders
class _BadOrders(Strategy):
    """Submits every kind of malformed order on the first tick; records what came back."""

    def __init__(self) -> None:
        self.typed_errors = 0
        self.rejects = 0
        self.sent = 0

    def on_market_data(self, event: MarketData) -> None:
        if self.sent:
            return
        attempts: list[dict[str, Any]] = []
        for value in (*BAD_NUMBERS, "1e20", 1.5):
            attempts.append({"quantity": value})
            attempts.append({"quantity": "1", "order_type": "limit", "limit_price": value})
            attempts.append({"quantity": "1", "order_type": "stop", "stop_price": value})
        attempts += [{"quantity": "1", "side": "sideways"}, {"quantity": "1", "symbol": ""},
                     {"quantity": "1", "order_type": "iceberg"},
                     {"quantity": "1", "order_type": "limit"}]  # limit without a price
        for attempt in attempts:
            self.sent += 1
            args = {"symbol": "A", "side": "buy", **attempt}
            try:
                self.ctx.submit_order(args.pop("symbol"), args.pop("side"),
                                      args.pop("quantity"), **args)
            except InvalidOrderError:
                self.typed_errors += 1

    def on_reject(self, reject: OrderReject) -> None:
        self.rejects += 1


def check_orders(work: Path, scale: int, rng: random.Random) -> Outcome:
    failures: list[str] = []
    strategy = _BadOrders()
    engine = LiveTradingEngine(strategy, clock=ManualClock(T0))
    engine.start_sync()
    for n in range(scale):
        engine.process(_tick(seconds=n))
    report = engine.stop_sync()
    handled = strategy.typed_errors + strategy.rejects
    if handled != strategy.sent:
        failures.append(f"{strategy.sent} bad orders, {strategy.typed_errors} typed errors + "
                        f"{strategy.rejects} rejects")
    if engine.portfolio.snapshot().positions:
        failures.append(f"a bad order traded: {engine.portfolio.snapshot().positions}")
    if not report.clean:
        failures.append("the engine did not stop cleanly")
    return strategy.sent, handled, failures


# --------------------------------------------------------------------------- csv rows
def check_csv_rows(work: Path, scale: int, rng: random.Random) -> Outcome:
    failures: list[str] = []
    rows = ["timestamp,symbol,price,volume"]
    good = bad = 0
    for n in range(20 * scale):
        when = (T0 + timedelta(seconds=n)).isoformat()
        if rng.random() < 0.5:
            rows.append(f"{when},A,{100 + n},1")
            good += 1
            continue
        bad += 1
        rows.append(rng.choice([
            f"{when},A,{rng.choice(BAD_NUMBERS)},1", f"{when},A,100,-3", f"{when},,100,1",
            "not-a-time,A,100,1", f"{when},A", f"{when},A,100,1,extra,columns",
            "\x00\x01\x02", f"{when},A,100,{rng.choice(BAD_NUMBERS[:3])}"]))
    path = work / "ticks.csv"
    path.write_text("\n".join(rows) + "\n")
    for mode in ("skip", "fail"):
        events: list[Any] = []
        feed = ReplayFeed(path, on_bad_row=mode)
        feed.start(events.append)
        if not feed.join(30):
            failures.append(f"{mode}: the replay did not finish")
        reported = [e for e in events if isinstance(e, FeedError)]
        ticks = [e for e in events if isinstance(e, MarketData)]
        if mode == "skip":
            if len(reported) != bad or len(ticks) != good:
                failures.append(f"skip: {len(reported)} reported of {bad} bad, "
                                f"{len(ticks)} of {good} good delivered")
            if any("line" not in str(e.context) and "line" not in e.message for e in reported):
                failures.append("skip: a bad row was reported without its line")
        elif bad and (len(reported) != 1 or reported[0].severity.value != "critical"):
            failures.append(f"fail: expected one critical FeedError, got {len(reported)}")
    return bad, bad if not failures else 0, failures


# --------------------------------------------------------------------------- checkpoints
class _Counter(Strategy):
    def __init__(self) -> None:
        self.bars = 0

    def on_market_data(self, event: MarketData) -> None:
        self.bars += 1
        if self.bars == 2:
            self.ctx.submit_order(event.symbol, "buy", 1)

    def get_state(self) -> dict[str, Any]:
        return {"bars": self.bars}

    def set_state(self, state: dict[str, Any]) -> None:
        self.bars = int(state["bars"])


def _engine(directory: Path, broker: PaperBroker, strict: bool,
            account: str = "drill") -> LiveTradingEngine:
    clock = ManualClock(T0)
    settings = StateSettings(directory=directory, account_id=account, strategy_id="counter",
                             fall_back_to_previous=not strict)
    return LiveTradingEngine(_Counter(), broker=broker, clock=clock,
                             settings=EngineSettings(market_data_policy="unbounded"),
                             order_ids=ClientOrderIdGenerator("d"),
                             state=StateManager(settings, clock))


def _good_store(directory: Path) -> PaperBroker:
    broker = PaperBroker(clock=ManualClock(T0))
    engine = _engine(directory, broker, strict=True)
    engine.start_sync()
    engine.checkpoint("first")
    engine.process(_tick(seconds=1), _tick(seconds=2))
    engine.stop_sync()
    return broker


DAMAGE: dict[str, Any] = {
    "truncated checkpoint": lambda text: text[: len(text) // 2],
    "edited bytes": lambda text: text.replace('"cash":"', '"cash":"x'),
    "future schema": lambda text: text.replace(f'"schema_version":{SCHEMA_VERSION}',
                                               '"schema_version":99'),
    "another account's checkpoint": lambda text: text.replace('"account_id":"drill"',
                                                              '"account_id":"other"'),
}


def check_checkpoints(work: Path, scale: int, rng: random.Random) -> Outcome:
    failures: list[str] = []
    bad = handled = 0
    for name, damage in DAMAGE.items():
        directory = work / name.replace(" ", "_").replace("'", "")
        broker = _good_store(directory)
        with diskcache.Cache(str(directory), eviction_policy="none") as cache:
            key = "checkpoint:0000000002"
            cache.set(key, damage(cache.get(key)))
        bad += 1
        strict = _engine(directory, broker, strict=True)
        try:
            strict.start_sync()
            failures.append(f"{name}: loaded without complaint")
        except StateError:
            if strict.portfolio.snapshot().positions or strict.strategy.bars:  # type: ignore[attr-defined]
                failures.append(f"{name}: half-loaded after the StateError")
            else:
                handled += 1
    for name in ("truncated database file", "another account's store"):
        directory = work / name.replace(" ", "_").replace("'", "")
        broker = _good_store(directory)
        if name == "truncated database file":
            db = directory / "cache.db"
            db.write_bytes(db.read_bytes()[:100])
        bad += 1
        try:
            if name == "another account's store":
                _engine(directory, broker, strict=True, account="someone-else").start_sync()
            else:
                StateStore(directory, account_id="drill", strategy_id="counter"
                           ).load_checkpoint()
            failures.append(f"{name}: opened without complaint")
        except StateError:
            handled += 1
    return bad, handled, failures


# --------------------------------------------------------------------------- configs
BAD_CONFIGS = {
    "wrong types": '[engine]\nstop_timeout_s = "soon"\n[broker]\ninitial_cash = "lots"\n',
    "unknown keys": "[engine]\ncolour = 'blue'\n[brokr]\ntype = 'paper'\n",
    "broken toml": "[engine\nstop_timeout_s = 1\n",
    "negative money": "[broker]\ninitial_cash = -5\n",
    "unknown broker": "[broker]\ntype = 'moonbase'\n",
    "bad feed": "[[feeds]]\ntype = 'simulated'\nsymbols = []\nrate_hz = -1\n",
    "nan": "[broker]\ninitial_cash = nan\n",
    "binary": "\x00\xff\x10garbage",
}


def check_configs(work: Path, scale: int, rng: random.Random) -> Outcome:
    failures: list[str] = []
    handled = 0
    for name, text in BAD_CONFIGS.items():
        path = work / f"{name.replace(' ', '_')}.toml"
        path.write_text(text, encoding="latin-1")
        try:
            load_config(path)
            failures.append(f"{name}: accepted")
        except ConfigError as exc:
            if not exc.problems or not all(str(path) in p or ":" in p for p in exc.problems):
                failures.append(f"{name}: ConfigError without located problems: {exc}")
            else:
                handled += 1
        except Exception as exc:  # noqa: BLE001 - an untyped error is the failure we report
            failures.append(f"{name}: untyped {type(exc).__name__}: {exc}")
    return len(BAD_CONFIGS), handled, failures


# --------------------------------------------------------------------------- strategy
class _Raiser(Strategy):
    """Raises in every callback, after doing something that causes the next one."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def _boom(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        raise RuntimeError(f"strategy bug in {name}")

    def on_start(self) -> None:
        self._boom("on_start")

    def on_market_data(self, event: MarketData) -> None:
        self.ctx.submit_order(event.symbol, "buy", 1)
        self.ctx.submit_order(event.symbol, "buy", 0)  # comes back in on_reject
        self._boom("on_market_data")

    def on_fill(self, fill: OrderFill) -> None:
        self._boom("on_fill")

    def on_reject(self, reject: OrderReject) -> None:
        self._boom("on_reject")

    def on_schedule(self, trigger: ScheduledTrigger) -> None:
        self._boom("on_schedule")

    def on_error(self, error: SystemErrorEvent) -> None:
        self._boom("on_error")

    def get_state(self) -> dict[str, Any]:
        raise RuntimeError("strategy bug in get_state")

    def on_stop(self) -> None:
        self._boom("on_stop")


def check_strategy(work: Path, scale: int, rng: random.Random) -> Outcome:
    failures: list[str] = []
    strategy = _Raiser()
    engine = LiveTradingEngine(strategy, clock=ManualClock(T0))
    engine.start_sync()
    ticks = 10 * scale
    for n in range(ticks):
        engine.process(_tick(seconds=n))
    trigger = ScheduledTrigger(trigger_type="custom", name="t", scheduled_time=T0,
                               actual_time=T0)
    engine.process(trigger)
    report = engine.stop_sync()
    raised = sum(strategy.calls.values())
    reported = engine.status().handler_errors
    if strategy.calls.get("on_market_data") != ticks:
        failures.append(f"on_market_data ran {strategy.calls.get('on_market_data')} of "
                        f"{ticks} times")
    for name in ("on_start", "on_fill", "on_reject", "on_schedule", "on_error", "on_stop"):
        if not strategy.calls.get(name):
            failures.append(f"{name} never ran")
    if reported < raised - strategy.calls.get("on_error", 0):
        failures.append(f"{raised} strategy failures, {reported} reported")
    if engine.portfolio.position("A") != ticks:
        failures.append(f"orders lost: position {engine.portfolio.position('A')} of {ticks}")
    if not report.clean:
        failures.append("the engine did not stop cleanly")
    return raised, raised if not failures else 0, failures


__all__ = ["check_checkpoints", "check_configs", "check_csv_rows",
           "check_events", "check_orders", "check_strategy"]
