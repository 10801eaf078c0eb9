"""flatten_shadow keeps trying: a resume postponed because the live account could not be
read (a 429/418 on the reconciliation) is tried again on the next good probe, instead of
leaving the engine in shadow for good (found by the chaos drill)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from faultkit import FlakyVenue
from kit import md, request, wait_until

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.errors import AmbiguousOutcomeError, OrderRejectedError
from livetrade.resilience import BreakerSettings, RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.resilience.shadow import DegradeSettings, Mode, ShadowingBroker


def test_a_postponed_flatten_shadow_resume_is_retried_on_the_next_probe() -> None:
    venue = FlakyVenue()
    live = ResilientBroker(
        venue,
        ResilienceSettings(retry=RetryPolicy(attempts=1), submit_retry=RetryPolicy(attempts=1),
                           breakers=BreakerSettings(fail_max=2, reset_timeout_s=0.05)),
        sleep=lambda s: None)
    broker = ShadowingBroker(live, PaperBroker(PaperBrokerConfig(initial_cash=Decimal(10**6))),
                             DegradeSettings(degrade_after_s=0.2, probe_interval_s=0.02,
                                             resume_policy="flatten_shadow"))
    answers = [False, True]  # the first reconciliation fails (the account is unreadable)
    asked: list[str] = []

    def on_resume(reason: str, done: Callable[[bool], None]) -> None:
        asked.append(reason)
        done(answers.pop(0) if answers else True)

    broker.on_resume = on_resume
    broker.connect(lambda event: None)
    try:
        broker.on_market_data(md("AAPL", 100))
        venue.down = True
        for n in range(2):
            with pytest.raises(AmbiguousOutcomeError):
                broker.submit_order(f"lost-{n}", request("AAPL", quantity=1))
        with pytest.raises(OrderRejectedError):
            broker.submit_order("refused", request("AAPL", quantity=1))
        assert wait_until(lambda: broker.mode is Mode.SHADOW, 5)
        venue.down = False
        assert wait_until(lambda: broker.mode is Mode.LIVE, 5), asked
        assert len(asked) == 2  # postponed once, then tried again and applied
    finally:
        broker.disconnect()
