"""Crash-safe state: checkpoints round-trip, the journal is written ahead, restore replays it,
reconciliation applies its policy, and bad stores fail loudly without half-loading."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kit import T0, RecordingPaperBroker, at, manual_clock, md

from livetrade.brokers.paper import PaperBrokerConfig
from livetrade.clock import ManualClock
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import StateError
from livetrade.events import OrderFill, Side, SystemErrorEvent
from livetrade.orders import ClientOrderIdGenerator, OrderStatus
from livetrade.state.manager import StateManager, StateSettings
from livetrade.state.reconcile import plan_reconciliation
from livetrade.state.records import SCHEMA_VERSION
from livetrade.state.store import StateStore
from livetrade.strategy import Strategy

ROOT = Path(__file__).resolve().parent.parent


class Trader(Strategy):
    """Trades on instructions queued by the test; keeps a counter as its own state."""

    def __init__(self) -> None:
        self.todo: list[dict[str, Any]] = []
        self.bars = 0
        self.errors: list[SystemErrorEvent] = []

    def on_market_data(self, event: Any) -> None:
        self.bars += 1
        while self.todo:
            action = self.todo.pop(0)
            if action.get("cancel"):
                for order in self.ctx.open_orders():
                    self.ctx.cancel_order(order.client_order_id)
            else:
                self.ctx.submit_order(**action)

    def on_error(self, error: SystemErrorEvent) -> None:
        self.errors.append(error)

    def get_state(self) -> dict[str, Any]:
        return {"bars": self.bars}

    def set_state(self, state: dict[str, Any]) -> None:
        self.bars = int(state["bars"])


def engine_on(directory: Path, broker: RecordingPaperBroker, clock: ManualClock,
              policy: str = "adopt_broker", **overrides: Any) -> tuple[LiveTradingEngine, Trader]:
    strategy = Trader()
    settings = StateSettings(directory=directory, account_id="acct", strategy_id="trader",
                             reconcile_policy=policy, **overrides)  # type: ignore[arg-type]
    engine = LiveTradingEngine(strategy, broker=broker, clock=clock,
                               settings=EngineSettings(market_data_policy="unbounded"),
                               order_ids=ClientOrderIdGenerator("s"),
                               state=StateManager(settings, clock))
    return engine, strategy


def book(engine: LiveTradingEngine) -> tuple[Any, ...]:
    return engine.portfolio.snapshot(), engine.orders.all_orders(), engine.orders.ids.next_sequence


def test_a_restart_restores_book_orders_ids_and_strategy_state(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(PaperBrokerConfig(commission_bps=Decimal(2)), clock)
    first, strategy = engine_on(tmp_path, broker, clock)
    first.start_sync()
    strategy.todo += [{"symbol": "A", "side": "buy", "quantity": 3},
                      {"symbol": "A", "side": "sell", "quantity": 1, "order_type": "limit",
                       "limit_price": 130}]
    first.process(md("A", 100, ts=at(1)), md("A", 101, ts=at(2)))
    first.stop_sync()
    before = book(first)

    second, restored = engine_on(tmp_path, broker, clock)
    second.start_sync()
    assert book(second) == before
    assert restored.bars == 2
    assert second.recovery is not None and second.recovery.reconciliation["clean"]
    # Trading goes on where it left off: the resting limit fills, new ids continue.
    strategy2_order = second.context.buy("A", 1)
    assert strategy2_order == "s-3"
    second.process(md("A", 131, ts=at(3)))
    assert second.portfolio.position("A") == Decimal(3)
    second.stop_sync()


@settings(max_examples=25)
@given(st.lists(st.tuples(st.sampled_from(["buy", "sell", "limit", "cancel", "bar"]),
                          st.integers(1, 5), st.integers(90, 110)), max_size=25))
def test_any_sequence_checkpointed_and_restored_is_identical(
        steps: list[tuple[str, int, int]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        clock = manual_clock()
        broker = RecordingPaperBroker(PaperBrokerConfig(commission_bps=Decimal(1)), clock)
        engine, strategy = engine_on(Path(tmp), broker, clock)
        engine.start_sync()
        t = 1
        engine.process(md("X", 100, ts=at(0)))
        for kind, qty, price in steps:
            if kind in ("buy", "sell"):
                strategy.todo.append({"symbol": "X", "side": kind, "quantity": qty})
            elif kind == "limit":
                strategy.todo.append({"symbol": "X", "side": "buy", "quantity": qty,
                                      "order_type": "limit", "limit_price": price})
            elif kind == "cancel":
                strategy.todo.append({"cancel": True})
            engine.process(md("X", price, ts=at(t)))
            t += 1
        engine.checkpoint("test")
        before = book(engine)
        restored, _ = engine_on(Path(tmp), broker, clock)
        restored.start_sync()
        assert book(restored) == before


def test_an_intent_journaled_before_a_crash_is_never_sent_again(tmp_path: Path) -> None:
    """The crash came after the intent was written and before the broker saw the order:
    on restart the order is known (outcome unknown), looked up at the broker, found
    missing, and closed. It is never re-submitted."""
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    store = StateStore(tmp_path, account_id="acct", strategy_id="trader")
    store.append_journal("intent", "s-1", {
        "request": {"symbol": "A", "side": "buy", "order_type": "market", "quantity": "2",
                    "limit_price": None, "stop_price": None, "time_in_force": "GTC"},
        "created_at": T0.isoformat()})
    store.close()
    engine, _strategy = engine_on(tmp_path, broker, clock)
    engine.start_sync()
    assert engine.recovery is not None and engine.recovery.intents_restored == ["s-1"]
    order = engine.context.order("s-1")
    assert order is not None and order.status is OrderStatus.CANCELED
    assert broker.submitted == []
    assert engine.context.buy("A", 1) == "s-2"  # the journaled id is never issued again
    kinds = [d["kind"] for d in engine.recovery.reconciliation["differences"]]
    assert kinds == ["order_missing_at_broker"]


def test_an_intent_that_did_reach_the_broker_is_matched_not_resent(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    first, strategy = engine_on(tmp_path, broker, clock)
    first.start_sync()
    strategy.todo.append({"symbol": "A", "side": "buy", "quantity": 1, "order_type": "limit",
                          "limit_price": 50})
    first.process(md("A", 100, ts=at(1)))
    # "kill -9": no stop_sync, no final checkpoint; only the journal knows the order.
    second, _ = engine_on(tmp_path, broker, clock)
    second.start_sync()
    order = second.context.order("s-1")
    assert order is not None and order.is_open
    assert broker.submitted == ["s-1"]
    assert second.recovery is not None and second.recovery.reconciliation["clean"]


def test_policy_halt_refuses_new_orders_and_warn_changes_nothing(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    first, strategy = engine_on(tmp_path / "h", broker, clock)
    first.start_sync()
    strategy.todo.append({"symbol": "A", "side": "buy", "quantity": 2})
    first.process(md("A", 100, ts=at(1)))
    first.stop_sync()
    fresh = RecordingPaperBroker(clock=clock)  # a venue that forgot everything
    halted, halted_strategy = engine_on(tmp_path / "h", fresh, clock, policy="halt")
    halted.start_sync()
    assert halted.kill_switch.engaged
    assert halted.portfolio.position("A") == 2  # halt changes nothing
    halted.context.buy("A", 1)
    halted.process(md("A", 100, ts=at(2)))
    assert fresh.submitted == []
    assert any(e.error_type == "trading_halted" for e in halted_strategy.errors)
    halted.stop_sync()

    warned, _ = engine_on(tmp_path / "h", RecordingPaperBroker(clock=clock), clock,
                          policy="warn")
    warned.start_sync()
    assert not warned.kill_switch.engaged and warned.portfolio.position("A") == 2


def test_policy_adopt_broker_makes_the_book_match_the_broker(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    first, strategy = engine_on(tmp_path, broker, clock)
    first.start_sync()
    strategy.todo.append({"symbol": "A", "side": "buy", "quantity": 2})
    first.process(md("A", 100, ts=at(1)))
    first.stop_sync()
    adopted, _ = engine_on(tmp_path, RecordingPaperBroker(clock=clock), clock)
    adopted.start_sync()
    assert adopted.portfolio.position("A") == 0
    assert adopted.portfolio.cash() == Decimal(100_000)


def test_a_stale_checkpoint_is_restored_with_a_warning(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    first, _ = engine_on(tmp_path, broker, clock)
    first.start_sync()
    first.stop_sync()

    def two_hours_ago(text: str) -> str:  # staleness is measured in wall time
        data = json.loads(text)
        data["written_at"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
        return json.dumps(data)

    _rewrite(tmp_path, 1, two_hours_ago)
    clock.advance_to(T0 + timedelta(hours=2))
    second, strategy = engine_on(tmp_path, broker, clock, stale_checkpoint_s=3600)
    second.start_sync()
    second.process(md("A", 100, ts=T0 + timedelta(hours=2, seconds=1)))
    assert second.recovery is not None and second.recovery.stale
    assert [e.error_type for e in strategy.errors if e.error_type != "fills_unavailable"] == [
        "stale_checkpoint"]


def _two_checkpoints(tmp_path: Path) -> tuple[ManualClock, RecordingPaperBroker]:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    engine, strategy = engine_on(tmp_path, broker, clock)
    engine.start_sync()
    engine.checkpoint("first")
    strategy.todo.append({"symbol": "A", "side": "buy", "quantity": 1})
    engine.process(md("A", 100, ts=at(1)))
    engine.stop_sync()
    return clock, broker


def _rewrite(tmp_path: Path, number: int, change: Any) -> None:
    import diskcache

    with diskcache.Cache(str(tmp_path), eviction_policy="none") as cache:
        key = f"checkpoint:{number:010d}"
        cache.set(key, change(cache.get(key)))


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],                      # truncated value
    lambda text: text.replace('"cash":"', '"cash":"x'),       # edited bytes
    lambda text: text.replace(f'"schema_version":{SCHEMA_VERSION}',
                              '"schema_version":99'),  # future schema
    lambda text: text.replace('"account_id":"acct"', '"account_id":"other"'),  # foreign
])
def test_a_bad_newest_checkpoint_is_refused_or_skipped_never_half_loaded(
        tmp_path: Path, damage: Any) -> None:
    clock, broker = _two_checkpoints(tmp_path)
    _rewrite(tmp_path, 2, damage)
    strict, _ = engine_on(tmp_path, broker, clock, fall_back_to_previous=False)
    with pytest.raises(StateError, match="checkpoint 2"):
        strict.start_sync()
    assert strict.portfolio.snapshot().positions == {}  # nothing was loaded
    lenient, _strategy = engine_on(tmp_path, broker, clock)
    lenient.start_sync()
    assert lenient.recovery is not None and lenient.recovery.checkpoint == 1
    assert lenient.recovery.fallback_problems
    # The journal after checkpoint 1 still carries the fill: the book is complete.
    assert lenient.portfolio.position("A") == 1


def test_a_store_of_another_account_is_refused(tmp_path: Path) -> None:
    StateStore(tmp_path, account_id="someone-else", strategy_id="trader").close()
    with pytest.raises(StateError, match="belongs to account"):
        engine_on(tmp_path, RecordingPaperBroker(), manual_clock())


def test_a_truncated_database_file_is_a_state_error(tmp_path: Path) -> None:
    _two_checkpoints(tmp_path)
    db = tmp_path / "cache.db"
    db.write_bytes(db.read_bytes()[:100])
    with pytest.raises(StateError):
        store = StateStore(tmp_path, account_id="acct", strategy_id="trader")
        store.load_checkpoint()


def test_reconciliation_reports_every_kind_of_difference() -> None:
    from kit import request

    from livetrade.brokers.base import BrokerOrder
    from livetrade.events import trusted

    fill = trusted(OrderFill, order_id="b1", client_order_id="s-1", symbol="A", side=Side.BUY,
                   fill_price=Decimal(10), fill_amount=Decimal(2), commission=Decimal(0),
                   timestamp=T0, fill_id="F1")
    local = LiveTradingEngine(Strategy())
    local.orders.attach_router(_NullRouter())
    kept = local.orders.submit(request("B", Side.BUY, 1))
    plan = plan_reconciliation(
        policy="adopt_broker", local_open=local.orders.open_orders(), booked_fill_ids=set(),
        local_positions={"C": Decimal(5)}, local_cash=Decimal(100),
        broker_open=[BrokerOrder("x-9", "b9", request("D", Side.SELL, 3), Decimal(0))],
        broker_fills=[fill], broker_positions={"A": Decimal(2)}, broker_cash=Decimal(80))
    kinds = sorted(d.kind for d in plan.differences)
    assert kinds == ["fill_missed", "order_missing_at_broker", "order_unknown_locally",
                     "position_mismatch"]
    assert plan.corrections.fills_to_book == (fill,)
    assert plan.corrections.orders_to_close == (kept,)
    assert plan.corrections.positions_to_set == {"C": Decimal(0)}
    assert plan.corrections.cash_to_set is None  # 100 - 20 = 80: cash agrees after the fill
    warn = plan_reconciliation(
        policy="warn", local_open=(), booked_fill_ids=set(), local_positions={},
        local_cash=Decimal(1), broker_open=[], broker_fills=[], broker_positions={},
        broker_cash=Decimal(2))
    assert [d.kind for d in warn.differences] == ["cash_mismatch"] and not warn.halt
    assert warn.corrections.cash_to_set is None


class _NullRouter:
    def send(self, client_order_id: str, request: Any) -> None:
        return None

    def cancel(self, client_order_id: str) -> None:
        return None


def test_state_cli_show_verify_and_reset(tmp_path: Path) -> None:
    _two_checkpoints(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "livetrade", "state", *args],
                              capture_output=True, text=True, timeout=60, check=False)

    shown = cli("show", "--dir", str(tmp_path))
    assert shown.returncode == 0 and "checkpoint 2 of [1, 2]" in shown.stdout
    older = json.loads(cli("show", "--dir", str(tmp_path), "--checkpoint", "1",
                           "--json").stdout)
    assert older["checkpoint"]["number"] == 1 and older["kept"] == [1, 2]
    assert cli("verify", "--dir", str(tmp_path)).returncode == 0
    _rewrite(tmp_path, 1, lambda text: "{}")
    verified = cli("verify", "--dir", str(tmp_path), "--json")
    assert verified.returncode == 1 and "checkpoint 1" in json.loads(verified.stdout)["problems"][0]
    assert cli("reset", "--dir", str(tmp_path)).returncode == 2
    assert tmp_path.exists()
    reset = cli("reset", "--dir", str(tmp_path), "--yes")
    assert reset.returncode == 0 and not tmp_path.exists()
    assert list(tmp_path.parent.glob(f"{tmp_path.name}.reset-*"))


def test_sqlite_errors_do_not_escape_as_untyped() -> None:
    assert issubclass(StateError, Exception) and not issubclass(StateError, sqlite3.Error)


# ---------------------------------------------------------------- second review's findings

def test_an_adopted_order_keeps_its_id_and_new_orders_get_fresh_ones(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    first, strategy = engine_on(tmp_path / "a", broker, clock)
    first.start_sync()
    strategy.todo.append({"symbol": "A", "side": "buy", "quantity": 2, "order_type": "limit",
                          "limit_price": 99})
    first.process(md("A", 100, ts=at(1)))
    # The engine's store is lost; the venue still has s-1 working.
    second, _ = engine_on(tmp_path / "b", broker, clock)
    second.start_sync()
    adopted = second.context.order("s-1")
    assert adopted is not None and adopted.is_open
    assert second.context.buy("A", 1) == "s-2"
    adopted = second.context.order("s-1")
    assert adopted is not None and adopted.is_open


def test_a_fill_made_while_the_engine_was_down_is_found_in_data_time(tmp_path: Path) -> None:
    """Drive mode, no checkpoint yet: the journal's times are engine (data) time, so the
    venue's fills since then are found and booked; the order ends FILLED, not canceled."""
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    first, strategy = engine_on(tmp_path, broker, clock)
    first.start_sync()
    strategy.todo.append({"symbol": "A", "side": "buy", "quantity": 1, "order_type": "limit",
                          "limit_price": 99})
    first.process(md("A", 100, ts=at(1)))
    # kill -9; the market moves through the limit while the engine is down.
    broker.connect(lambda event: None)
    clock.advance_to(at(2))
    broker.on_market_data(md("A", 98, ts=at(2)))
    second, _ = engine_on(tmp_path, broker, clock)
    second.start_sync()
    assert second.recovery is not None
    kinds = sorted(d["kind"] for d in second.recovery.reconciliation["differences"])
    assert kinds == ["fill_missed"]
    order = second.context.order("s-1")
    assert order is not None and order.status is OrderStatus.FILLED
    assert second.portfolio.position("A") == 1


