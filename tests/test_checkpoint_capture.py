"""Checkpoints cost the dispatcher O(what changed), and cutting corners there never changes
what is saved: copy-on-write captures equal a full export after any changes and never change
once handed over; the writer's incremental encoding reads back as the whole-book checkpoint;
a checkpoint taken while the book moves is consistent; bad data is still refused."""

from __future__ import annotations

import copy
import itertools
import threading
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kit import RecordingPaperBroker, at, frequent_thread_switches, manual_clock, md
from kit import order_manager as make_order_manager

from livetrade.brokers.paper import PaperBrokerConfig
from livetrade.clock import SystemClock
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import StateError
from livetrade.events import MarketData, OrderFill, Side
from livetrade.order_records import order_to_dict
from livetrade.orders import ClientOrderIdGenerator, OrderRequest
from livetrade.portfolio import Portfolio
from livetrade.state.chunks import Chunked, ChunkedMap, sync_ordered
from livetrade.state.encoder import CheckpointEncoder
from livetrade.state.manager import StateManager, StateSettings
from livetrade.state.records import Checkpoint
from livetrade.strategy import Strategy


def materialize(view: Chunked[Any, Any]) -> list[tuple[Any, Any]]:
    return list(view.items())


# ---------------------------------------------------------------- the copy-on-write map
MAP_OPS = st.lists(st.tuples(st.sampled_from(["set", "move", "pop", "freeze"]),
                             st.integers(0, 12), st.integers(0, 99)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(MAP_OPS, st.integers(1, 4))
def test_a_chunked_map_behaves_like_an_ordered_dict_and_frozen_views_never_change(
        ops: list[tuple[str, int, int]], chunk_size: int) -> None:
    chunked: ChunkedMap[int, int] = ChunkedMap(chunk_size=chunk_size)
    model: OrderedDict[int, int] = OrderedDict()
    views: list[tuple[Chunked[int, int], list[tuple[int, int]]]] = []
    for op, key, value in ops:
        if op == "set":
            chunked.set(key, value)
            model[key] = value
        elif op == "move":
            chunked.move_to_end(key, value)
            model.pop(key, None)
            model[key] = value
        elif op == "pop":
            chunked.pop(key)
            model.pop(key, None)
        else:
            view = chunked.freeze()
            views.append((view, list(model.items())))
        assert len(chunked) == len(model)
        assert chunked.first_key() == next(iter(model), None)
        assert chunked.last_key() == next(reversed(model), None)
    views.append((chunked.freeze(), list(model.items())))
    for view, expected in views:
        assert materialize(view) == expected and len(view) == len(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["append", "remove", "evict", "update", "sync"]),
                          st.integers(0, 30)), max_size=80))
def test_sync_ordered_mirrors_a_dict_that_appends_removes_and_evicts(
        ops: list[tuple[str, int]]) -> None:
    source: dict[int, str] = {}
    target: ChunkedMap[int, str] = ChunkedMap(chunk_size=3)
    changed: set[int] = set()
    version = itertools.count()
    for op, key in ops:
        if op == "append":
            source.pop(key, None)
            source[key] = f"v{next(version)}"
            changed.add(key)
        elif op == "remove" and key in source:
            del source[key]
            changed.add(key)
        elif op == "evict" and source:
            head = next(iter(source))
            del source[head]
            changed.discard(head)  # as the order manager's bounded history does
        elif op == "update" and key in source:
            source[key] = f"v{next(version)}"
            changed.add(key)
        elif op == "sync":
            sync_ordered(target, source, changed, source.__getitem__)
            changed = set()
            assert materialize(target.freeze()) == list(source.items())
    sync_ordered(target, source, changed, source.__getitem__)
    assert materialize(target.freeze()) == list(source.items())


# ---------------------------------------------------------------- portfolio capture
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fill", "mark", "override", "capture"]),
                          st.sampled_from(["A", "B", "C", "D"]), st.integers(-3, 3)),
                max_size=50))
