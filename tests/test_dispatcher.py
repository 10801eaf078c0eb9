"""The dispatcher: priority then FIFO, guarded handlers, explicit backpressure, honest stop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kit import T0, fill, frequent_thread_switches, join_all, md, wait_until

from livetrade.dispatcher import Dispatcher
from livetrade.errors import EngineStateError
from livetrade.events import (
    Event,
    MarketData,
    OrderFill,
    OrderReject,
    ScheduledTrigger,
    SystemErrorEvent,
    trusted,
)
from livetrade.latency import LatencyRecorder

pytestmark = pytest.mark.timeout(60)

ALL_TYPES: tuple[type[Event], ...] = (
    SystemErrorEvent, OrderFill, OrderReject, ScheduledTrigger, MarketData)


# ---------------------------------------------------------------- tagged events
# Each event carries (producer, index) in ordinary fields, so an order check needs no wrapper.

def tagged(kind: str, producer: int, index: int) -> Event:
    p = f"P{producer}"
    if kind == "md":
        return trusted(MarketData, symbol=p, timestamp=T0, price=Decimal(1),
                       volume=Decimal(index))
    if kind == "fill":
        return fill(p, fill_id=str(index))
    if kind == "reject":
        return trusted(OrderReject, order_id=str(index), client_order_id=p, reason="r",
                       timestamp=T0)
    if kind == "trigger":
        return trusted(ScheduledTrigger, trigger_type=str(index), name=p, scheduled_time=T0,
                       actual_time=T0)
    return trusted(SystemErrorEvent, error_type="E", message=str(index), source=p, timestamp=T0)


def tag(event: Event) -> tuple[str, int]:
    if isinstance(event, MarketData):
        return event.symbol, int(event.volume)
    if isinstance(event, OrderFill):
        return event.client_order_id, int(event.fill_id)
    if isinstance(event, OrderReject):
        return event.client_order_id, int(event.order_id)
    if isinstance(event, ScheduledTrigger):
        return event.name, int(event.trigger_type)
    assert isinstance(event, SystemErrorEvent)
    return event.source, int(event.message)


def recording(dispatcher: Dispatcher) -> list[Event]:
    """Subscribe one list to every event type; return it."""
    seen: list[Event] = []
    for cls in ALL_TYPES:
        dispatcher.subscribe(cls, seen.append, f"record.{cls.__name__}")
    return seen


KINDS = ("md", "fill", "reject", "trigger", "error")


# ---------------------------------------------------------------- ordering

def test_events_are_dispatched_by_priority_then_in_publish_order() -> None:
    """Lower priority value first; within one priority, first published first."""
    d = Dispatcher()
    seen = recording(d)
    plan = ["md", "trigger", "reject", "fill", "error", "md", "fill", "error", "reject",
            "trigger"]
    for i, kind in enumerate(plan):
        d.publish(tagged(kind, 0, i))
    assert d.run_pending() == len(plan)
    assert [tag(e)[1] for e in seen] == [4, 7, 3, 6, 2, 8, 1, 9, 0, 5]


@given(st.lists(st.lists(st.sampled_from(KINDS), max_size=25), min_size=4, max_size=4))
def test_concurrent_producers_get_priority_order_and_fifo_per_producer(
        plans: list[list[str]]) -> None:
    """Property (a): four real producer threads fill the queue (released together by a
    barrier) before the dispatcher starts; the dispatcher thread then delivers every event
    once, in priority order, and each producer's events of one priority in its own order."""
    d = Dispatcher()
    seen = recording(d)
    barrier = threading.Barrier(len(plans))

    def produce(producer: int, plan: list[str]) -> None:
        barrier.wait(timeout=10)
        for index, kind in enumerate(plan):
            d.publish(tagged(kind, producer, index))

    threads = [threading.Thread(target=produce, args=(p, plan), daemon=True)
               for p, plan in enumerate(plans)]
    with frequent_thread_switches():
        for t in threads:
            t.start()
        join_all(threads)
    d.start()
    assert d.stop(drain=True) == []

    published = sorted((f"P{p}", i) for p, plan in enumerate(plans) for i in range(len(plan)))
    assert sorted(tag(e) for e in seen) == published
    priorities = [e.priority for e in seen]
    assert priorities == sorted(priorities)
    for producer in range(len(plans)):
        for priority in {e.priority for e in seen}:
            indices = [tag(e)[1] for e in seen
                       if e.priority == priority and tag(e)[0] == f"P{producer}"]
            assert indices == sorted(indices)
    assert d.stats().conflated == 0


