"""The broker executor: an I/O broker's blocking calls on a thread of their own."""

from __future__ import annotations

import threading
import time

import pytest
from kit import T0, D, RecordingStrategy, at, join_all, manual_clock, md, request, wait_until

from livetrade.brokers.executor import BrokerExecutor
from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.engine import LiveTradingEngine
from livetrade.errors import EngineStateError, PermanentBrokerError, TransientBrokerError
from livetrade.events import (
    Event,
    MarketData,
    OrderCanceled,
    OrderCancelRejected,
    OrderFill,
    OrderReject,
    OrderType,
    SystemErrorEvent,
)
from livetrade.orders import ClientOrderIdGenerator, OrderRequest, OrderStatus

pytestmark = pytest.mark.timeout(60)


class ThreadedPaperBroker(PaperBroker):
    """The paper venue, declared non-inline so the engine drives it through an executor.

    Notes the thread of every order call, and misbehaves on request: symbol "FLAKY" times
    out, symbol "BUG" hits an adapter bug, and cancels fail permanently if
    ``cancel_error`` is set. ``gate``, when set, must open before a submit proceeds.
    """

    inline = False

    def __init__(self, config: PaperBrokerConfig | None = None) -> None:
        super().__init__(config, clock=manual_clock())
        self.threads: list[str] = []
        self.cancel_error: Exception | None = None
        self.gate: threading.Event | None = None

    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        self.threads.append(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(30)
        if request.symbol == "FLAKY":
            raise TransientBrokerError("venue timed out", client_order_id=client_order_id)
        if request.symbol == "BUG":
            raise KeyError("adapter bug")
        super().submit_order(client_order_id, request)

    def cancel_order(self, client_order_id: str) -> None:
        self.threads.append(threading.current_thread().name)
        if self.cancel_error is not None:
            raise self.cancel_error
        super().cancel_order(client_order_id)


class Sink:
    """A thread-safe event list that can be waited on."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for_count(self, n: int, timeout_s: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.events) >= n, timeout_s)

    def of(self, cls: type[Event]) -> list[Event]:
        with self._cond:
            return [e for e in self.events if isinstance(e, cls)]


def executor_over(broker: ThreadedPaperBroker) -> tuple[BrokerExecutor, Sink]:
    sink = Sink()
    broker.connect(sink)
    executor = BrokerExecutor(broker, sink)
    executor.start()
    return executor, sink


# ---------------------------------------------------------------- the executor alone

def test_requests_run_in_order_on_the_executor_thread() -> None:
    """send/cancel return at once; the broker calls happen, in order, on the executor's
    own thread; stop() finishes the queue first."""
    broker = ThreadedPaperBroker()
    broker.on_market_data(md(price=100))
    executor, sink = executor_over(broker)
    executor.send("c1", request(quantity=2))
    executor.send("c2", request(order_type=OrderType.LIMIT, limit_price=D(50)))
    executor.cancel("c2")
    assert executor.stop() is True
    assert [type(e).__name__ for e in sink.events] == [
        "OrderAccepted", "OrderFill", "OrderAccepted", "OrderCanceled"]
    assert broker.threads == ["livetrade-broker-paper"] * 3


def test_a_refused_order_becomes_an_order_reject() -> None:
    """OrderRejectedError from the adapter is turned into an OrderReject event."""
    broker = ThreadedPaperBroker(PaperBrokerConfig(symbols=("AAPL",)))
    executor, sink = executor_over(broker)
    executor.send("c1", request("MSFT"))
    assert executor.stop()
    [reject] = sink.events
    assert isinstance(reject, OrderReject)
    assert (reject.client_order_id, reject.symbol) == ("c1", "MSFT")
    assert reject.reason.startswith("broker refused: unknown symbol 'MSFT'")


def test_a_transient_failure_is_reported_not_rejected() -> None:
    """Outcome unknown: a SystemErrorEvent naming the call and order, and no reject."""
    broker = ThreadedPaperBroker()
    executor, sink = executor_over(broker)
    executor.send("c1", request("FLAKY"))
    assert executor.stop()
    [error] = sink.events
    assert isinstance(error, SystemErrorEvent)
    assert error.error_type == "TransientBrokerError" and error.source == "broker:paper"
    assert error.context == {"call": "submit", "client_order_id": "c1"}


def test_an_adapter_bug_is_reported_and_the_thread_keeps_working() -> None:
    """An unexpected exception does not end the executor: the next request still runs."""
    broker = ThreadedPaperBroker()
    broker.on_market_data(md(price=100))
    executor, sink = executor_over(broker)
    executor.send("c1", request("BUG"))
    executor.send("c2", request())
    assert executor.stop()
    assert [type(e).__name__ for e in sink.events] == [
        "SystemErrorEvent", "OrderAccepted", "OrderFill"]


@pytest.mark.parametrize("error", [PermanentBrokerError("no such order"),
                                   TransientBrokerError("timeout")])
def test_a_failed_cancel_is_answered_with_a_cancel_reject(error: Exception) -> None:
    """The order manager waits in PENDING_CANCEL for an answer; a failed cancel call must
    give it one (as well as the error report)."""
    broker = ThreadedPaperBroker()
    broker.cancel_error = error
    executor, sink = executor_over(broker)
    executor.cancel("c1")
    assert executor.stop()
    assert [type(e) for e in sink.events] == [SystemErrorEvent, OrderCancelRejected]
    answer = sink.events[1]
    assert isinstance(answer, OrderCancelRejected) and answer.client_order_id == "c1"


def test_stop_is_bounded_when_the_broker_hangs() -> None:
    """A venue call that never returns cannot hang shutdown: stop() reports False."""
    broker = ThreadedPaperBroker()
    broker.gate = threading.Event()
    executor, _ = executor_over(broker)
    executor.send("c1", request(order_type=OrderType.LIMIT, limit_price=D(1)))
    assert stop_in_thread(executor, 0.2) is False
    broker.gate.set()


def stop_in_thread(executor: BrokerExecutor, timeout_s: float) -> bool:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(executor.stop(timeout_s)),
                              daemon=True)
    thread.start()
    join_all([thread], timeout_s=10)
    return result[0]


def test_the_executor_starts_once() -> None:
    broker = ThreadedPaperBroker()
    executor, _ = executor_over(broker)
    try:
        with pytest.raises(EngineStateError):
            executor.start()
    finally:
        executor.stop()


# ---------------------------------------------------------------- through the engine

def threaded_engine(strategy: RecordingStrategy,
                    config: PaperBrokerConfig | None = None
                    ) -> tuple[LiveTradingEngine, ThreadedPaperBroker]:
    broker = ThreadedPaperBroker(config)
    engine = LiveTradingEngine(strategy, broker=broker, clock=manual_clock(),
                               order_ids=ClientOrderIdGenerator("t"))
    return engine, broker


def test_threaded_engine_routes_orders_through_the_executor_and_books_fills() -> None:
    """engine.start(): a market order sent from the strategy goes through the executor
    thread, its fill comes back through the dispatcher thread, and stop() is clean."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if len(s.of("market_data")) == 1:
            s.ctx.buy(event.symbol, 4)

    strategy = RecordingStrategy(on_bar)
    engine, broker = threaded_engine(strategy)
    engine.start()
    try:
        engine.publish(md(price=100, ts=at(1)))
        assert strategy.wait_for(lambda s: len(s.of("fill")) == 1)
        engine.publish(md(price=110, ts=at(2)))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 2)
    finally:
        report = engine.stop()
    assert report.clean and report.undelivered == () and report.open_orders == 0
    [fill] = strategy.of("fill")
    assert isinstance(fill, OrderFill) and fill.fill_price == 100
    assert engine.portfolio.position("AAPL") == 4
    assert broker.threads == ["livetrade-broker-paper"]
    assert strategy.names[0] == "start" and strategy.names[-1] == "stop"


