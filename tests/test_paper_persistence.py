"""The persisted paper venue: it remembers everything across restarts and crashes.

A venue with a ``store_dir`` must be indistinguishable from one that never stopped (same
account, orders, ids, fill history, and the same matching afterwards), refuse a client
order id it ever accepted, answer ``get_fills(since)``, refuse a corrupt or foreign store
with ``StateError``, and survive ``kill -9`` at any instant in a consistent state.
"""

from __future__ import annotations

import gc
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import diskcache
import pytest
from kit import T0, D, at, manual_clock, md, request

import livetrade.brokers.paper as paper_module
from livetrade.brokers.paper import (
    PaperBroker,
    PaperBrokerConfig,
    PaperOrder,
    PaperOrderStatus,
)
from livetrade.clock import ManualClock
from livetrade.errors import (
    EngineStateError,
    OrderRejectedError,
    PermanentBrokerError,
    StateError,
)
from livetrade.events import (
    Event,
    MarketData,
    OrderFill,
    OrderType,
    Side,
    TimeInForce,
)
from livetrade.orders import OrderRequest
from livetrade.state.store import StateStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CONFIG = PaperBrokerConfig(initial_cash=D(50_000), participation=D("0.5"),
                           commission_bps=D(5), commission_per_order=D(1),
                           slippage_bps=D(10))


def venue(store: Path | None, config: PaperBrokerConfig = CONFIG,
          clock: ManualClock | None = None) -> tuple[PaperBroker, list[Event], ManualClock]:
    """A connected paper venue (persisted in ``store`` unless ``None``) and its events."""
    clock = clock or manual_clock()
    broker = PaperBroker(config, clock, store_dir=store)
    events: list[Event] = []
    broker.connect(events.append)
    return broker, events, clock


def tick(broker: PaperBroker, clock: ManualClock, price: int | str, *, minutes: int,
         volume: int = 0, symbol: str = "AAPL") -> None:
    """A tick ``minutes`` after ``T0``; the venue's clock moves to it first."""
    event = md(symbol, price, ts=T0 + timedelta(minutes=minutes), volume=volume)
    clock.advance_to(event.timestamp)
    broker.on_market_data(event)