def test_an_event_arriving_mid_batch_overtakes_the_market_data_still_queued() -> None:
    """The consumer dispatches a run of market data from its lane, but checks the inbox
    after every event: a fill published by a handler is next, not after the whole run."""
    d = Dispatcher()
    seen = recording(d)

    def on_tick(event: MarketData) -> None:
        if event.volume == 2:
            d.publish(tagged("fill", 0, 99))

    d.subscribe(MarketData, on_tick, "on_tick")
    for i in range(1, 6):
        d.publish(tagged("md", 0, i))
    assert d.run_pending() == 6
    assert [tag(e)[1] for e in seen] == [1, 2, 99, 3, 4, 5]


def test_a_burst_published_while_the_consumer_is_busy_is_delivered_in_priority_order() -> None:
    """Batch drain on the live thread: everything published while a handler runs reaches
    the lanes in one go and leaves them by priority, then in publish order."""
    d = Dispatcher()
    seen = recording(d)
    entered, release = threading.Event(), threading.Event()

    def hold(event: SystemErrorEvent) -> None:
        if event.source == "gate":
            entered.set()
            release.wait(30)

    d.subscribe(SystemErrorEvent, hold, "hold")
    d.start()
    d.publish(trusted(SystemErrorEvent, error_type="E", message="0", source="gate",
                      timestamp=T0))
    assert entered.wait(10)
    plan = [KINDS[(i * 7) % len(KINDS)] for i in range(200)]
    for i, kind in enumerate(plan):
        d.publish(tagged(kind, 1, i))
    release.set()
    assert d.stop(drain=True) == []
    burst = [e for e in seen if tag(e)[0] == "P1"]
    expected = sorted(range(len(plan)), key=lambda i: (tagged(plan[i], 1, i).priority, i))
    assert [tag(e)[1] for e in burst] == expected


def test_market_data_waiting_in_the_lane_counts_towards_the_conflation_watermark() -> None:
    """Ticks the consumer has already taken into its lane still count as queued."""
    d = Dispatcher(conflate_depth=3)
    seen: list[MarketData] = []
    entered, release = threading.Event(), threading.Event()

    def on_tick(event: MarketData) -> None:
        seen.append(event)
        if event.symbol == "X" and event.price == 1:
            entered.set()
            release.wait(30)

    d.subscribe(MarketData, on_tick, "on_tick")
    d.publish(md("X", 1))
    d.publish(md("X", 2))
    d.start()
    assert entered.wait(10)  # X2 waits in the market-data lane
    for price in (1, 2, 3, 4):
        d.publish(md("Y", price))
    release.set()
    assert d.stop(drain=True) == []
    assert [(e.symbol, int(e.price)) for e in seen] == [
        ("X", 1), ("X", 2), ("Y", 1), ("Y", 2), ("Y", 4)]
    assert d.conflated == 1


def test_an_event_class_whose_priority_has_no_lane_is_refused() -> None:
    """Priorities are the five of ``Priority``; anything else is a programming error, caught
    when subscribing or publishing, never inside the dispatcher thread."""

    class Odd(Event):
        priority: ClassVar[int] = 7

    class Negative(Event):
        priority: ClassVar[int] = -1

    d = Dispatcher()
    for cls in (Odd, Negative):
        with pytest.raises(ValueError, match="priority"):
            d.subscribe(cls, lambda e: None)
        with pytest.raises(ValueError, match="priority"):
            d.publish(cls())
    assert d.queue_depth == 0


def test_handlers_run_in_subscription_order_for_their_exact_type_only() -> None:
    """Handlers of one type run in the order added; a base-class subscription sees nothing."""
    d = Dispatcher()
    calls: list[str] = []
    d.subscribe(MarketData, lambda e: calls.append("first"))
    d.subscribe(MarketData, lambda e: calls.append("second"))
    d.subscribe(Event, lambda e: calls.append("base"))
    d.publish(md())
    d.run_pending()
    assert calls == ["first", "second"]


# ---------------------------------------------------------------- guarded handlers

def test_raising_handler_is_counted_reported_and_does_not_kill_the_thread() -> None:
    """A handler that raises: the next handler still runs, the failure is counted and
    becomes a SystemErrorEvent with context, and the dispatcher thread keeps dispatching."""
    d = Dispatcher()
    after: list[MarketData] = []
    errors: list[SystemErrorEvent] = []

    def boom(event: MarketData) -> None:
        raise ValueError(f"bad tick {event.price}")

    d.subscribe(MarketData, boom, "boom")
    d.subscribe(MarketData, after.append, "after")
    d.subscribe(SystemErrorEvent, errors.append, "errors")
    d.start()
    for price in (1, 2, 3):
        d.publish(md("X", price))
    assert wait_until(lambda: len(errors) == 3)
    assert d.running
    assert d.stop() == []
    assert [e.price for e in after] == [1, 2, 3]
    assert d.handler_errors == 3 and d.stats().handler_errors == 3
    first = errors[0]
    assert (first.error_type, first.message, first.source) == ("ValueError", "bad tick 1", "boom")
    assert first.context == {"event_type": "MarketData"}
    assert first.timestamp.tzinfo is not None


