"""Suite 12, venue_round_trip: order -> CCXTAdapter (ccxt binance) -> sim-exchange -> fill.

One market order at a time through ``CCXTAdapter.submit_order`` (called from this thread,
as the engine's broker-executor thread does): ccxt signs it, posts it over HTTP to
``livetrade sim-exchange`` running in its own process on 127.0.0.1, the simulator matches
it and answers with its fills, and the clock stops when the ``OrderFill`` reaches the sink.
Measured bare and through the resilience stack (``ResilientBroker``: breaker + outer
deadline thread per call), so the table shows what the guard costs per order. Baseline
from the same run: the paper broker's round trip (no thread hop, no socket).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from time import perf_counter_ns
from typing import Any

import ccxt

from benchmarks.config import Sizes
from benchmarks.results import JsonObject, Row, SuiteResult, latency_text
from benchmarks.stats import settle, summarize_ns
from benchmarks.workloads import Progress
from livetrade.brokers.base import BrokerAdapter
from livetrade.brokers.ccxt.adapter import CCXTAdapter
from livetrade.brokers.ccxt.capabilities import capabilities
from livetrade.brokers.paper import PaperBroker
from livetrade.events import Event, MarketData, OrderFill, Side
from livetrade.orders import OrderRequest
from livetrade.resilience.guarded import ResilientBroker

TITLE = "venue_round_trip: submit -> CCXTAdapter -> sim-exchange (own process) -> fill"
ORDERS = {"smoke": 20, "quick": 200, "full": 1000}
WARMUP = 10
SYMBOL = "BTC/USDT"


class _FillWaiter:
    def __init__(self) -> None:
        self.filled = threading.Event()

    def __call__(self, event: Event) -> None:
        if isinstance(event, OrderFill):
            self.filled.set()


def _request(i: int) -> OrderRequest:
    # Buys only: the simulator charges a buy's fee in BTC, so a sell of the same size
    # would not be covered; 2,000 x 0.001 BTC stays well inside the 100,000 USDT account.
    return OrderRequest(SYMBOL, Side.BUY, Decimal("0.001"))


@contextmanager
def sim_process() -> Iterator[dict[str, Any]]:
    """``livetrade sim-exchange`` in its own process, as an exchange would be."""
    proc = subprocess.Popen([sys.executable, "-m", "livetrade", "sim-exchange", "--json",
                             "--port", "0", "--ws-port", "0", "--price-source", "manual",
                             "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        yield info
    finally:
        proc.terminate()
        proc.wait(10.0)


def _client(info: dict[str, Any]) -> ccxt.binance:
    client = ccxt.binance({"apiKey": info["api_key"], "secret": info["api_secret"],
                           "enableRateLimit": False, "timeout": 10_000,
                           "options": dict(capabilities("binance").sim_options)})
    client.urls["api"] = capabilities("binance").sim_urls(info["rest_url"])
    return client


def _time_orders(broker: BrokerAdapter, waiter: _FillWaiter, orders: int, tag: str
                 ) -> JsonObject:
    samples: list[int] = []
    for i in range(orders + WARMUP):
        waiter.filled.clear()
        start = perf_counter_ns()
        broker.submit_order(f"{tag}{i}", _request(i))
        if not waiter.filled.wait(10.0):
            raise RuntimeError(f"no fill for order {tag}{i} within 10 s")
        if i >= WARMUP:
            samples.append(perf_counter_ns() - start)
    return summarize_ns(samples)


def venue_round_trips(orders: int) -> tuple[JsonObject, JsonObject]:
    """(bare adapter, adapter inside ResilientBroker) submit -> fill summaries."""
    with sim_process() as info:
        waiter = _FillWaiter()
        adapter = CCXTAdapter(_client(info), capabilities("binance"), symbols=[SYMBOL],
                              quote_currency="USDT", poll_interval_s=60.0,
                              secrets=[info["api_key"], info["api_secret"]])
        adapter.connect(waiter)
        # As in the engine, the adapter has seen the market's last price (a feed's tick),
        # so a market order is checked against the minimum notional without a ticker call.
        adapter.on_market_data(MarketData.model_validate(
            {"symbol": SYMBOL, "timestamp": "2024-01-02T14:30:00Z", "price": "30000"}))
        guarded = ResilientBroker(adapter)
        try:
            bare = _time_orders(adapter, waiter, orders, "bare-")
            guarded.connect(waiter)
            wrapped = _time_orders(guarded, waiter, orders, "guarded-")
        finally:
            guarded.disconnect()  # the adapter's poller and the guard's call threads
    return bare, wrapped


def paper_round_trip(orders: int) -> JsonObject:
    waiter = _FillWaiter()
    broker = PaperBroker()
    broker.connect(waiter)
    broker.on_market_data(MarketData.model_validate(
        {"symbol": SYMBOL, "timestamp": "2024-01-02T14:30:00Z", "price": "30000"}))
    result = _time_orders(broker, waiter, orders, "p")
    broker.disconnect()
    return result


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("venue_round_trip", TITLE)
    orders = ORDERS[sizes.mode]
    settle()
    paper = paper_round_trip(orders)
    progress(f"paper broker round trip: p99 {paper['p99_us']} us")
    settle()
    bare, guarded = venue_round_trips(orders)
    progress(f"ccxt -> sim: p50 {bare['p50_us']} us, p99 {bare['p99_us']} us; "
             f"guarded p99 {guarded['p99_us']} us")
    result.figures.update(orders=orders, paper_round_trip=paper, ccxt_submit_to_fill=bare,
                          ccxt_guarded_submit_to_fill=guarded)
    paper_p99, bare_p99, guarded_p99 = paper["p99_us"], bare["p99_us"], guarded["p99_us"]
    assert isinstance(paper_p99, float) and isinstance(bare_p99, float)
    assert isinstance(guarded_p99, float)
    result.rows.append(Row(f"ccxt binance -> sim: submit -> fill ({orders} orders)",
                           latency_text(bare), baseline=f"paper {latency_text(paper)}",
                           ratio=bare_p99 / paper_p99 if paper_p99 else None))
    result.rows.append(Row("same through ResilientBroker (breaker + deadline)",
                           latency_text(guarded), baseline=f"bare {latency_text(bare)}",
                           ratio=guarded_p99 / bare_p99 if bare_p99 else None))
    result.notes.append("One order in flight, market buys of 0.001 BTC; "
                        "the fill comes back in the order's answer (newOrderRespType FULL), "
                        "so this is one signed REST round trip through ccxt plus matching. "
                        "The simulator runs in its own process on 127.0.0.1.")
    return result