def test_threaded_engine_turns_a_broker_refusal_into_on_reject() -> None:
    """OrderRejectedError raised on the executor thread reaches the strategy's on_reject
    and ends the order REJECTED."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        s.ctx.buy("MSFT", 1)

    strategy = RecordingStrategy(on_bar)
    engine, _ = threaded_engine(strategy, PaperBrokerConfig(symbols=("AAPL",)))
    engine.start()
    try:
        engine.publish(md(price=100, ts=at(1)))
        assert strategy.wait_for(lambda s: len(s.of("reject")) == 1)
    finally:
        engine.stop()
    [reject] = strategy.of("reject")
    assert reject.reason.startswith("broker refused: unknown symbol 'MSFT'")
    order = engine.context.order(reject.client_order_id)
    assert order is not None and order.status is OrderStatus.REJECTED


def test_threaded_engine_cancel_racing_a_broker_refusal_leaves_nothing_open() -> None:
    """The strategy cancels an order the venue is about to refuse. The reject and the
    cancel's refusal arrive in either order; the order always ends REJECTED."""
    cids: list[str] = []

    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        cid = s.ctx.buy("MSFT", 1)
        cids.append(cid)
        assert s.ctx.cancel_order(cid)

    strategy = RecordingStrategy(on_bar)
    engine, _ = threaded_engine(strategy, PaperBrokerConfig(symbols=("AAPL",)))
    engine.start()
    try:
        for second in range(1, 6):
            engine.publish(md(price=100, ts=at(second)))
        assert strategy.wait_for(lambda s: len(s.of("reject")) == 5)
    finally:
        report = engine.stop()
    assert report.open_orders == 0 and engine.context.open_orders() == ()
    for cid in cids:
        order = engine.context.order(cid)
        assert order is not None and order.status is OrderStatus.REJECTED
    assert not [e for e in strategy.of("error") if e.error_type == "invalid_order_transition"]