def test_failure_report_overtakes_queued_market_data() -> None:
    """The SystemErrorEvent for a failure is handled before market data still queued."""
    d = Dispatcher()
    seen = recording(d)

    def boom(event: MarketData) -> None:
        raise RuntimeError("x")

    d.subscribe(MarketData, boom, "boom")
    d.publish(md("X", 1))
    d.publish(md("X", 2))
    assert d.run_pending() == 4
    assert [type(e).__name__ for e in seen] == [
        "MarketData", "SystemErrorEvent", "MarketData", "SystemErrorEvent"]


def test_raising_system_error_handler_does_not_loop() -> None:
    """A failure while handling a SystemErrorEvent is counted but never re-reported."""
    d = Dispatcher()
    calls: list[SystemErrorEvent] = []

    def broken(event: SystemErrorEvent) -> None:
        calls.append(event)
        raise RuntimeError("handler of errors is broken")

    def boom(event: MarketData) -> None:
        raise ValueError("x")

    d.subscribe(SystemErrorEvent, broken, "broken")
    d.subscribe(MarketData, boom, "boom")
    d.publish(md())
    assert d.run_pending() == 2  # the tick, and the one report of its failure
    assert d.run_pending() == 0
    assert d.handler_errors == 2
    assert len(calls) == 1 and d.queue_depth == 0


# ---------------------------------------------------------------- backpressure

def test_conflation_keeps_latest_price_per_symbol_and_every_other_event() -> None:
    """Past ``conflate_depth`` each symbol's market data collapses to its latest value;
    fills, rejects and system errors are all delivered, exactly once each."""
    d = Dispatcher(conflate_depth=4)
    seen = recording(d)
    for i in range(4):  # fill the queue to the watermark
        d.publish(tagged("fill", 9, i))
    for i in range(1, 101):
        for symbol in ("A", "B", "C"):
            d.publish(md(symbol, i))
        if i % 10 == 0:
            d.publish(tagged("fill", 1, i))
            d.publish(tagged("reject", 1, i))
            d.publish(tagged("error", 1, i))
    d.run_pending()

    ticks = [e for e in seen if isinstance(e, MarketData)]
    assert sorted((t.symbol, t.price) for t in ticks) == [
        ("A", Decimal(100)), ("B", Decimal(100)), ("C", Decimal(100))]
    assert sum(isinstance(e, OrderFill) for e in seen) == 14
    assert sum(isinstance(e, OrderReject) for e in seen) == 10
    assert sum(isinstance(e, SystemErrorEvent) for e in seen) == 10
    assert d.conflated == 3 * 99
    assert d.stats().dispatched == len(seen) == 14 + 10 + 10 + 3


def test_conflation_from_concurrent_producers_keeps_each_symbols_last_price() -> None:
    """Many threads publishing at once: one tick per symbol survives, and it is that
    symbol's last; not one of the interleaved fills is lost."""
    d = Dispatcher(conflate_depth=8)
    seen = recording(d)
    for i in range(8):
        d.publish(tagged("fill", 99, i))
    symbols = [f"S{n}" for n in range(6)]
    barrier = threading.Barrier(len(symbols))

    def produce(n: int, symbol: str) -> None:
        barrier.wait(timeout=10)
        for i in range(1, 301):
            d.publish(md(symbol, i))
            if i % 3 == 0:
                d.publish(tagged("fill", n, i))

    threads = [threading.Thread(target=produce, args=(n, s), daemon=True)
               for n, s in enumerate(symbols)]
    with frequent_thread_switches():
        for t in threads:
            t.start()
        join_all(threads)
    d.start()
    assert d.stop() == []
    ticks = {e.symbol: e.price for e in seen if isinstance(e, MarketData)}
    assert ticks == dict.fromkeys(symbols, Decimal(300))
    assert sum(isinstance(e, MarketData) for e in seen) == len(symbols)
    assert sum(isinstance(e, OrderFill) for e in seen) == 8 + len(symbols) * 100
    assert d.conflated == len(symbols) * 299


