"""Suite 10, ib_round_trip: order -> IB adapter thread -> TWS peer -> fill event back.

One market order at a time through ``IBAdapter.submit_order`` (called from this thread, as
the engine's broker-executor thread does): it crosses into the adapter's asyncio thread,
ib_insync encodes it onto a loopback socket, the TWS peer acknowledges and fills it
(openOrder, orderStatus, execDetails, commissionReport), and the clock stops when the
``OrderFill`` (with its commission) reaches the sink. Also timed: ``submit_order``'s own
return (TWS's acknowledgement). Run for ib_insync and, when installed, ib_async.

The peer runs in a child process, as TWS would. Baseline from the same run: the paper
broker's round trip (submit -> fill in the sink), which has no thread hop and no socket.
The gap is the price of the thread boundary plus the TWS wire protocol on loopback (both
ends encode and decode ~150-field messages in Python); a real TWS adds its own processing
and the exchange.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from time import perf_counter, perf_counter_ns

from benchmarks.config import Sizes
from benchmarks.results import JsonObject, Row, SuiteResult, latency_text
from benchmarks.stats import settle, summarize_ns
from benchmarks.workloads import Progress
from livetrade.brokers.ib.adapter import IBAdapter
from livetrade.brokers.paper import PaperBroker
from livetrade.events import Event, MarketData, OrderFill, Side
from livetrade.orders import OrderRequest
from livetrade.testing.ib_harness import ib_section

TITLE = "ib_round_trip: submit -> IB adapter thread -> TWS peer -> fill (loopback)"
ORDERS = {"smoke": 20, "quick": 100, "full": 2000}
WARMUP = 10
ORDER_INTERVAL_S = 0.025  # 40 orders/s
SYMBOL = "AAPL"


class _FillWaiter:
    """A sink that lets the submitting thread wait for the next fill."""

    def __init__(self) -> None:
        self.filled = threading.Event()

    def __call__(self, event: Event) -> None:
        if isinstance(event, OrderFill):
            self.filled.set()


def _request(i: int) -> OrderRequest:
    return OrderRequest(SYMBOL, Side.BUY if i % 2 == 0 else Side.SELL, Decimal(1))


@contextmanager
def peer_process() -> Iterator[int]:
    """The TWS peer in its own process (as TWS would be), on a free loopback port."""
    proc = subprocess.Popen([sys.executable, "-m", "livetrade.testing.tws_peer", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "TWS peer listening on 127.0.0.1:PORT"
        if "listening" not in line:
            raise RuntimeError(f"TWS peer did not start: {line!r}")
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(10.0)


def ib_round_trip(library: str, orders: int) -> tuple[JsonObject, JsonObject]:
    """(submit -> fill, submit -> acknowledged) latency summaries."""
    fills: list[int] = []
    acks: list[int] = []
    waiter = _FillWaiter()
    with peer_process() as port:
        adapter = IBAdapter.from_section(ib_section(port, library, request_timeout_s=10.0))
        adapter.connect(waiter)
        try:
            next_at = perf_counter()
            for i in range(orders + WARMUP):
                # Below IB's 50 messages/s (ib_insync throttles at 45/s): measure latency,
                # not the client's pacing queue.
                next_at += ORDER_INTERVAL_S
                time.sleep(max(0.0, next_at - perf_counter()))
                waiter.filled.clear()
                start = perf_counter_ns()
                adapter.submit_order(f"b{i}", _request(i))
                acked = perf_counter_ns()
                if not waiter.filled.wait(10.0):
                    raise RuntimeError(f"no fill for order {i} within 10 s")
                done = perf_counter_ns()
                if i >= WARMUP:
                    acks.append(acked - start)
                    fills.append(done - start)
        finally:
            adapter.disconnect()
    return summarize_ns(fills), summarize_ns(acks)


def paper_round_trip(orders: int) -> JsonObject:
    waiter = _FillWaiter()
    broker = PaperBroker()
    broker.connect(waiter)
    broker.on_market_data(MarketData.model_validate(
        {"symbol": SYMBOL, "timestamp": "2024-01-02T14:30:00Z", "price": "100"}))
    samples: list[int] = []
    for i in range(orders + WARMUP):
        waiter.filled.clear()
        start = perf_counter_ns()
        broker.submit_order(f"p{i}", _request(i))
        if not waiter.filled.wait(10.0):
            raise RuntimeError(f"paper broker did not fill order {i}")
        if i >= WARMUP:
            samples.append(perf_counter_ns() - start)
    broker.disconnect()
    return summarize_ns(samples)


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("ib_round_trip", TITLE)
    orders = ORDERS[sizes.mode]
    settle()
    paper = paper_round_trip(orders)
    progress(f"paper broker round trip: p99 {paper['p99_us']} us")
    result.figures.update(orders=orders, paper_round_trip=paper)
    for library in ("ib_insync", "ib_async"):
        if importlib.util.find_spec(library) is None:
            result.notes.append(f"{library} is not installed: not measured")
            continue
        settle()
        fill, ack = ib_round_trip(library, orders)
        progress(f"{library}: submit->fill p50 {fill['p50_us']} us, p99 {fill['p99_us']} us")
        result.figures[f"{library}_submit_to_fill"] = fill
        result.figures[f"{library}_submit_acknowledged"] = ack
        paper_p99 = paper["p99_us"]
        fill_p99 = fill["p99_us"]
        assert isinstance(paper_p99, float) and isinstance(fill_p99, float)
        result.rows.append(Row(f"{library}: submit -> fill p50/p99/p99.9/max ({orders} orders)",
                               latency_text(fill), baseline=f"paper {latency_text(paper)}",
                               ratio=fill_p99 / paper_p99 if paper_p99 else None))
        result.rows.append(Row(f"{library}: submit_order returns (TWS ack)",
                               latency_text(ack)))
    result.notes.append("One order in flight, 40 orders/s (under IB's 50 messages/s; "
                        "ib_insync queues requests past 45/s, which adds up to a second); "
                        "market orders alternate buy/sell; the TWS peer runs in its own "
                        "process on 127.0.0.1. Ratio is IB p99 / paper-broker p99.")
    return result