def test_a_canceled_resting_order_is_confirmed_through_the_executor() -> None:
    """Cancel requests travel the same thread, after the submit they follow."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if len(s.of("market_data")) == 1:
            s.ctx.cancel_order(s.ctx.buy(event.symbol, 1, order_type="limit",
                                         limit_price=50))

    strategy = RecordingStrategy(on_bar)
    engine, broker = threaded_engine(strategy)
    canceled: list[OrderCanceled] = []
    engine.dispatcher.subscribe(OrderCanceled, canceled.append)
    engine.start()
    try:
        engine.publish(md(price=100, ts=T0))
        # Wait for the answer itself: broker events still in flight when stop() begins
        # are reported as undelivered (see the engine's shutdown order).
        assert wait_until(lambda: len(canceled) == 1)
    finally:
        report = engine.stop()
    assert report.clean
    assert [c.client_order_id for c in canceled] == ["t-1"]
    order = engine.context.order("t-1")
    assert order is not None and order.status is OrderStatus.CANCELED
    assert broker.get_open_orders() == [] and engine.context.open_orders() == ()


@pytest.mark.parametrize("attempt", range(5))
def test_stop_right_after_a_cancel_still_books_the_brokers_answer(attempt: int) -> None:
    """stop() straight after a cancel: the broker thread's late answer is handled, not
    reported as undelivered (the engine stops the broker thread before it gives up on the
    queue, and the caller's thread handles what arrives meanwhile)."""
    sent = threading.Event()

    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if len(s.of("market_data")) == 1:
            s.ctx.cancel_order(s.ctx.buy(event.symbol, 1, order_type="limit",
                                         limit_price=50))
            sent.set()

    strategy = RecordingStrategy(on_bar)
    engine, broker = threaded_engine(strategy)
    answer_cancel = broker.cancel_order

    def slow_cancel(client_order_id: str) -> None:
        time.sleep(0.05 * attempt)  # the answer lands before, during or after the drain
        answer_cancel(client_order_id)

    broker.cancel_order = slow_cancel  # type: ignore[method-assign]
    engine.start()
    engine.publish(md(price=100, ts=T0))
    assert sent.wait(10)
    report = engine.stop()
    assert report.clean and report.undelivered == ()
    order = engine.context.order("t-1")
    assert order is not None and order.status is OrderStatus.CANCELED
    assert broker.get_open_orders() == [] and engine.context.open_orders() == ()