def limit(side: Side, quantity: int, price: str,
          time_in_force: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    return request(side=side, quantity=quantity, order_type=OrderType.LIMIT,
                   limit_price=D(price), time_in_force=time_in_force)


def the_fills(events: list[Event]) -> list[OrderFill]:
    return [e for e in events if isinstance(e, OrderFill)]


def state_of(broker: PaperBroker, cids: list[str]) -> dict[str, object]:
    """Everything the venue tells the outside world."""
    return {
        "positions": dict(broker.get_positions()),
        "account": broker.get_account_info(),
        "open": broker.get_open_orders(),
        "orders": {cid: broker.get_order(cid) for cid in cids},
        "fills": broker.get_fills(EPOCH),
    }


CIDS = [f"c{i}" for i in range(1, 9)]


def trade_before_restart(broker: PaperBroker, clock: ManualClock) -> None:
    """Resting limits, a partially filled market order, an untriggered stop, a stop-limit
    that triggers without filling, a DAY order, a cancel."""
    tick(broker, clock, 100, minutes=0, volume=10)
    tick(broker, clock, 50, minutes=0, volume=100, symbol="MSFT")
    broker.submit_order("c1", limit(Side.BUY, 10, "99"))
    broker.submit_order("c2", request(quantity=8))  # 5 now (participation), 3 keep working
    broker.submit_order("c3", request(side=Side.SELL, quantity=5, order_type=OrderType.STOP,
                                      stop_price=D(95)))
    broker.submit_order("c4", request(quantity=4, order_type=OrderType.STOP_LIMIT,
                                      stop_price=D(101), limit_price=D(100)))
    broker.submit_order("c5", limit(Side.SELL, 3, "120", time_in_force=TimeInForce.DAY))
    broker.submit_order("c6", limit(Side.BUY, 2, "90"))
    broker.cancel_order("c6")
    tick(broker, clock, "98.5", minutes=1, volume=4)  # c1 and c2 fill 2 each
    tick(broker, clock, "101.5", minutes=2, volume=2)  # c2 fills its last; c4 triggers only


def trade_after_restart(broker: PaperBroker, clock: ManualClock) -> None:
    tick(broker, clock, "99.5", minutes=3, volume=6)  # c4 (triggered) fills 3 at its limit
    tick(broker, clock, 94, minutes=60 * 24, volume=20)  # next UTC day: c1, c3 (stop), c4
    broker.submit_order("c7", request(side=Side.SELL, quantity=1))  # fill; c5 has expired
    broker.cancel_order("c1")  # already filled: refused
    broker.submit_order("c8", limit(Side.BUY, 1, "93"))
    broker.cancel_order("c8")


@pytest.mark.parametrize("stop", ["close", "drop"])
def test_a_restarted_venue_is_the_venue_that_never_stopped(tmp_path: Path, stop: str) -> None:
    """Run the same flow on a persisted venue that is stopped halfway (closed, or just
    dropped as a crash would) and reopened, and on an in-memory venue that runs through:
    same events before, same state at the restart, and the same events and state after it
    (ids, partial fills, a triggered stop-limit, DAY expiry, cancels)."""
    reference, ref_events, ref_clock = venue(None)
    persisted, events, clock = venue(tmp_path / "venue")
    trade_before_restart(reference, ref_clock)
    trade_before_restart(persisted, clock)
    assert events == ref_events
    assert [f.fill_id for f in the_fills(events)] == ["PF1", "PF2", "PF3", "PF4"]
    if stop == "close":
        persisted.close()
    del persisted
    gc.collect()

    restarted, events_after, _ = venue(tmp_path / "venue", clock=clock)
    assert state_of(restarted, CIDS) == state_of(reference, CIDS)
    trigger = restarted.get_order("c4")
    assert trigger is not None and trigger.status is PaperOrderStatus.WORKING

    mark = len(ref_events)
    trade_after_restart(reference, ref_clock)
    trade_after_restart(restarted, clock)
    assert events_after == ref_events[mark:]
    assert [type(e).__name__ for e in events_after].count("OrderFill") >= 3
    assert state_of(restarted, CIDS) == state_of(reference, CIDS)


def test_every_client_order_id_ever_accepted_is_refused_after_a_restart(
        tmp_path: Path) -> None:
    """Idempotency by client id, like a real venue: working, filled and canceled ids are
    all known after a restart, with their status; a new id is accepted."""
    broker, _, clock = venue(tmp_path)
    tick(broker, clock, 100, minutes=0)
    broker.submit_order("working", limit(Side.BUY, 1, "90"))
    broker.submit_order("filled", request(quantity=1))
    broker.submit_order("canceled", limit(Side.BUY, 1, "90"))
    broker.cancel_order("canceled")
    broker.close()

    restarted, _, _ = venue(tmp_path, clock=clock)
    for cid in ("working", "filled", "canceled"):
        with pytest.raises(OrderRejectedError, match="duplicate"):
            restarted.submit_order(cid, request(quantity=1))
    statuses = {cid: order.status for cid in ("working", "filled", "canceled")
                if (order := restarted.get_order(cid)) is not None}
    assert statuses == {"working": PaperOrderStatus.WORKING,
                        "filled": PaperOrderStatus.FILLED,
                        "canceled": PaperOrderStatus.CANCELED}
    filled = restarted.get_order("filled")
    assert isinstance(filled, PaperOrder) and filled.filled_quantity == 1
    assert restarted.get_order("never-sent") is None
    restarted.submit_order("new", request(quantity=1))
    assert [o.client_order_id for o in restarted.get_open_orders()] == ["working"]


def test_without_a_store_the_newest_closed_orders_are_remembered() -> None:
    """In memory the registry is bounded (``closed_order_history``): an old closed id is
    forgotten, and may be accepted again."""
    broker, _, clock = venue(None, PaperBrokerConfig(closed_order_history=2))
    tick(broker, clock, 100, minutes=0)
    for cid in ("a", "b", "c"):
        broker.submit_order(cid, request(quantity=1))
    assert broker.get_order("a") is None
    assert [o.status for o in map(broker.get_order, "bc") if o] == [PaperOrderStatus.FILLED] * 2
    with pytest.raises(OrderRejectedError, match="duplicate"):
        broker.submit_order("c", request(quantity=1))
    broker.submit_order("a", request(quantity=1))


class SteppedClock:
    """A clock told what time it is, including backwards (a wall clock stepped by NTP)."""

    def __init__(self, now: datetime) -> None:
        self.now_is = now

    def now(self) -> datetime:
        return self.now_is


@pytest.mark.parametrize("persisted", [False, True], ids=["memory", "store"])
def test_get_fills_returns_fills_at_or_after_since_oldest_first(
        tmp_path: Path, persisted: bool) -> None:
    """Filtered by the fill's own time, in the order they were emitted, even when the clock
    stepped backwards between two fills."""
    clock = SteppedClock(at(10))
    broker = PaperBroker(CONFIG, clock, store_dir=tmp_path if persisted else None)
    broker.connect(lambda event: None)
    broker.on_market_data(md("AAPL", 100))
    for seconds, cid in ((10, "a"), (20, "b"), (5, "c"), (30, "d")):
        clock.now_is = at(seconds)
        broker.submit_order(cid, request(quantity=1))

    def ids(since: datetime) -> list[str]:
        return [f.client_order_id for f in broker.get_fills(since)]

    assert ids(EPOCH) == ["a", "b", "c", "d"]
    assert ids(at(10)) == ["a", "b", "d"]
    assert ids(at(6)) == ["a", "b", "d"]
    assert ids(at(5)) == ["a", "b", "c", "d"]
    assert ids(at(21)) == ["d"]
    assert ids(at(31)) == []
    assert [f.fill_id for f in broker.get_fills(EPOCH)] == ["PF1", "PF2", "PF3", "PF4"]
    with pytest.raises(ValueError, match="timezone-aware"):
        broker.get_fills(datetime(2024, 1, 1))  # naive: refused


@pytest.mark.parametrize("persisted", [False, True], ids=["memory", "store"])
def test_the_fill_history_keeps_the_newest_fill_history_fills(
        tmp_path: Path, persisted: bool) -> None:
    config = PaperBrokerConfig(fill_history=3, participation=D("0.25"))
    store = tmp_path if persisted else None
    broker, _, clock = venue(store, config)
    tick(broker, clock, 100, minutes=0, volume=4)
    broker.submit_order("one", request(quantity=2))  # two fills of 1 (participation)
    tick(broker, clock, 100, minutes=1, volume=4)
    for cid in ("two", "three", "four"):
        broker.submit_order(cid, request(quantity=1))
    assert [f.fill_id for f in broker.get_fills(EPOCH)] == ["PF3", "PF4", "PF5"]
    if persisted:
        broker.close()
        broker, _, clock = venue(store, config, clock)
        assert [f.fill_id for f in broker.get_fills(EPOCH)] == ["PF3", "PF4", "PF5"]
    broker.submit_order("five", request(quantity=1))
    assert [f.fill_id for f in broker.get_fills(EPOCH)] == ["PF4", "PF5", "PF6"]
    assert broker.get_positions() == {"AAPL": 6}


# ------------------------------------------------------------------ what reaches the disk
def disk_state(store: Path) -> tuple[int, ...]:
    """Size and modification time of every file of the store."""
    return tuple(x for p in sorted(store.iterdir()) for x in (p.stat().st_size,
                                                              p.stat().st_mtime_ns))


def test_market_data_writes_nothing_unless_an_order_changes(tmp_path: Path) -> None:
    """The hot path stays off the disk: no working order, or working orders that do not
    move, means no write at all."""
    broker, _, clock = venue(tmp_path)
    tick(broker, clock, 100, minutes=0)
    broker.submit_order("rests", limit(Side.BUY, 1, "50"))
    before = disk_state(tmp_path)
    for i in range(200):
        tick(broker, clock, 100 + i % 7, minutes=1 + i, symbol=("AAPL", "MSFT")[i % 2])
    assert disk_state(tmp_path) == before
    broker.close()


def test_the_last_price_is_stored_with_the_next_change_or_on_close(tmp_path: Path) -> None:
    """The documented trade-off: after a crash, a price seen while no order changed is
    not remembered; one seen before an order change, or before close(), is."""
    broker, _, clock = venue(tmp_path)
    tick(broker, clock, 100, minutes=0)
    del broker  # a crash: no close()
    gc.collect()
    broker, _, clock = venue(tmp_path, clock=clock)
    with pytest.raises(OrderRejectedError, match="no market price"):
        broker.submit_order("m1", request(quantity=1))
    tick(broker, clock, 101, minutes=1)
    broker.submit_order("l1", limit(Side.BUY, 1, "50"))  # an order change stores the price
    tick(broker, clock, 102, minutes=2)
    del broker
    gc.collect()
    broker, events, clock = venue(tmp_path, clock=clock)
    broker.submit_order("m2", request(quantity=1))
    assert the_fills(events)[-1].fill_price == D(101) * (1 + D(10) / 10_000)
    tick(broker, clock, 103, minutes=3)
    broker.close()
    broker, events, _ = venue(tmp_path, clock=clock)
    broker.submit_order("m3", request(quantity=1))
    assert the_fills(events)[-1].fill_price == D(103) * (1 + D(10) / 10_000)


# ------------------------------------------------------------------ failures
def test_a_failed_write_leaves_the_venue_as_it_was_and_emits_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk refuses the transaction: the submit is refused (never accepted), a fill is
    not made; memory rolls back to the store; the next change works normally."""
    broker, events, clock = venue(tmp_path)
    tick(broker, clock, 100, minutes=0, volume=10)
    broker.submit_order("rests", limit(Side.BUY, 4, "99"))
    seen = list(events)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(diskcache.Cache, "set", disk_full)
        with pytest.raises(PermanentBrokerError, match="not accepted"):
            broker.submit_order("refused", request(quantity=2))
        with pytest.raises(StateError, match="disk is full"):
            tick(broker, clock, 98, minutes=1, volume=4)  # would fill 2 of "rests"
        with pytest.raises(PermanentBrokerError, match="still works"):
            broker.cancel_order("rests")
    assert events == seen
    assert broker.get_order("refused") is None
    [rests] = broker.get_open_orders()
    assert rests.filled_quantity == 0
    assert broker.get_positions() == {}

    tick(broker, clock, 98, minutes=2, volume=4)
    broker.submit_order("accepted", request(quantity=1))
    assert [(f.client_order_id, f.fill_id, f.order_id) for f in the_fills(events)] == [
        ("rests", "PF1", "PB1"), ("accepted", "PF2", "PB2")]


@pytest.mark.parametrize("change", ["submit", "cancel"])
def test_a_quote_sees_the_working_orders_as_they_are_after_another_threads_rollback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """Another thread's change fails to persist and is rolled back (the venue reloads its
    store) between a quote's first look and its lock: the quote still matches exactly the
    orders that work, never one that was rolled away (a KeyError before) and never missing
    one that came back."""
    broker, events, clock = venue(tmp_path)
    broker.submit_order("c0", limit(Side.BUY, 1, "90"))
    real_quote = paper_module._quote

    def other_thread_meanwhile(event: MarketData) -> Any:
        monkeypatch.setattr(paper_module, "_quote", real_quote)

        def disk_full(*args: object, **kwargs: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        with monkeypatch.context() as patch:
            patch.setattr(diskcache.Cache, "set", disk_full)
            with pytest.raises(PermanentBrokerError):
                if change == "submit":
                    broker.submit_order("c1", limit(Side.BUY, 1, "80"))
                else:
                    broker.cancel_order("c0")
        return real_quote(event)

    monkeypatch.setattr(paper_module, "_quote", other_thread_meanwhile)
    tick(broker, clock, 89, minutes=1, volume=10)
    assert [f.client_order_id for f in the_fills(events)] == ["c0"]
    assert broker.get_open_orders() == []


def test_a_malformed_or_unstorable_order_is_refused_before_anything_changes(
        tmp_path: Path) -> None:
    broker, events, _ = venue(tmp_path)
    with pytest.raises(OrderRejectedError, match="limit_price is required"):
        broker.submit_order("no-limit", request(order_type=OrderType.LIMIT))
    with pytest.raises(PermanentBrokerError, match="cannot be stored"):
        broker.submit_order("long", request("X" * 65, order_type=OrderType.LIMIT,
                                            limit_price=D(1)))
    assert events == []
    assert broker.get_open_orders() == []
    broker.submit_order("fine", limit(Side.BUY, 1, "1"))
    assert broker.get_open_orders()[0].broker_order_id == "PB1"


def test_closed_orders_are_validated_when_read(tmp_path: Path) -> None:
    """The registry of closed orders grows without bound, so opening does not read it; a
    damaged closed record is reported when it is asked for, and its id stays taken."""
    store = closed_store(tmp_path)
    with diskcache.Cache(str(store / "cache")) as cache:
        cache.set("order:c6", "damaged")
    broker, _, _ = venue(store)
    with pytest.raises(PermanentBrokerError, match="'order:c6' is invalid"):
        broker.get_order("c6")
    with pytest.raises(OrderRejectedError, match="duplicate"):
        broker.submit_order("c6", limit(Side.BUY, 1, "1"))
    broker.close()


def test_market_data_while_disconnected_changes_nothing(tmp_path: Path) -> None:
    """Events with nowhere to go are refused before any change, not half-applied."""
    broker, events, clock = venue(tmp_path)
    tick(broker, clock, 100, minutes=0)
    broker.submit_order("rests", limit(Side.BUY, 1, "99"))
    broker.disconnect()
    with pytest.raises(EngineStateError):
        tick(broker, clock, 98, minutes=1)
    broker.connect(events.append)
    assert broker.get_open_orders()[0].filled_quantity == 0
    tick(broker, clock, 98, minutes=2)
    assert [f.fill_id for f in the_fills(events)] == ["PF1"]


def closed_store(tmp_path: Path) -> Path:
    """A store with a little of everything, closed."""
    store = tmp_path / "venue"
    broker, _, clock = venue(store)
    trade_before_restart(broker, clock)
    broker.close()
    return store


def refused(store: Path, match: str, config: PaperBrokerConfig = CONFIG) -> None:
    """Opening ``store`` raises ``StateError`` — twice the same way, so a failed open
    neither changed the store nor kept it locked."""
    for _ in range(2):
        with pytest.raises(StateError, match=match):
            PaperBroker(config, manual_clock(), store_dir=store)


@pytest.mark.parametrize("keep", [0.5, 0.0], ids=["half", "empty"])
def test_a_truncated_database_is_refused(tmp_path: Path, keep: float) -> None:
    store = closed_store(tmp_path)
    db = store / "cache" / "cache.db"
    with db.open("r+b") as f:
        f.truncate(int(db.stat().st_size * keep))
    refused(store, "malformed|lost its metadata")


@pytest.mark.parametrize(("key", "value", "match"), [
    ("meta", '{"schema_version": 1, "account_id": "a"}', "another kind of store"),
    ("venue", "garbage", "'venue' is invalid"),
    ("venue", 42, "holds a int"),
    ("account", b"\x00\x01", "holds a bytes"),
    ("account", {"cash": "1"}, "pickled value"),
    ("order:c1", '{"client_order_id": "c1"}', "'order:c1' is invalid"),
    ("fill:000000000002", "{}", "'fill:000000000002' is invalid"),
    ("price:AAPL", "[1, 2]", "'price:AAPL' is invalid"),
])
def test_garbage_in_any_key_is_refused(tmp_path: Path, key: str, value: object,
                                       match: str) -> None:
    store = closed_store(tmp_path)
    with diskcache.Cache(str(store / "cache")) as cache:
        cache.set(key, value)
    refused(store, match)


def edit_json(store: Path, key: str, **changes: object) -> None:
    """Change fields of the JSON record under ``key``, as someone with an editor would."""
    with diskcache.Cache(str(store / "cache")) as cache:
        record = json.loads(cache.get(key))
        assert set(changes) <= set(record)
        cache.set(key, json.dumps({**record, **changes}))


@pytest.mark.parametrize(("key", "changes", "match"), [
    ("order:c1", {"filled": "11"}, "filled more than the order quantity"),
    ("order:c1", {"order_type": "stop"}, "limit_price is not allowed on a stop order"),
    ("order:c1", {"filled": "3"}, "working order 'c1' does not add up to its fills"),
    ("account", {"cash": "50001"}, "the account does not add up to its fill history"),
    ("venue", {"next_order_id": 3}, "is not below the order counter"),
    ("venue", {"working": ["c1", "c2"]}, "working order 'c2' has a record of 'c2' \\(filled\\)"),
    ("fill:000000000003", {"high_water": "2024-01-02T14:30:00Z"},
     "the fill is later than its high-water time"),
])
def test_a_store_that_contradicts_itself_is_refused(
        tmp_path: Path, key: str, changes: dict[str, object], match: str) -> None:
    """Each record validates alone, and the records must agree with each other."""
    store = closed_store(tmp_path)
    edit_json(store, key, **changes)
    refused(store, match)


def test_a_missing_fill_is_refused(tmp_path: Path) -> None:
    store = closed_store(tmp_path)
    with diskcache.Cache(str(store / "cache")) as cache:
        cache.delete("fill:000000000003")
    refused(store, "'fill:000000000003' is missing")


def test_the_engines_own_store_is_refused_untouched(tmp_path: Path) -> None:
    """Pointing the paper venue at the engine's state directory must not write into it."""
    StateStore(tmp_path, account_id="acct", strategy_id="strat").close()
    before = sorted(p.name for p in tmp_path.iterdir())
    refused(tmp_path, "holds other files")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_store_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = closed_store(tmp_path)
    with diskcache.Cache(str(store / "cache")) as cache:
        cache.set("meta", cache.get("meta").replace('"schema_version":1',
                                                    '"schema_version":99'))
    refused(store, "schema 99, newer than 1")