def test_an_order_rejected_as_invalid_does_not_break_checkpoints(tmp_path: Path) -> None:
    clock = manual_clock()
    engine, strategy = engine_on(tmp_path, RecordingPaperBroker(clock=clock), clock)
    engine.start_sync()
    strategy.todo += [{"symbol": "A", "side": "buy", "quantity": 0},
                      {"symbol": "", "side": "buy", "quantity": 1}]
    engine.process(md("A", 100, ts=at(1)))
    engine.checkpoint("after a bad order")
    assert engine.state is not None and engine.state.checkpoints_written == 1


def test_a_clean_restart_does_not_rebook_fills_of_forgotten_orders(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    strategy = Trader()
    settings = StateSettings(directory=tmp_path, account_id="acct", strategy_id="trader",
                             reconcile_policy="halt")

    def build(s: Trader) -> LiveTradingEngine:
        return LiveTradingEngine(s, broker=broker, clock=clock,
                                 settings=EngineSettings(closed_orders_kept=2),
                                 order_ids=ClientOrderIdGenerator("s"),
                                 state=StateManager(settings, clock))

    first = build(strategy)
    first.start_sync()
    for i in range(4):
        strategy.todo.append({"symbol": "A", "side": "buy", "quantity": 1})
        first.process(md("A", 100 + i, ts=at(i + 1)))
    first.stop_sync()
    second = build(Trader())
    second.start_sync()
    assert second.recovery is not None and second.recovery.reconciliation["clean"]
    assert not second.kill_switch.engaged and second.portfolio.position("A") == 4


def test_the_writer_survives_an_unserializable_strategy_state(tmp_path: Path) -> None:
    clock = manual_clock()
    engine, _strategy = engine_on(tmp_path, RecordingPaperBroker(clock=clock), clock)
    engine.start_sync()
    manager = engine.state
    assert manager is not None
    broken = manager.capture("bad", strategy_state={"x": object()},
                             portfolio=engine.portfolio.export_state(),
                             orders=engine.orders.export_state())
    manager.start(lambda reason: None)
    manager.submit(broken)
    manager.submit(manager.capture("good", strategy_state={"ok": 1},
                                   portfolio=engine.portfolio.export_state(),
                                   orders=engine.orders.export_state()))
    manager.stop(10)
    assert manager.checkpoints_written == 1 and "bad" not in manager.store.load_checkpoint().reason
    assert manager.last_error


def test_a_capture_is_a_copy_the_strategy_cannot_change_afterwards(tmp_path: Path) -> None:
    clock = manual_clock()
    engine, _ = engine_on(tmp_path, RecordingPaperBroker(clock=clock), clock)
    engine.start_sync()
    assert engine.state is not None
    live_state = {"ticks": [1]}
    captured = engine.state.capture("t", strategy_state=live_state,
                                    portfolio=engine.portfolio.export_state(),
                                    orders=engine.orders.export_state())
    live_state["ticks"].append(2)
    assert captured.strategy_state == {"ticks": [1]}


def test_order_counters_survive_a_restart(tmp_path: Path) -> None:
    clock = manual_clock()
    broker = RecordingPaperBroker(clock=clock)
    first, strategy = engine_on(tmp_path, broker, clock)
    first.start_sync()
    strategy.todo += [{"symbol": "A", "side": "buy", "quantity": 1},
                      {"symbol": "A", "side": "buy", "quantity": 0}]
    first.process(md("A", 100, ts=at(1)))
    first.stop_sync()
    before = first.orders.stats()
    second, _ = engine_on(tmp_path, broker, clock)
    second.start_sync()
    after = second.orders.stats()
    assert (after.submitted, after.rejected, after.filled) == (
        before.submitted, before.rejected, before.filled) == (1, 1, 1)


def test_staleness_is_wall_time_even_when_the_engine_clock_is_data_time(
        tmp_path: Path) -> None:
    data_clock = ManualClock()  # 1970: a replay before its first bar
    broker = RecordingPaperBroker(clock=data_clock)
    first, _ = engine_on(tmp_path, broker, data_clock)
    first.start_sync()
    first.stop_sync()
    second, _ = engine_on(tmp_path, broker, manual_clock())  # data time: 2024
    second.start_sync()
    assert second.recovery is not None and not second.recovery.stale
    assert second.recovery.checkpoint_age_s is not None
    assert 0 <= second.recovery.checkpoint_age_s < 60


def test_state_show_on_a_store_with_only_a_journal(tmp_path: Path) -> None:
    store = StateStore(tmp_path, account_id="acct", strategy_id="trader")
    store.append_journal("intent", "s-1", {"request": {}, "created_at": T0.isoformat()})
    store.close()
    shown = subprocess.run([sys.executable, "-m", "livetrade", "state", "show", "--dir",
                            str(tmp_path)], capture_output=True, text=True, timeout=60,
                           check=False)
    assert shown.returncode == 0 and "no checkpoint yet" in shown.stdout and "s-1" in shown.stdout


def test_a_report_that_cannot_be_written_is_a_state_error_and_leaves_the_kept_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(tmp_path, account_id="acct", strategy_id="trader")
    assert store.save_report({"differences": 0}) == 1
    real_set = store._cache.set

    def failing_set(key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key == "report:index":
            raise sqlite3.OperationalError("disk I/O error")
        return real_set(key, value, *args, **kwargs)

    monkeypatch.setattr(store._cache, "set", failing_set)
    with pytest.raises(StateError, match="reconciliation report write failed") as caught:
        store.save_report({"differences": 1})
    assert caught.value.context["directory"] == str(tmp_path)
    monkeypatch.undo()
    assert store.reports() == [{"differences": 0}]  # the transaction rolled back whole
    store.close()


def test_a_kept_report_that_is_not_json_is_a_state_error_naming_its_key(tmp_path: Path) -> None:
    store = StateStore(tmp_path, account_id="acct", strategy_id="trader")
    store.save_report({"differences": 0})
    store._cache.set("report:1", "{not json")
    with pytest.raises(StateError, match="report:1 is not valid JSON"):
        store.reports()
    assert store.meta()["account_id"] == "acct"
    store.close()
