"""Degrade to paper: an outage switches orders to a shadow venue; none ever reaches the live one."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from faultkit import FlakyVenue
from kit import md, request, wait_until

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.errors import (
    AmbiguousOutcomeError,
    EngineStateError,
    OrderRejectedError,
    TransientBrokerError,
)
from livetrade.events import Event, OrderAccepted, OrderFill, OrderType, SystemErrorEvent
from livetrade.resilience import BreakerSettings, RetryPolicy
from livetrade.resilience.breakers import BreakerGroup
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.resilience.shadow import DegradeSettings, Mode, ResumePolicy, ShadowingBroker


def shadowing(policy: ResumePolicy) -> tuple[ShadowingBroker, FlakyVenue, list[Event],
                                             list[str]]:
    venue = FlakyVenue()
    live = ResilientBroker(
        venue,
        ResilienceSettings(retry=RetryPolicy(attempts=1), submit_retry=RetryPolicy(attempts=1),
                           breakers=BreakerSettings(fail_max=2, reset_timeout_s=0.5)),
        sleep=lambda s: None)
    shadow = PaperBroker(PaperBrokerConfig(initial_cash=Decimal(100_000)))
    broker = ShadowingBroker(live, shadow, DegradeSettings(degrade_after_s=0.2,
                                                           probe_interval_s=0.02,
                                                           resume_policy=policy))
    resumed: list[str] = []

    def on_resume(reason: str, done: Callable[[bool], None]) -> None:
        resumed.append(reason)  # the engine reconciles here, then says it applied
        done(True)

    broker.on_resume = on_resume
    events: list[Event] = []
    broker.connect(events.append)
    broker.on_market_data(md("AAPL", 100))
    return broker, venue, events, resumed


def mode_changes(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.context["previous"], e.context["mode"]) for e in events
            if isinstance(e, SystemErrorEvent) and e.error_type == "ModeChange"]


def go_down(broker: ShadowingBroker, venue: FlakyVenue) -> None:
    venue.down = True
    for n in range(2):
        with pytest.raises(AmbiguousOutcomeError):  # may have left: never re-sent blindly
            broker.submit_order(f"lost-{n}", request("AAPL", quantity=1))
    with pytest.raises(OrderRejectedError, match="not sent"):  # breaker open: fast refusal
        broker.submit_order("refused", request("AAPL", quantity=1))
    assert wait_until(lambda: broker.mode is Mode.SHADOW, 15)


def test_an_outage_past_degrade_after_s_moves_orders_to_the_shadow_venue() -> None:
    broker, venue, events, _ = shadowing("manual")
    broker.submit_order("live-1", request("AAPL", quantity=2))
    go_down(broker, venue)
    sent_live = list(venue.submits)
    broker.submit_order("shadow-1", request("AAPL", quantity=3))
    assert venue.submits == sent_live  # nothing reached the live venue
    shadow_fills = [e for e in events if isinstance(e, OrderFill)
                    and e.client_order_id == "shadow-1"]
    assert len(shadow_fills) == 1 and shadow_fills[0].shadow
    assert all(e.shadow for e in events if isinstance(e, OrderAccepted | OrderFill)
               and e.client_order_id.startswith("shadow"))
    assert not any(e.shadow for e in events if isinstance(e, OrderFill)
                   and e.client_order_id == "live-1")
    assert wait_until(lambda: mode_changes(events) == [("live", "shadow")], 15)
    broker.disconnect()


def test_manual_policy_stays_in_shadow_when_the_broker_is_back_until_resume() -> None:
    broker, venue, events, resumed = shadowing("manual")
    go_down(broker, venue)
    venue.down = False
    assert wait_until(lambda: broker.live_available, 15)
    broker.submit_order("shadow-2", request("AAPL", quantity=1))
    assert broker.mode is Mode.SHADOW and "shadow-2" not in venue.submits
    assert any(isinstance(e, SystemErrorEvent) and e.error_type == "BrokerAvailable"
               for e in events)
    broker.resume("operator")
    assert str(broker.mode) == "live" and resumed == ["operator"]
    broker.submit_order("live-2", request("AAPL", quantity=1))
    assert venue.submits[-1] == "live-2"
    assert "shadow-2" not in venue.submits  # shadow orders are never replayed
    assert mode_changes(events) == [("live", "shadow"), ("shadow", "live")]
    with pytest.raises(EngineStateError):
        broker.resume()
    broker.disconnect()


def test_flatten_shadow_resumes_live_by_itself_and_cancels_shadow_orders() -> None:
    broker, venue, _, resumed = shadowing("flatten_shadow")
    go_down(broker, venue)
    broker.submit_order("shadow-rest", request("AAPL", quantity=1, order_type=OrderType.LIMIT,
                                               limit_price=Decimal(50)))
    assert [o.client_order_id for o in broker.shadow.get_open_orders()] == ["shadow-rest"]
    venue.down = False
    assert wait_until(lambda: bool(resumed), 15)  # after the switch and the shadow cancels
    assert broker.mode is Mode.LIVE and "flatten_shadow" in resumed[0]
    assert broker.shadow.get_open_orders() == []
    assert "shadow-rest" not in venue.submits
    broker.disconnect()


def test_queries_always_answer_for_the_live_account() -> None:
    broker, venue, _, _ = shadowing("manual")
    broker.submit_order("live-1", request("AAPL", quantity=2))
    go_down(broker, venue)
    broker.submit_order("shadow-1", request("AAPL", quantity=3))
    venue.down = False
    assert wait_until(lambda: broker.live_available, 15)
    assert broker.get_positions() == {"AAPL": Decimal(2)}
    broker.disconnect()


def test_orders_are_refused_while_the_book_is_being_reconciled_for_a_resume() -> None:
    broker, venue, _, _ = shadowing("manual")
    pending: list[Callable[[bool], None]] = []
    broker.on_resume = lambda reason, done: pending.append(done)
    go_down(broker, venue)
    venue.down = False
    assert wait_until(lambda: broker.live_available, 15)
    broker.resume("operator")
    assert broker.mode is Mode.SHADOW  # not live before the book is the broker's
    with pytest.raises(OrderRejectedError, match="resuming"):
        broker.submit_order("during", request("AAPL", quantity=1))
    pending[0](False)  # the live account could not be read: still shadow, can retry
    assert broker.mode is Mode.SHADOW
    broker.resume("operator, again")
    pending[1](True)
    assert str(broker.mode) == "live"
    broker.disconnect()


def test_a_dead_venue_is_noticed_with_no_order_in_flight() -> None:
    broker, venue, events, _ = shadowing("manual")
    venue.down = True  # nothing is sent: only the watchdog's pings find out
    assert wait_until(lambda: mode_changes(events) == [("live", "shadow")], 15)
    assert broker.mode is Mode.SHADOW
    [change] = [e for e in events if isinstance(e, SystemErrorEvent)
                and e.error_type == "ModeChange"]
    assert "no successful call" in change.context["reason"]
    broker.disconnect()


def test_a_breaker_tripped_by_a_burst_is_probed_closed_instead_of_degrading() -> None:
    broker, venue, _, _ = shadowing("manual")
    venue.refuse = 2  # two failed submits trip the orders breaker...
    for n in range(2):
        with pytest.raises((AmbiguousOutcomeError, OrderRejectedError)):
            broker.submit_order(f"x-{n}", request("AAPL", quantity=1))
    # ...but the venue answers: the watchdog's pings keep it live
    time.sleep(0.6)  # three times degrade_after_s
    assert broker.mode is Mode.LIVE
    broker.disconnect()


def test_an_account_breaker_tripped_by_bad_luck_does_not_degrade_while_pings_answer() -> None:
    """A venue failing a few calls in a row is flaky, not down: while the account breaker
    waits out its cooldown, the watchdog pings around it and the venue answers."""
    broker, venue, events, _ = shadowing("manual")
    venue.down = True
    for _ in range(2):  # two failed queries trip the account breaker (fail_max=2)
        with pytest.raises(TransientBrokerError):
            broker.get_positions()
    assert broker.live.breakers.state(BreakerGroup.ACCOUNT) == "open"
    venue.down = False
    time.sleep(1.0)  # five times degrade_after_s, two breaker cooldowns
    assert broker.mode is Mode.LIVE and mode_changes(events) == []
    broker.disconnect()


def test_an_order_endpoint_that_keeps_failing_its_probes_degrades() -> None:
    """Account calls answer, orders do not: the orders breaker stays open past
    degrade_after_s through failed probes (real orders after each cooldown)."""
    broker, venue, events, _ = shadowing("manual")
    venue.refuse = 10_000  # every submit: 503, nothing placed
    deadline = time.monotonic() + 10
    n = 0
    while broker.mode is Mode.LIVE and time.monotonic() < deadline:
        with pytest.raises((AmbiguousOutcomeError, OrderRejectedError, TransientBrokerError)):
            broker.submit_order(f"try-{n}", request("AAPL", quantity=1))
        n += 1
        time.sleep(0.05)
    assert broker.mode is Mode.SHADOW
    [reason] = [e.context["reason"] for e in events if isinstance(e, SystemErrorEvent)
                and e.error_type == "ModeChange"]
    assert "orders breaker open" in reason and "probes failed" in reason
    broker.submit_order("after", request("AAPL", quantity=1))  # the shadow venue's now
    assert "after" not in venue.submits
    broker.disconnect()