def test_a_directory_of_other_files_and_another_currency_are_refused(
        tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    refused(tmp_path / "other", "holds other files")
    store = closed_store(tmp_path)
    refused(store, "is a USD account, the config says EUR",
            PaperBrokerConfig(currency="EUR"))


def test_a_store_is_used_by_one_venue_at_a_time(tmp_path: Path) -> None:
    first, _, _ = venue(tmp_path)
    with pytest.raises(StateError, match="in use"):
        venue(tmp_path)
    first.close()
    first.close()  # idempotent
    with pytest.raises(EngineStateError, match="closed"):
        first.get_positions()
    second, _, _ = venue(tmp_path)
    second.close()


# ------------------------------------------------------------------ kill -9
KILL_CONFIG = PaperBrokerConfig(initial_cash=D(1_000_000), participation=D("0.4"),
                                commission_bps=D(3), commission_per_order=D(1))

CHILD = textwrap.dedent("""
    import random, sys
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal
    from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
    from livetrade.clock import ManualClock
    from livetrade.errors import OrderRejectedError
    from livetrade.events import MarketData, OrderType, Side, TimeInForce
    from livetrade.orders import OrderRequest

    store, round_no, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    # Each round starts 7 hours after the previous one started: often before where it
    # ended, so fill times also go backwards across restarts.
    clock = ManualClock(datetime(2024, 1, 2, 20, tzinfo=UTC) + timedelta(hours=7 * round_no))
    config = PaperBrokerConfig(initial_cash=Decimal(1_000_000), participation=Decimal("0.4"),
                               commission_bps=Decimal(3), commission_per_order=Decimal(1))
    broker = PaperBroker(config, clock, store_dir=store)
    broker.connect(lambda event: None)
    prices = {"AAA": Decimal(100), "BBB": Decimal(40)}
    accepted = []
    print("ready", flush=True)
    for i in range(1, 1_000_000):
        symbol = rng.choice(sorted(prices))
        prices[symbol] = max(Decimal(5), prices[symbol] + Decimal(rng.randint(-20, 20)) / 10)
        clock.advance_to(clock.now() + timedelta(minutes=rng.randint(1, 40)))
        broker.on_market_data(MarketData(symbol=symbol, timestamp=clock.now(),
                                         price=prices[symbol],
                                         volume=Decimal(rng.randint(0, 12))))
        cid = f"r{round_no}-{i}"
        side = rng.choice([Side.BUY, Side.SELL])
        quantity = Decimal(rng.randint(1, 10))
        away = Decimal(rng.randint(-15, 15)) / 10
        action = rng.random()
        if action < 0.3:
            order = OrderRequest(symbol, side, quantity)
        elif action < 0.6:
            order = OrderRequest(symbol, side, quantity, OrderType.LIMIT,
                                 limit_price=prices[symbol] + away,
                                 time_in_force=rng.choice(list(TimeInForce)))
        elif action < 0.7:
            order = OrderRequest(symbol, side, quantity, OrderType.STOP,
                                 stop_price=prices[symbol] + away)
        else:
            order = None
        if order is not None:
            broker.submit_order(cid, order)
            accepted.append(cid)
        elif accepted and action < 0.85:
            broker.cancel_order(rng.choice(accepted))
        elif accepted:
            try:
                broker.submit_order(rng.choice(accepted), OrderRequest(symbol, side, quantity))
            except OrderRejectedError:
                pass
            else:
                raise SystemExit("a known client order id was accepted again")
        print(i, flush=True)
""")


class ChildLines:
    """The child's stdout, line by line, read by a thread so that waiting is bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for(self, accept: Callable[[str], bool], deadline: float) -> str:
        """The first line ``accept`` takes (the child also logs), within ``deadline``."""
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("the child made no progress in time") from None
            assert line is not None, f"the child exited early with {self.proc.wait()}"
            if accept(line):
                return line

    def close(self) -> None:
        self._reader.join(timeout=30)
        assert not self._reader.is_alive()


def check_consistent(store: Path) -> int:
    """Reopen the store after a kill and check it against its own fill history; return
    the number of fills it now holds (a probe order adds one)."""
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    broker, events, _ = venue(store, KILL_CONFIG, clock)
    fills = broker.get_fills(EPOCH)
    # The history is complete and in order (the cap is far above what this test makes).
    assert [f.fill_id for f in fills] == [f"PF{n}" for n in range(1, len(fills) + 1)]
    # Cash and positions are exactly the fill history's sums.
    cash = KILL_CONFIG.initial_cash
    positions: dict[str, Decimal] = defaultdict(Decimal)
    filled: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        signed = f.fill_amount * f.side.sign
        cash -= signed * f.fill_price + f.commission
        positions[f.symbol] += signed
        filled[f.client_order_id] += f.fill_amount
    assert broker.get_account_info().cash == cash
    assert broker.get_positions() == {s: q for s, q in positions.items() if q != 0}
    # A working order has exactly its fills and is not filled in full.
    open_orders = {o.client_order_id: o for o in broker.get_open_orders()}
    for cid, order in open_orders.items():
        assert order.filled_quantity == filled.get(cid, 0) < order.request.quantity
        record = broker.get_order(cid)
        assert record is not None and record.status is PaperOrderStatus.WORKING
    # Every order with fills has a record that agrees; none is both working and filled.
    for cid, quantity in filled.items():
        record = broker.get_order(cid)
        assert record is not None and record.filled_quantity == quantity
        assert (record.status is PaperOrderStatus.WORKING) == (cid in open_orders)
        if record.status is PaperOrderStatus.FILLED:
            assert quantity == record.request.quantity
        with pytest.raises(OrderRejectedError, match="duplicate"):
            broker.submit_order(cid, request("AAA", quantity=1))
    # The counters are above every id in use: a new order and fill get fresh ids.
    used = {o.broker_order_id for o in open_orders.values()} | {f.order_id for f in fills}
    broker.on_market_data(md("AAA", 100, ts=clock.now()))
    probe = f"probe-{len(fills)}"
    broker.submit_order(probe, request("AAA", quantity=1))
    probe_order = broker.get_order(probe)
    assert probe_order is not None and probe_order.broker_order_id not in used
    assert int(probe_order.broker_order_id[2:]) > max((int(i[2:]) for i in used), default=0)
    new_fills = broker.get_fills(EPOCH)[len(fills):]
    assert [f.client_order_id for f in new_fills][-1] == probe
    assert [f.fill_id for f in new_fills] == [
        f"PF{n}" for n in range(len(fills) + 1, len(fills) + 1 + len(new_fills))]
    assert the_fills(events) == new_fills
    broker.close()
    return len(fills) + len(new_fills)


def test_kill_9_at_random_points_leaves_a_consistent_venue(tmp_path: Path) -> None:
    """A child process trades on a persisted venue and is SIGKILLed at a random point,
    round after round on the same store. After every kill the store opens and agrees with
    itself: account = the fill history's sums, no order both working and filled, fresh
    ids, every known client id refused. Seeded; every wait is bounded."""
    rng = random.Random(20240102)
    store = tmp_path / "venue"
    rounds = 8
    fills = 0
    for round_no in range(rounds):
        with (tmp_path / f"child-{round_no}.err").open("w") as errors:
            proc = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(store), str(round_no),
                 str(rng.randrange(1 << 30))],
                stdout=subprocess.PIPE, stderr=errors, text=True)
            lines = ChildLines(proc)
            try:
                deadline = time.monotonic() + 60
                lines.wait_for(lambda line: line == "ready", deadline)
                target = rng.randint(1, 250)

                def reached(line: str, target: int = target) -> bool:
                    return line.isdigit() and int(line) >= target

                lines.wait_for(reached, deadline)
                os.kill(proc.pid, signal.SIGKILL)  # while it keeps trading
                assert proc.wait(timeout=30) == -signal.SIGKILL
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
                lines.close()
        before = fills
        fills = check_consistent(store)
        assert fills > before