def test_a_portfolio_capture_equals_the_whole_book_and_never_changes_afterwards(
        ops: list[tuple[str, str, int]]) -> None:
    book = Portfolio(Decimal(1000))
    market_marked: set[str] = set()
    handed_over: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def plain(state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "positions": list(state["positions"].values()),
                "marks": dict(state["marks"].items()),
                "market_marked": sorted(state["market_marked"].keys())}

    for op, symbol, qty in ops:
        if op == "fill" and qty:
            book.apply_fill(symbol, Side.BUY if qty > 0 else Side.SELL, Decimal(abs(qty)),
                            Decimal(10 + qty), Decimal(0))
        elif op == "mark":
            book.mark(symbol, Decimal(20 + qty))
            market_marked.add(symbol)
        elif op == "override":
            book.override_position(symbol, Decimal(qty))
        else:
            state = book.capture_state()
            handed_over.append((state, copy.deepcopy(plain(state))))
            fresh = [{"symbol": s, "quantity": p.quantity, "average_cost": p.average_cost,
                      "flow": p.flow, "booked": p.booked, "closed": p.closed}
                     for s, p in book._positions.items()]
            assert plain(state)["positions"] == fresh
            assert plain(state)["marks"] == book._marks
            assert plain(state)["market_marked"] == sorted(market_marked)
    for state, frozen in handed_over:
        assert plain(state) == frozen


def test_a_fill_marks_only_symbols_the_market_has_not_priced_across_captures() -> None:
    book = Portfolio(Decimal(1000))
    book.mark("A", Decimal(50))
    book.capture_state()  # "A" is now market-marked as of the last capture
    book.apply_fill("A", Side.BUY, Decimal(1), Decimal(40), Decimal(0))
    book.apply_fill("B", Side.BUY, Decimal(1), Decimal(40), Decimal(0))
    assert book.last_price("A") == Decimal(50) and book.last_price("B") == Decimal(40)
    restored = Portfolio(Decimal(1000))
    restored.restore_state(book.export_state())
    restored.apply_fill("A", Side.BUY, Decimal(1), Decimal(30), Decimal(0))
    assert restored.last_price("A") == Decimal(50)


# ---------------------------------------------------------------- order book capture
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["submit", "fill", "cancel", "capture"]),
                          st.integers(0, 8)), max_size=60))
def test_an_order_capture_equals_the_whole_book_with_bounded_histories(
        ops: list[tuple[str, int]]) -> None:
    manager, _, _ = make_order_manager(closed_capacity=3)
    manager._recent_fill_capacity = 4  # exercise the fill-id history's eviction too
    cids: list[str] = []
    fills = itertools.count()
    handed_over: list[tuple[dict[str, Any], list[Any]]] = []
    for op, pick in ops:
        cid = cids[pick % len(cids)] if cids else "none"
        if op == "submit":
            cids.append(manager.submit(OrderRequest(symbol="X", side=Side.BUY,
                                                    quantity=Decimal(2))))
        elif op == "fill":
            manager.record_fill(OrderFill(order_id="b", client_order_id=cid, symbol="X",
                                          side=Side.BUY, fill_price=Decimal(10),
                                          fill_amount=Decimal(1), timestamp=at(2),
                                          fill_id=f"f{next(fills)}"))
        elif op == "cancel":
            manager.cancel(cid)
        else:
            state = manager.capture_state()
            plain = [materialize(state["orders"]), materialize(state["recent_fill_ids"])]
            handed_over.append((state, copy.deepcopy(plain)))
            full = [order_to_dict(o) for o in (*manager._closed.values(),
                                               *manager._open.values())]
            assert list(state["orders"].values()) == full
            assert list(state["recent_fill_ids"].keys()) == list(manager._recent_fill_ids)
    for state, frozen in handed_over:
        assert [materialize(state["orders"]), materialize(state["recent_fill_ids"])] == frozen


def big_book(n: int) -> tuple[Portfolio, Any]:
    book = Portfolio(Decimal(10**9))
    manager, _, _ = make_order_manager()
    for k in range(n):
        symbol = f"S{k:05d}"
        book.mark(symbol, Decimal(100))
        book.apply_fill(symbol, Side.BUY, Decimal(1), Decimal(100), Decimal(0))
        manager.submit(OrderRequest(symbol=symbol, side=Side.BUY, quantity=Decimal(2)))
    return book, manager


