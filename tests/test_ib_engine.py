"""The engine with IBAdapter, end to end against the TWS peer, and the thread boundary.

Market data comes over the IB connection itself (``[broker] market_data = true``): the peer
streams last-price ticks, the adapter turns them into ``MarketData`` events, the example
``SmaCrossover`` trades on them, and its orders go back to the peer through the adapter.
"""

from __future__ import annotations

import ast
import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from livetrade.app import build_engine
from livetrade.brokers.base import EventSink
from livetrade.brokers.ib.adapter import IBAdapter
from livetrade.config import load_config
from livetrade.engine import LiveTradingEngine
from livetrade.events import Event, MarketData, OrderFill
from livetrade.orders import OrderRequest
from livetrade.testing.ib_harness import ib_section
from livetrade.testing.tws_peer import DropConnection, Rest, TWSPeer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))  # examples/ is not a package (as test_examples)

from sma_crossover import SmaCrossover  # noqa: E402

D = Decimal
EXAMPLES = ROOT / "examples"
Observation = tuple[str, int, object, object]  # where, thread ident, set loop, running loop


def observe(where: str, into: list[Observation]) -> None:
    """Which event loop (if any) this thread has set, and which one is running."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    into.append((where, threading.get_ident(), getattr(local, "_loop", None),
                 asyncio._get_running_loop()))


class ObservedSma(SmaCrossover):
    """The example strategy, noting the loop state of the dispatcher thread it runs on."""

    def __init__(self, seen: list[Observation]) -> None:
        super().__init__(fast=2, slow=4, quantity=10)
        self.seen = seen
        self.ticks = 0
        self.fills: list[OrderFill] = []
        self.changed = threading.Condition()

    def on_market_data(self, event: MarketData) -> None:
        observe("dispatcher", self.seen)
        super().on_market_data(event)
        with self.changed:
            self.ticks += 1
            self.changed.notify_all()

    def on_fill(self, fill: OrderFill) -> None:
        observe("dispatcher", self.seen)
        super().on_fill(fill)
        with self.changed:
            self.fills.append(fill)
            self.changed.notify_all()


class ObservedIBAdapter(IBAdapter):
    """The real adapter, noting the loop state of the threads that call it and of the
    thread its events come from."""

    seen: list[Observation]

    def connect(self, sink: EventSink) -> None:
        observe("engine-start", self.seen)

        def noting(event: Event) -> None:
            observe("adapter", self.seen)
            sink(event)
        super().connect(noting)

    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        observe("executor", self.seen)
        super().submit_order(client_order_id, request)


@pytest.fixture(params=["ib_insync", "ib_async"])
def library(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    pytest.importorskip(name)
    return name


@pytest.fixture
def peer() -> Iterator[TWSPeer]:
    with TWSPeer() as started:
        started.set_price("AAPL", D(100))
        yield started


def in_plain_thread(work: Callable[[], object]) -> None:
    """Run ``work`` on a fresh plain thread (no event loop) and wait for it."""
    thread = threading.Thread(target=work, name="plain")
    thread.start()
    thread.join(30.0)
    assert not thread.is_alive()


def test_sma_crossover_trades_through_ib_end_to_end_with_asyncio_confined(
        peer: TWSPeer, library: str) -> None:
    seen: list[Observation] = []
    adapter = ObservedIBAdapter.from_section(
        ib_section(peer.port, library, market_data=True, symbols=["AAPL"]))
    assert isinstance(adapter, ObservedIBAdapter)
    adapter.seen = seen
    strategy = ObservedSma(seen)
    engine = LiveTradingEngine(strategy, broker=adapter)
    in_plain_thread(engine.start)
    try:
        assert peer.wait_for(lambda: peer.subscribers("AAPL") == 1)

        def tick(price: int | str) -> None:
            with strategy.changed:
                before = strategy.ticks
                peer.push_tick("AAPL", D(price))
                assert strategy.changed.wait_for(lambda: strategy.ticks > before, 5.0)

        for price in (100, 100, 100, 100, 101):  # fast SMA crosses above: buy 10
            tick(price)
        with strategy.changed:
            assert strategy.changed.wait_for(lambda: len(strategy.fills) == 1, 5.0)
        tick(99)  # crosses below: sell the position
        with strategy.changed:
            assert strategy.changed.wait_for(lambda: len(strategy.fills) == 2, 5.0)
        assert engine.wait_until_idle(5.0)
        status = engine.status()
    finally:
        in_plain_thread(engine.stop)

    buy, sell = strategy.fills
    # A market order fills at the peer's last price: the tick that made the strategy trade.
    assert (buy.fill_amount, buy.fill_price, buy.commission) == (D(10), D(101), D("0.05"))
    assert (sell.fill_amount, sell.fill_price) == (D(10), D(99))
    assert status.fills == 2 and status.positions.get("AAPL", D(0)) == 0
    assert [(e.order.action, e.shares) for e in peer.book.executions] == [
        ("BUY", D(10)), ("SELL", D(10))]
    assert peer.book.positions["AAPL"][0] == 0

    # Nothing of asyncio escapes: only the adapter's own thread has a loop.
    ib_threads = {ident for where, ident, loop, _ in seen if where == "adapter"}
    assert len(ib_threads) == 1 and all(loop is not None for w, _, loop, _ in seen
                                        if w == "adapter")
    others = [o for o in seen if o[0] != "adapter"]
    assert {o[0] for o in others} == {"engine-start", "dispatcher", "executor"}
    assert all(ident not in ib_threads for _, ident, _, _ in others)
    assert all(loop is None and running is None for _, _, loop, running in others)
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    assert getattr(local, "_loop", None) is None  # the test's own thread, too
    assert not any(t.name == "livetrade-ib-loop" for t in threading.enumerate())


def test_only_the_ib_package_imports_asyncio_or_an_ib_library() -> None:
    root = Path(__file__).resolve().parent.parent / "livetrade"
    confined = root / "brokers" / "ib"
    offenders = []
    for path in root.rglob("*.py"):
        if confined in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("asyncio", "ib_insync", "ib_async") for n in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_engine_from_config_survives_a_disconnect_mid_submit_with_one_order(
        peer: TWSPeer, library: str, tmp_path: Path) -> None:
    """The whole configured stack (resilience wrappers included): the strategy's buy is sent,
    the socket drops before TWS answers, the adapter reconnects, the order is found again by
    its orderRef and filled - and TWS holds exactly one order."""
    text = (EXAMPLES / "ib-paper.toml").read_text(encoding="utf-8")
    text = text.replace("port = 7497 ", f"port = {peer.port} ").replace(
        'library = "ib_insync"', f'library = "{library}"').replace(
        'symbols = ["AAPL", "MSFT"]', 'symbols = ["AAPL"]').replace(
        "params = { fast = 5, slow = 20, quantity = \"1\" }",
        "params = { fast = 2, slow = 4, quantity = \"10\" }").replace(
        "reconnect_initial_s = 1 ", "reconnect_initial_s = 0.05 ").replace(
        "max_order_notional = \"5000\"", "max_order_notional = \"5000000\"")
    text += "\n[resilience]\nretry_initial_s = 0.05\nretry_max_s = 0.2\n"
    path = tmp_path / "ib.toml"
    path.write_text(text, encoding="utf-8")
    engine = build_engine(load_config(path))
    in_plain_thread(engine.start)
    try:
        assert peer.wait_for(lambda: peer.subscribers("AAPL") == 1)
        peer.script(DropConnection(then=Rest()))
        for price in (100, 100, 100, 100, 101, 103):  # crosses above: the strategy buys
            peer.push_tick("AAPL", D(price))
        assert peer.wait_for(lambda: len(peer.book.orders) == 1, 10.0)
        assert peer.wait_for(lambda: peer.connections >= 2, 10.0)  # reconnected
        (order,) = peer.book.orders.values()
        assert engine.wait_until_idle(5.0)
        peer.fill(order.order_ref)
        deadline = time.monotonic() + 10.0
        while engine.status().positions.get("AAPL") != D(10) and time.monotonic() < deadline:
            time.sleep(0.01)
        status = engine.status()
    finally:
        in_plain_thread(engine.stop)
    assert status.positions.get("AAPL") == D(10)
    assert status.fills == 1
    assert len(peer.book.orders) == 1  # never re-sent
    assert len(peer.orders_with_ref(order.order_ref)) == 1