def test_market_data_below_the_watermark_is_not_conflated() -> None:
    """Conflation is a response to a deep queue, not a filter: a short queue keeps every tick."""
    d = Dispatcher(conflate_depth=100)
    seen = recording(d)
    for i in range(1, 11):
        d.publish(md("A", i))
    d.run_pending()
    assert [e.price for e in seen if isinstance(e, MarketData)] == list(range(1, 11))
    assert d.conflated == 0


def test_block_policy_blocks_a_market_data_producer_until_the_dispatcher_catches_up() -> None:
    """Under "block", the third tick's publisher waits while two are queued, and goes on
    as soon as one is dispatched; nothing is conflated."""
    d = Dispatcher(market_data_policy="block", max_pending_market_data=2)
    seen = recording(d)
    published: list[int] = []

    def producer() -> None:
        for price in (1, 2, 3):
            d.publish(md("A", price))
            published.append(price)

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    assert wait_until(lambda: len(published) == 2)
    thread.join(0.2)  # a generous chance to get past the gate if it were open
    assert thread.is_alive() and published == [1, 2] and d.queue_depth == 2

    assert d.run_pending(max_events=1) == 1
    join_all([thread], timeout_s=10)
    assert published == [1, 2, 3]
    d.run_pending()
    assert [e.price for e in seen if isinstance(e, MarketData)] == [1, 2, 3]
    assert d.conflated == 0


def test_block_policy_never_blocks_order_events() -> None:
    """Only market data is gated: fills are queued however full the market-data gate is."""
    d = Dispatcher(market_data_policy="block", max_pending_market_data=1)
    d.publish(md())

    def publish_fills() -> None:
        for i in range(100):
            d.publish(tagged("fill", 0, i))

    thread = threading.Thread(target=publish_fills, daemon=True)
    thread.start()
    join_all([thread], timeout_s=10)
    assert d.queue_depth == 101


def test_undelivered_market_data_releases_the_block_gate() -> None:
    """Events collected as undelivered at stop give their gate slots back."""
    d = Dispatcher(market_data_policy="block", max_pending_market_data=2)
    d.publish(md("A", 1))
    d.publish(md("A", 2))
    left = d.stop()
    assert [e.price for e in left if isinstance(e, MarketData)] == [1, 2]

    def publish_two_more() -> None:
        d.publish(md("A", 3))
        d.publish(md("A", 4))

    thread = threading.Thread(target=publish_two_more, daemon=True)
    thread.start()
    join_all([thread], timeout_s=10)


def test_invalid_depths_are_refused() -> None:
    """A zero or negative watermark is a configuration error."""
    with pytest.raises(ValueError):
        Dispatcher(conflate_depth=0)
    with pytest.raises(ValueError):
        Dispatcher(max_pending_market_data=-1)


# ---------------------------------------------------------------- lifecycle

def test_stop_with_drain_delivers_everything_queued() -> None:
    """Events queued before ``stop(drain=True)``, and the reports they cause, are delivered."""
    d = Dispatcher()
    seen = recording(d)

    def boom(event: ScheduledTrigger) -> None:
        raise ValueError("x")

    d.subscribe(ScheduledTrigger, boom)
    for i in range(50):
        d.publish(tagged(KINDS[i % len(KINDS)], 0, i))
    d.start()
    assert d.stop(drain=True) == []
    assert not d.running
    assert len(seen) == 50 + 10  # ten triggers failed, ten SystemErrorEvents
    assert d.stats().dispatched == 60 and d.queue_depth == 0


def _stuck_handler(d: Dispatcher) -> tuple[list[Event], threading.Event, threading.Event]:
    """Subscribe a fill handler that blocks until ``release`` is set."""
    seen: list[Event] = []
    entered = threading.Event()
    release = threading.Event()

    def slow(event: OrderFill) -> None:
        seen.append(event)
        entered.set()
        release.wait(30)

    d.subscribe(OrderFill, slow, "slow")
    return seen, entered, release


def _release_when(condition: Callable[[], bool], release: threading.Event) -> threading.Thread:
    def run() -> None:
        if wait_until(condition, timeout_s=20):
            release.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_stop_without_drain_returns_what_a_slow_handler_left_queued() -> None:
    """Stopping while a handler is busy ends after that event and returns the rest, in
    order: nothing is dropped silently."""
    d = Dispatcher()
    seen, entered, release = _stuck_handler(d)
    for i in range(1, 6):
        d.publish(fill(fill_id=f"F{i}"))
    d.start()
    assert entered.wait(10)
    # Let the handler finish only once stop() has queued its sentinel (4 fills + 1).
    helper = _release_when(lambda: d.queue_depth == 5, release)
    left = d.stop(drain=False, timeout_s=20)
    join_all([helper])
    assert [e.fill_id for e in left if isinstance(e, OrderFill)] == ["F2", "F3", "F4", "F5"]
    assert [e.fill_id for e in seen if isinstance(e, OrderFill)] == ["F1"]
    assert not d.running