def test_a_capture_after_one_change_shares_all_but_the_changed_chunks() -> None:
    book, manager = big_book(1_000)
    before = book.capture_state(), manager.capture_state()
    book.mark("S00500", Decimal(101))
    manager.cancel(next(iter(manager._open)))
    after = book.capture_state(), manager.capture_state()

    def fresh_chunks(old: Chunked[Any, Any], new: Chunked[Any, Any]) -> int:
        old_ids = {id(chunk) for _, chunk in old.chunks}
        return sum(1 for _, chunk in new.chunks if id(chunk) not in old_ids)

    assert len(after[1]["orders"].chunks) >= 15
    assert fresh_chunks(before[0]["positions"], after[0]["positions"]) == 0
    assert fresh_chunks(before[0]["marks"], after[0]["marks"]) == 1
    assert fresh_chunks(before[1]["orders"], after[1]["orders"]) == 1


# ---------------------------------------------------------------- the writer's encoding
def state_manager(tmp_path: Path) -> StateManager:
    return StateManager(StateSettings(directory=tmp_path, account_id="acct",
                                      strategy_id="enc"), manual_clock())


def capture(state: StateManager, book: Portfolio, manager: Any, reason: str = "t") -> Any:
    return state.capture(reason, strategy_state={"n": Decimal("1.5")},
                         portfolio=book.capture_state(), orders=manager.capture_state())


def reads_back_as_whole_book(state: StateManager, captured: Any) -> None:
    text = state.encode(captured, 1)
    whole = state.build(captured).model_copy(update={"number": 1})
    reference = Checkpoint.model_validate_json(whole.model_dump_json())  # as it reads back
    decoded = Checkpoint.model_validate_json(text)
    assert decoded.model_copy(update={"written_at": reference.written_at}) == reference


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fill", "mark", "submit", "cancel", "checkpoint"]),
                          st.integers(0, 150)), max_size=40))
def test_incremental_encoding_reads_back_as_the_whole_book_checkpoint(
        ops: list[tuple[str, int]]) -> None:
    import tempfile

    book, manager = big_book(150)  # several chunks per field
    with tempfile.TemporaryDirectory() as tmp:
        state = state_manager(Path(tmp))
        reads_back_as_whole_book(state, capture(state, book, manager))
        for op, k in ops:
            symbol = f"S{k:05d}"
            if op == "fill":
                book.apply_fill(symbol, Side.SELL, Decimal(1), Decimal(99), Decimal("0.1"))
            elif op == "mark":
                book.mark(symbol, Decimal(100 + k))
            elif op == "submit":
                manager.submit(OrderRequest(symbol=symbol, side=Side.SELL, quantity=Decimal(1)))
            elif op == "cancel" and manager._open:
                manager.cancel(list(manager._open)[k % len(manager._open)])
            else:
                reads_back_as_whole_book(state, capture(state, book, manager))
        reads_back_as_whole_book(state, capture(state, book, manager))
        state.store.close()


def test_after_one_change_the_writer_encodes_only_what_changed(tmp_path: Path) -> None:
    book, manager = big_book(1_000)
    state = state_manager(tmp_path)
    state.write(capture(state, book, manager))
    assert state.encoder.encoded_records >= 3_000  # orders, positions, marks: all new
    book.mark("S00007", Decimal(101))
    manager.cancel(next(iter(manager._open)))
    written = state.write(capture(state, book, manager))
    assert state.encoder.encoded_records <= 1 + 64  # the canceled order; one chunk of marks
    assert written.number == 2
    assert state.store.load_checkpoint(2).portfolio.marks["S00007"] == Decimal(101)
    state.store.close()


def test_the_encoder_gives_the_gil_away_as_it_works(tmp_path: Path) -> None:
    book, manager = big_book(200)
    ticks = itertools.count()
    pauses: list[float] = []
    encoder = CheckpointEncoder(yield_every_s=0.0005, pause=pauses.append,
                                clock=lambda: next(ticks) * 0.001)  # 1 ms per look
    state = state_manager(tmp_path)
    captured = capture(state, book, manager)
    encoder.encode(state._head(captured, 1), captured.portfolio, captured.orders)
    assert len(pauses) >= 400 and set(pauses) == {0}  # every record's work ends in a yield
    state.store.close()


