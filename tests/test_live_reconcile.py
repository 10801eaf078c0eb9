"""Reconciliation while trading: the engine's book follows the broker's, and says so."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from faultkit import FlakyVenue
from kit import RecordingStrategy, md, request, wait_until

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import TransientBrokerError
from livetrade.events import OrderFill, OrderType, Side, SystemErrorEvent
from livetrade.resilience import BreakerSettings, RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.resilience.shadow import DegradeSettings, Mode, ShadowingBroker


def guarded(venue: FlakyVenue) -> ResilientBroker:
    return ResilientBroker(
        venue, ResilienceSettings(retry=RetryPolicy(attempts=1),
                                  submit_retry=RetryPolicy(attempts=1),
                                  breakers=BreakerSettings(fail_max=2, reset_timeout_s=0.05)),
        sleep=lambda s: None)


def engine_on(broker: ResilientBroker | ShadowingBroker, strategy: RecordingStrategy,
              **settings: object) -> LiveTradingEngine:
    engine = LiveTradingEngine(strategy, broker=broker,
                               settings=EngineSettings(**settings))  # type: ignore[arg-type]
    engine.start()
    return engine


def errors(strategy: RecordingStrategy, prefix: str) -> list[SystemErrorEvent]:
    return [e for e in strategy.of("error") if e.error_type.startswith(prefix)]


def test_an_engine_on_a_real_account_starts_from_the_brokers_cash_and_positions() -> None:
    venue = FlakyVenue()
    venue.connect(lambda e: None)
    venue.on_market_data(md("AAPL", 100))
    venue.submit_order("before-us", request("AAPL", quantity=7))
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy)
    try:
        status = engine.status()
        assert status.positions == {"AAPL": Decimal(7)}
        assert status.cash == venue.get_account_info().cash == Decimal(100_000 - 700)
    finally:
        engine.stop()


def test_an_order_placed_behind_our_back_is_adopted_and_its_fill_booked() -> None:
    venue = FlakyVenue()
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy, reconcile_grace_s=0.0)
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
        venue.muted = True  # the stream is down: the engine hears nothing of these
        venue.submit_order("manual-1", request("AAPL", quantity=3))  # someone else's order
        venue.submit_order("manual-2", request("AAPL", Side.BUY, 2, order_type=OrderType.LIMIT,
                                               limit_price=Decimal(90)))
        engine.reconcile_now("test")
        assert wait_until(lambda: engine.reconciler.runs == 2, 20)  # after the start-up sync
        assert wait_until(lambda: engine.status().positions == {"AAPL": Decimal(3)}, 15)
        assert "manual-2" in {o.client_order_id for o in engine.orders.open_orders()}
        assert engine.status().cash == venue.get_account_info().cash
        assert [f.client_order_id for f in strategy.of("fill")] == ["manual-1"]
        expected = {"reconciliation_fill_missed", "reconciliation_order_unknown_locally"}
        assert wait_until(lambda: {e.error_type for e in errors(strategy, "reconciliation_")}
                          == expected, 5)
        report = engine.reconciler.last_report
        assert report is not None and report["reason"] == "test" and not report["clean"]
    finally:
        engine.stop()


def test_warn_reports_differences_and_changes_nothing() -> None:
    venue = FlakyVenue()
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy, reconcile_policy="warn",
                       reconcile_grace_s=0.0)
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
        venue.muted = True
        venue.submit_order("manual-1", request("AAPL", quantity=3))
        engine.reconcile_now("test")
        assert wait_until(lambda: engine.reconciler.runs == 2, 20)  # after the start-up sync
        assert wait_until(lambda: bool(errors(strategy, "reconciliation_fill_missed")), 15)
        assert engine.status().positions == {}
    finally:
        engine.stop()


def test_halt_engages_the_kill_switch_on_any_difference() -> None:
    venue = FlakyVenue()
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy, reconcile_policy="halt",
                       reconcile_grace_s=0.0)
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
        venue.muted = True
        venue.submit_order("manual-1", request("AAPL", quantity=3))
        engine.reconcile_now("test")
        assert wait_until(lambda: engine.mode == "halted", 20)
    finally:
        engine.stop()


def test_an_order_still_in_flight_is_not_called_missing() -> None:
    venue = FlakyVenue()
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy, reconcile_grace_s=60.0)
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
        venue.refuse = 0
        cid = engine.orders.submit(request("AAPL", quantity=1, order_type=OrderType.LIMIT,
                                           limit_price=Decimal(50)))
        snapshot = engine.reconciler.snapshot("test")
        # The snapshot was taken as if before the venue saw the order:
        snapshot = snapshot.model_copy(update={"open_orders": ()})
        engine.publish(snapshot)
        assert wait_until(lambda: engine.reconciler.runs == 2, 20)  # after the start-up sync
        assert cid in {o.client_order_id for o in engine.orders.open_orders()}
        assert not errors(strategy, "reconciliation_order_missing")
    finally:
        engine.stop()


def test_a_broker_that_does_not_answer_leaves_the_book_alone_and_says_so() -> None:
    venue = FlakyVenue()
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy)
    try:
        venue.down = True
        engine.reconcile_now("test")
        assert wait_until(lambda: bool(errors(strategy, "reconciliation_failed")), 20)
        assert engine.status().positions == {}
    finally:
        venue.down = False
        engine.stop()


@pytest.mark.parametrize("policy", ["manual", "flatten_shadow"])
def test_resuming_from_shadow_discards_the_shadow_book_for_the_live_one(policy: str) -> None:
    venue = FlakyVenue()
    shadow = PaperBroker(PaperBrokerConfig(initial_cash=Decimal(100_000)))
    broker = ShadowingBroker(guarded(venue), shadow,
                             DegradeSettings(degrade_after_s=0.1, probe_interval_s=0.02,
                                             resume_policy=policy))  # type: ignore[arg-type]
    strategy = RecordingStrategy()
    engine = engine_on(broker, strategy, reconcile_grace_s=0.0)
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
        engine.orders.submit(request("AAPL", quantity=2))
        assert wait_until(lambda: engine.status().positions == {"AAPL": Decimal(2)}, 15)
        venue.down = True
        for _ in range(2):
            engine.orders.submit(request("AAPL", quantity=1))
        assert wait_until(lambda: broker.mode is Mode.SHADOW, 15)
        assert engine.mode == "shadow"
        engine.orders.submit(request("AAPL", quantity=5))
        assert wait_until(lambda: engine.status().positions == {"AAPL": Decimal(7)}, 15)
        assert any(o.shadow for o in engine.orders.all_orders())
        venue.down = False
        if policy == "manual":
            assert wait_until(lambda: broker.live_available, 15)
            assert engine.mode == "shadow"
            engine.resume_live()
        assert wait_until(lambda: engine.mode == "live", 15)
        assert wait_until(lambda: engine.status().positions == {"AAPL": Decimal(2)}, 20)
        assert engine.status().cash == venue.get_account_info().cash
        assert len(venue.submits) == 1  # the live order; the outage refused the next two
        # The two whose outcome was unknown are settled by the resume reconciliation:
        assert wait_until(lambda: engine.orders.open_orders() == (), 15)
    finally:
        engine.stop()


def test_an_engine_whose_broker_does_not_answer_at_start_refuses_to_start() -> None:
    from livetrade.errors import TransientBrokerError

    venue = FlakyVenue()
    venue.down = True
    engine = LiveTradingEngine(RecordingStrategy(), broker=guarded(venue))
    with pytest.raises(TransientBrokerError, match="cannot start"):
        engine.start()
    assert engine.strategy.names == []  # type: ignore[attr-defined]  # no on_start


def test_stop_wakes_a_submit_sleeping_between_retries() -> None:
    import time

    venue = FlakyVenue()
    broker = ResilientBroker(venue, ResilienceSettings(
        submit_retry=RetryPolicy(attempts=5, initial_s=16, max_s=16), lookup_delay_s=0))
    strategy = RecordingStrategy()
    engine = engine_on(broker, strategy)
    engine.publish(md("AAPL", 100))
    assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
    venue.refuse = 100
    engine.orders.submit(request("AAPL", quantity=1))
    assert wait_until(lambda: len(venue.submits) == 1, 15)
    started = time.monotonic()
    report = engine.stop()
    assert time.monotonic() - started < 5
    assert report.clean or report.undelivered == ()


def test_without_the_venues_fills_nothing_is_overwritten_and_known_orders_stay_open() -> None:
    class NoFills(FlakyVenue):
        def get_fills(self, since: datetime) -> list[OrderFill]:
            raise TransientBrokerError("myTrades unavailable")

    venue = NoFills()
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy, reconcile_grace_s=0.0)
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
        cid = engine.orders.submit(request("AAPL", quantity=2, order_type=OrderType.LIMIT,
                                           limit_price=Decimal(90)))
        assert wait_until(lambda: engine.orders.get(cid) is not None
                          and engine.orders.get(cid).status.value == "accepted", 15)  # type: ignore[union-attr]
        venue.muted = True  # its fill event is lost on the way
        venue.on_market_data(md("AAPL", 89))
        assert venue.get_positions() == {"AAPL": Decimal(2)}  # filled at the venue
        runs = engine.reconciler.runs  # the start-up sync counts as one
        engine.reconcile_now("test")
        assert wait_until(lambda: engine.reconciler.runs > runs, 15)
        assert engine.orders.get(cid).status.value == "accepted"  # type: ignore[union-attr]
        assert engine.status().positions == {}  # not overwritten from a partial picture
        report = engine.reconciler.last_report
        assert report is not None and not report["halt"]
    finally:
        engine.stop()


def test_a_snapshot_overtaken_by_a_fill_does_not_reopen_the_filled_order() -> None:
    venue = FlakyVenue()
    strategy = RecordingStrategy()
    engine = engine_on(guarded(venue), strategy, reconcile_grace_s=30.0)
    try:
        engine.publish(md("AAPL", 100))
        assert strategy.wait_for(lambda s: len(s.of("market_data")) == 1)
        cid = engine.orders.submit(request("AAPL", quantity=2, order_type=OrderType.LIMIT,
                                           limit_price=Decimal(90)))
        assert wait_until(lambda: [o.client_order_id for o in venue.get_open_orders()]
                          == [cid], 15)
        stale = engine.reconciler.snapshot("test")  # taken while the order rests
        engine.publish(md("AAPL", 89))  # it fills, and the fill is booked first
        assert wait_until(lambda: engine.orders.open_orders() == (), 15)
        runs = engine.reconciler.runs
        engine.publish(stale)
        assert wait_until(lambda: engine.reconciler.runs > runs, 15)
        assert engine.orders.open_orders() == ()
        assert engine.status().positions == {"AAPL": Decimal(2)}
        assert engine.mode == "live"
    finally:
        engine.stop()
