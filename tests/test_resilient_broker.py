"""ResilientBroker around a real paper venue with faults injected at the adapter boundary.

The venue here is the real :class:`PaperBroker`; :class:`FlakyVenue` only makes chosen
calls fail the way a network does — before the request left, or after the venue acted but
before the answer came back — so each rule of the wrapper can be shown on its own. The
same rules against the exchange simulator's own fault injection are in the CCXT tests.
"""

from __future__ import annotations

import threading
import time

import pytest
from faultkit import FlakyVenue
from kit import md, request

from livetrade.brokers.base import EventSink
from livetrade.brokers.paper_ledger import PaperOrder
from livetrade.errors import (
    AmbiguousOutcomeError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.events import Event, OrderFill, SystemErrorEvent
from livetrade.orders import OrderRequest
from livetrade.resilience import BreakerGroup, BreakerSettings, RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker


def guarded(venue: FlakyVenue, **overrides: object) -> tuple[ResilientBroker, list[Event],
                                                               list[float]]:
    events: list[Event] = []
    waits: list[float] = []
    settings = ResilienceSettings(**{"retry": RetryPolicy(attempts=4),
                                     "submit_retry": RetryPolicy(attempts=3),
                                     "lookup_delay_s": 0.0,
                                     "breakers": BreakerSettings(fail_max=3,
                                                                 reset_timeout_s=0.2),
                                     **overrides})  # type: ignore[arg-type]
    broker = ResilientBroker(venue, settings, sleep=waits.append)
    sink: EventSink = events.append
    broker.connect(sink)
    venue.on_market_data(md("AAPL", 100))
    return broker, events, waits


def fills(events: list[Event]) -> list[OrderFill]:
    return [e for e in events if isinstance(e, OrderFill)]


def test_a_dropped_answer_is_resolved_by_lookup_and_the_order_is_never_sent_twice() -> None:
    venue = FlakyVenue()
    broker, events, waits = guarded(venue)
    venue.lose_answers = 1
    broker.submit_order("c-1", request("AAPL", quantity=5))
    assert venue.submits == ["c-1"]
    assert len(fills(events)) == 1
    assert waits == []  # found at once: no backoff, no resend


def test_a_refused_submit_is_resent_with_the_same_client_id_after_backoff() -> None:
    venue = FlakyVenue()
    broker, events, waits = guarded(venue)
    venue.refuse = 2
    broker.submit_order("c-1", request("AAPL", quantity=5))
    assert venue.submits == ["c-1", "c-1", "c-1"]
    assert waits == [1, 2]
    assert len(fills(events)) == 1


def test_a_submit_the_venue_never_takes_ends_rejected_not_pending() -> None:
    venue = FlakyVenue()
    broker, _, _ = guarded(venue)
    venue.refuse = 10
    with pytest.raises(OrderRejectedError, match="did not take the order after 3"):
        broker.submit_order("c-1", request("AAPL", quantity=5))
    assert venue.submits == ["c-1"] * 3


def test_when_the_lookup_fails_too_the_outcome_stays_ambiguous_and_nothing_is_resent() -> None:
    venue = FlakyVenue()
    broker, _, _ = guarded(venue)
    venue.lose_answers = 1
    venue.lookups_fail = 100
    with pytest.raises(AmbiguousOutcomeError, match="not re-sent"):
        broker.submit_order("c-1", request("AAPL", quantity=5))
    assert venue.submits == ["c-1"]
    venue.lookups_fail = 0
    assert venue.get_order("c-1") is not None  # it was placed; polling will find it


def test_an_open_orders_breaker_rejects_new_orders_at_once_with_the_reason() -> None:
    venue = FlakyVenue()
    broker, events, _ = guarded(venue, submit_retry=RetryPolicy(attempts=1))
    venue.refuse = 100
    venue.lookups_fail = 0
    for n in range(3):
        with pytest.raises(OrderRejectedError):
            broker.submit_order(f"c-{n}", request("AAPL", quantity=1))
    assert broker.breakers.state(BreakerGroup.ORDERS) == "open"
    sent = len(venue.submits)
    with pytest.raises(OrderRejectedError, match=r"not sent: .*orders circuit is open"):
        broker.submit_order("c-9", request("AAPL", quantity=1))
    assert len(venue.submits) == sent
    changes = [e for e in events if isinstance(e, SystemErrorEvent)
               and e.error_type == "BreakerStateChange"]
    assert changes and changes[0].context["new"] == "open"
    time.sleep(0.25)
    venue.refuse = 0
    broker.submit_order("c-10", request("AAPL", quantity=1))  # half-open probe succeeds
    assert broker.breakers.state(BreakerGroup.ORDERS) == "closed"


def test_a_hung_query_times_out_at_its_deadline_and_is_retried() -> None:
    venue = FlakyVenue()
    broker, _, waits = guarded(venue, positions_timeout_s=0.1,
                               retry=RetryPolicy(attempts=2, initial_s=0.01))
    venue.hang_s = 1.0
    started = time.monotonic()
    with pytest.raises(TransientBrokerError, match=r"within 0\.1 s"):
        broker.get_positions()
    assert time.monotonic() - started < 0.9
    assert waits == [0.01]


def test_permanent_query_errors_pass_through_unretried() -> None:
    class NoLookup(FlakyVenue):
        def get_order(self, client_order_id: str) -> PaperOrder | None:
            raise PermanentBrokerError("venue cannot look up by client id")

    venue = NoLookup()
    broker, _, waits = guarded(venue)
    with pytest.raises(PermanentBrokerError):
        broker.get_order("x")
    assert waits == []


def test_shutdown_wakes_a_retrying_submit_at_once() -> None:
    venue = FlakyVenue()
    shutdown = threading.Event()
    settings = ResilienceSettings(submit_retry=RetryPolicy(attempts=5, initial_s=16, max_s=16))
    broker = ResilientBroker(venue, settings, shutdown=shutdown)
    broker.connect(lambda e: None)
    venue.on_market_data(md("AAPL", 100))
    venue.refuse = 100
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            broker.submit_order("c-1", request("AAPL", quantity=1))
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    worker = threading.Thread(target=submit)
    worker.start()
    time.sleep(0.1)
    started = time.monotonic()
    shutdown.set()
    worker.join(5)
    assert time.monotonic() - started < 0.1
    assert isinstance(errors[0], TransientBrokerError)
    assert venue.submits == ["c-1"]


def test_the_lookup_waits_for_a_request_the_venue_may_still_be_processing() -> None:
    venue = FlakyVenue()
    broker, _, waits = guarded(venue, lookup_delay_s=0.5)
    venue.lose_answers = 1
    broker.submit_order("c-1", request("AAPL", quantity=5))
    assert waits == [0.5]  # the pause before the lookup; found: no resend
    assert venue.submits == ["c-1"]


def test_a_submit_still_running_at_its_deadline_is_never_sent_again() -> None:
    class SlowVenue(FlakyVenue):
        def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
            time.sleep(0.5)  # lands after the deadline
            super().submit_order(client_order_id, request)

    venue = SlowVenue()
    broker, events, _ = guarded(venue, submit_timeout_s=0.1)
    with pytest.raises(AmbiguousOutcomeError, match="still in flight"):
        broker.submit_order("c-1", request("AAPL", quantity=5))
    time.sleep(0.8)
    assert venue.submits == ["c-1"]  # sent once: no lookup-then-resend race
    assert len(fills(events)) == 1  # it did land