@pytest.mark.parametrize(("field", "bad"), [
    ("orders", {"commission": Decimal(-1)}),
    ("positions", {"symbol": ""}),
    ("marks", Decimal("NaN")),
])
def test_a_record_that_would_not_read_back_is_never_written(
        tmp_path: Path, field: str, bad: Any) -> None:
    book, manager = big_book(3)
    state = state_manager(tmp_path)
    state.write(capture(state, book, manager))
    captured = capture(state, book, manager, "bad")
    portfolio, orders = dict(captured.portfolio), dict(captured.orders)
    if field == "orders":
        records = list(orders["orders"].values())
        orders["orders"] = [records[0] | bad, *records[1:]]
    elif field == "positions":
        records = list(portfolio["positions"].values())
        portfolio["positions"] = [records[0] | bad, *records[1:]]
    else:
        portfolio["marks"] = {**dict(portfolio["marks"].items()), "S00000": bad}
    broken = type(captured)(captured.reason, captured.at, captured.strategy_state, portfolio,
                            orders, captured.journal_sequence)
    with pytest.raises(StateError, match="could not be checkpointed"):
        state.write(broken)
    assert state.store.checkpoint_numbers() == [1]
    state.write(capture(state, book, manager, "good"))  # the encoder's caches survived
    assert state.store.load_checkpoint().reason == "good"
    state.store.close()


@pytest.mark.parametrize("cut", [1, 100, 1_000, -2])
def test_a_truncated_encoded_checkpoint_is_refused_whole(tmp_path: Path, cut: int) -> None:
    book, manager = big_book(20)
    state = state_manager(tmp_path)
    text = state.encode(capture(state, book, manager), 1)
    state.store.save_checkpoint_text(1, 0, text[:cut])
    with pytest.raises(StateError, match="checkpoint 1 is invalid"):
        state.store.load_checkpoint(1)
    state.store.close()


# ---------------------------------------------------------------- consistency while trading
class Churner(Strategy):
    """Buys and sells one unit of a rotating symbol on every tick."""

    def __init__(self) -> None:
        self.ticks = 0

    def on_market_data(self, event: MarketData) -> None:
        self.ticks += 1
        side = "buy" if self.ticks % 3 else "sell"
        self.ctx.submit_order(event.symbol, side, Decimal(1))

    def get_state(self) -> dict[str, Any]:
        return {"ticks": self.ticks}


def test_checkpoints_taken_while_the_book_moves_are_each_consistent(tmp_path: Path) -> None:
    """Every kept checkpoint, written by the writer thread while the dispatcher traded:
    each position equals the signed fills of its orders, and the commissions paid equal
    the orders' commissions (the portfolio and the order book are of the same instant)."""
    clock = SystemClock()
    settings_ = StateSettings(directory=tmp_path, account_id="acct", strategy_id="churn",
                              checkpoint_interval_s=0.005, debounce_s=0.001,
                              keep_checkpoints=50)
    state = StateManager(settings_, clock)
    engine = LiveTradingEngine(Churner(), broker=RecordingPaperBroker(
        PaperBrokerConfig(commission_bps=Decimal(3)), clock=None), clock=clock,
        settings=EngineSettings(market_data_policy="unbounded"),
        order_ids=ClientOrderIdGenerator("c"), state=state)
    engine.start()
    stop = threading.Event()
    try:
        with frequent_thread_switches():
            def feed() -> None:
                for i in itertools.count():
                    if stop.is_set() or i >= 3_000:
                        return
                    engine.publish(md(f"S{i % 7}", 100 + i % 5, ts=clock.now(), volume=10))
            producer = threading.Thread(target=feed, name="test-feed")
            producer.start()
            producer.join(20)
            stop.set()
            engine.wait_until_idle(10)
    finally:
        stop.set()
        engine.stop()
    numbers = state.store.checkpoint_numbers()
    assert len(numbers) >= 3
    last = state.store.load_checkpoint()
    assert sum(o.filled_quantity for o in last.orders) > 100  # it did trade throughout
    for number in numbers:
        checkpoint = state.store.load_checkpoint(number)
        signed: dict[str, Decimal] = {}
        commissions = Decimal(0)
        for order in checkpoint.orders:
            sign = 1 if order.side is Side.BUY else -1
            signed[order.symbol] = (signed.get(order.symbol, Decimal(0))
                                    + sign * order.filled_quantity)
            commissions += order.commission
        positions = {p.symbol: p.quantity for p in checkpoint.portfolio.positions}
        assert {s: q for s, q in positions.items() if q} == {s: q for s, q in signed.items() if q}
        assert checkpoint.portfolio.commissions == commissions
    state.store.close()