def test_stop_with_drain_that_times_out_reports_the_undelivered_events() -> None:
    """If draining exceeds ``timeout_s`` the dispatcher stops at the next event and the
    events it never reached are returned."""
    d = Dispatcher()
    seen, entered, release = _stuck_handler(d)
    for i in range(1, 4):
        d.publish(fill(fill_id=f"F{i}"))
    d.start()
    assert entered.wait(10)
    # 2 fills + the drain sentinel + the urgent sentinel queued after the drain timed out.
    helper = _release_when(lambda: d.queue_depth == 4, release)
    left = d.stop(drain=True, timeout_s=1.0)
    join_all([helper])
    assert [e.fill_id for e in left if isinstance(e, OrderFill)] == ["F2", "F3"]
    assert len(seen) == 1


def test_stop_raises_when_a_handler_stays_blocked() -> None:
    """A handler blocked past the timeout is an error the caller hears about."""
    d = Dispatcher()
    _, entered, release = _stuck_handler(d)
    d.publish(fill(fill_id="F1"))
    d.publish(fill(fill_id="F2"))
    d.start()
    assert entered.wait(10)
    with pytest.raises(EngineStateError):
        d.stop(drain=False, timeout_s=0.1)
    release.set()
    assert wait_until(lambda: not d.running)
    assert [e.fill_id for e in d.stop() if isinstance(e, OrderFill)] == ["F2"]


def test_run_pending_dispatches_in_the_callers_thread() -> None:
    """Synchronous drive: handlers run on the calling thread, ``max_events`` bounds the work."""
    d = Dispatcher()
    threads: list[threading.Thread] = []
    d.subscribe(MarketData, lambda e: threads.append(threading.current_thread()))
    for i in range(1, 6):
        d.publish(md("A", i))
    assert d.run_pending(max_events=2) == 2
    assert d.queue_depth == 3
    assert d.run_pending() == 3
    assert threads == [threading.current_thread()] * 5
    assert d.run_pending() == 0


def test_run_pending_is_refused_while_the_thread_runs() -> None:
    """Two consumers would break ordering, so the second is refused."""
    d = Dispatcher()
    d.start()
    try:
        with pytest.raises(EngineStateError):
            d.run_pending()
        with pytest.raises(EngineStateError):
            d.start()
    finally:
        d.stop()


def test_stop_before_start_returns_the_queue() -> None:
    """A dispatcher that never ran hands back what was published to it."""
    d = Dispatcher()
    d.publish(md())
    d.publish(fill())
    left = d.stop()
    assert [type(e).__name__ for e in left] == ["OrderFill", "MarketData"]


# ---------------------------------------------------------------- observing

def test_latency_is_recorded_once_per_dispatched_event() -> None:
    """Every dispatch records one sample; stats and summary agree on the count."""
    d = Dispatcher(latency_capacity=8)
    recording(d)
    for i in range(1, 13):
        d.publish(md("A", i))
    d.publish(fill())
    assert d.run_pending() == 13
    assert d.latency.count == 13 == d.stats().dispatched
    summary = d.latency.summary()
    assert summary.count == 13 and summary.window == 8
    assert all(ns >= 0 for ns in d.latency.samples())
    assert d.stats().by_type == {"MarketData": 12, "OrderFill": 1}


def test_latency_recorder_keeps_the_newest_window_and_the_all_time_max() -> None:
    """A fixed ring: the last ``capacity`` samples, an all-time maximum and a count."""
    rec = LatencyRecorder(4)
    assert rec.summary().window == 0 and rec.summary().p99_us == 0.0
    for ns in (50_000, 1_000, 2_000, 3_000, 4_000, 5_000):
        rec.record(ns)
    assert sorted(rec.samples()) == [2_000, 3_000, 4_000, 5_000]
    summary = rec.summary()
    assert (summary.count, summary.window) == (6, 4)
    assert summary.max_us == 50.0  # the evicted sample still counts for the maximum
    assert summary.p50_us == 4.0 and summary.p99_us == 5.0


@pytest.mark.parametrize("capacity", [0, 3, 100])
def test_latency_capacity_must_be_a_power_of_two(capacity: int) -> None:
    """The ring indexes with a mask, so only powers of two are accepted."""
    with pytest.raises(ValueError):
        LatencyRecorder(capacity)
