"""Resilience against the exchange simulator's own faults, over loopback: real ccxt, real
websocket-client, the engine built from config. The unit-level twins of these tests use an
in-process fake (``faultkit``); these prove the same promises on the wire.

Timings are shrunk through ``[resilience]`` (50 ms first retry, 0.5 s breaker cooldown,
1 s degrade) so every test ends well under 30 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from kit import request, wait_until
from simkit import binance_client, running_sim

from livetrade.app import build_broker, build_engine, guard_broker
from livetrade.brokers.ccxt.errors import classify
from livetrade.clock import SystemClock
from livetrade.config import LiveTradeConfig, load_config
from livetrade.drills.storm import (
    StormStrategy,
    Tally,
    engine_toml,
    judge,
    latency_window_us,
    percentile,
    short_grace,
)
from livetrade.drills.storm import settle as settle_run
from livetrade.engine import LiveTradingEngine
from livetrade.errors import AmbiguousOutcomeError, OrderRejectedError, TransientBrokerError
from livetrade.events import Event, MarketData, OrderReject, SystemErrorEvent
from livetrade.resilience.breakers import BreakerGroup
from livetrade.resilience.guarded import ResilientBroker
from livetrade.resilience.shadow import ShadowingBroker
from livetrade.simexchange import FaultConfig, SimExchange
from livetrade.simexchange.faults import HttpFault

FAST = {"retry_attempts": 4, "retry_initial_s": 0.05, "retry_max_s": 0.4,
        "submit_attempts": 3, "breaker_fail_max": 3, "breaker_reset_timeout_s": 0.5,
        "submit_timeout_s": 3, "cancel_timeout_s": 2, "positions_timeout_s": 2,
        "account_timeout_s": 2, "connect_timeout_s": 5, "degrade_after_s": 60,
        "probe_interval_s": 0.2, "lookup_delay_s": 0.05}
BALANCES = {"USDT": Decimal(100_000), "BTC": Decimal(1)}
ORDER_POST = ("POST /api/v3/order",)


def config_for(tmp_path: Path, sim: SimExchange, monkeypatch: pytest.MonkeyPatch,
               strategy: dict[str, Any] | None = None, state_directory: Path | None = None,
               **resilience: Any) -> LiveTradeConfig:
    monkeypatch.setenv("LIVETRADE_API_KEY", sim.api_key)
    monkeypatch.setenv("LIVETRADE_API_SECRET", sim.api_secret)
    path = tmp_path / "engine.toml"
    path.write_text(engine_toml(sim.rest_url, sim.ws_url, resilience={**FAST, **resilience},
                                strategy_params=strategy,
                                state_directory=None if state_directory is None
                                else str(state_directory)))
    return load_config(path)


def engine_from(config: LiveTradeConfig) -> LiveTradingEngine:
    """The engine ``config`` describes, with a 1 s reconciliation grace (``[state]`` has no
    knob for it; 30 s would outlast a test) so an order lost to a fault is settled soon."""
    engine = build_engine(config)
    short_grace(engine)
    return engine


@contextmanager
def trading(config: LiveTradeConfig) -> Iterator[tuple[LiveTradingEngine, Tally]]:
    engine = engine_from(config)
    tally = Tally()
    tally.attach(engine)
    engine.start()
    try:
        yield engine, tally
    finally:
        engine.stop()


def strategy_of(engine: LiveTradingEngine) -> StormStrategy:
    assert isinstance(engine.strategy, StormStrategy)
    return engine.strategy


def settle(engine: LiveTradingEngine, sim: SimExchange) -> None:
    """No open order on either side, then the books agree (see ``storm.settle``)."""
    assert settle_run(engine, lambda: list(sim.state()["open_orders"])), (
        engine.orders.open_orders(), sim.state()["open_orders"])
    assert wait_until(lambda: judge(engine, sim.orders(), sim.trades(),
                                    sim.balances()).ok, 10), judge(
        engine, sim.orders(), sim.trades(), sim.balances())


class SimRequests:
    """Every request the simulator serves (method, path, monotonic time), seen at its
    fault injector, which every non-admin request passes."""

    def __init__(self, sim: SimExchange, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, str, float]] = []
        self.after_fault: Callable[[HttpFault | None], None] | None = None
        draw = sim.faults.http_fault

        def recorded(method: str, path: str) -> HttpFault | None:
            fault = draw(method, path)
            self.seen.append((method, path, time.monotonic()))
            if self.after_fault is not None:
                self.after_fault(fault)
            return fault
        monkeypatch.setattr(sim.faults, "http_fault", recorded)

    def times(self, method: str, path: str) -> list[float]:
        return [t for m, p, t in list(self.seen) if (m, p) == (method, path)]


# ---------------------------------------------------------------------------------- soak
def test_soak_under_5xx_dropped_responses_429_bursts_and_websocket_drops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim(balances=BALANCES, price_source="random", tick_interval_s=0.05) as sim:
        config = config_for(tmp_path, sim, monkeypatch)
        with trading(config) as (engine, tally):
            strategy = strategy_of(engine)
            latency = engine.dispatcher.latency
            assert wait_until(lambda: len(sim.orders()) >= 3, 10)
            calm_from = latency.count
            time.sleep(3)
            calm = latency_window_us(latency, calm_from, latency.count)
            storm_from, storm_started = latency.count, time.monotonic()
            base = FaultConfig(error_rate=0.2, timeout_rate=0.1, timeout_hold_s=0.2,
                               ws_drop_rate=0.01, seed=11)
            for burst in range(3):
                # 2.5 s of the base storm, then a 3 s burst of 429s on orders: long enough
                # for submit_attempts resends, each after the venue's Retry-After (1 s),
                # to fail in a row and open the orders breaker
                sim.faults.set(base)
                time.sleep(2.5)
                sim.faults.set(FaultConfig(rate_limit_rate=1.0, retry_after_s=1,
                                           scope=ORDER_POST, seed=burst))
                time.sleep(3)
            sim.faults.clear()
            storm_ended = time.monotonic()
            storm = latency_window_us(latency, storm_from, latency.count)
            settle(engine, sim)

            verdict = judge(engine, sim.orders(), sim.trades(), sim.balances())
            assert verdict.duplicates == []
            assert verdict.mismatches == []
            assert verdict.venue_orders >= 10
            opened = tally.breaker_counts().get("orders")
            assert opened is not None and opened["open"] >= 1 and opened["closed"] >= 1, \
                tally.breaker
            # the strategy kept getting market data through every second of the storm
            second = storm_started
            while second + 1 <= storm_ended:
                assert strategy.ticks_between(second, second + 1) > 0, second - storm_started
                second += 1
            # the dispatcher never waited on the broker: its p99 stays in the calm band
            assert len(storm) > 100 and len(calm) > 20
            assert percentile(storm, 0.99) < max(20 * percentile(calm, 0.99), 50_000.0), (
                percentile(calm, 0.99), percentile(storm, 0.99))


# ------------------------------------------------------------------------------ breakers
def test_open_breaker_rejects_fast_with_reason_half_open_probes_once_then_closes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim(balances=BALANCES) as sim:
        requests = SimRequests(sim, monkeypatch)
        config = config_for(tmp_path, sim, monkeypatch, degrade_to_paper=False,
                            breaker_fail_max=2, breaker_reset_timeout_s=2,
                            submit_attempts=2)
        broker = guard_broker(build_broker(config.broker, SystemClock()), config.resilience,
                              SystemClock())
        assert isinstance(broker, ResilientBroker)
        events: list[Event] = []
        broker.connect(events.append)
        try:
            sim.faults.set(FaultConfig(error_rate=1.0, scope=ORDER_POST))
            buy = request("BTC/USDT", quantity="0.001")
            # two failed POSTs (each looked up: "not there") open the orders breaker
            with pytest.raises(OrderRejectedError):
                broker.submit_order("b-1", buy)
            assert broker.breakers.states()["orders"] == "open"
            posts = len(requests.times("POST", "/api/v3/order"))
            with pytest.raises(OrderRejectedError, match=r"not sent: .*orders circuit is open"):
                broker.submit_order("b-2", buy)
            assert len(requests.times("POST", "/api/v3/order")) == posts  # never sent
            # past the cooldown the next call is let through as the half-open probe:
            # exactly one POST, which fails and reopens the breaker
            assert wait_until(lambda: cooled(broker), 5)
            with pytest.raises(OrderRejectedError):
                broker.submit_order("b-3", buy)
            assert len(requests.times("POST", "/api/v3/order")) == posts + 1
            assert broker.breakers.states()["orders"] == "open"
            # the venue heals: the next probe succeeds and the breaker closes
            sim.faults.clear()
            assert wait_until(lambda: cooled(broker), 5)
            broker.submit_order("b-4", buy)
            assert broker.breakers.states()["orders"] == "closed"
            broker.submit_order("b-5", buy)
        finally:
            broker.disconnect()
        assert [o["clientOrderId"] for o in sim.orders()] == ["b-4", "b-5"]
        moves = [(e.context["old"], e.context["new"]) for e in events
                 if isinstance(e, SystemErrorEvent) and e.error_type == "BreakerStateChange"
                 and e.context["group"] == "orders"]
        assert moves == [("closed", "open"), ("open", "half-open"), ("half-open", "open"),
                         ("open", "half-open"), ("half-open", "closed")]


def cooled(broker: ResilientBroker) -> bool:
    """The orders breaker has been open for its whole ``reset_timeout_s``: pybreaker moves
    to half-open on the next call, not by itself."""
    return broker.breakers.probe_due(BreakerGroup.ORDERS)


def test_the_engine_rejects_orders_at_once_with_the_reason_while_the_breaker_is_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim(balances=BALANCES, price_source="random", tick_interval_s=0.05) as sim:
        config = config_for(tmp_path, sim, monkeypatch, degrade_to_paper=False,
                            breaker_reset_timeout_s=30)
        rejects: list[OrderReject] = []
        with trading(config) as (engine, tally):
            engine.dispatcher.subscribe(OrderReject, rejects.append, "test.rejects")
            assert wait_until(lambda: len(sim.orders()) >= 2, 10)
            sim.faults.set(FaultConfig(error_rate=1.0, scope=ORDER_POST))
            assert wait_until(lambda: any("circuit is open" in r.reason for r in rejects), 15)
            sent = len(sim.orders())
            sim.faults.clear()
            time.sleep(1)
            assert len(sim.orders()) == sent  # open for 30 s: nothing reaches the venue
        assert ("orders", "closed", "open") in tally.breaker


# ------------------------------------------------------------------------- classification
def test_a_5xx_with_binances_internal_error_body_is_transient_never_a_rejection() -> None:
    """ccxt raises ``OperationFailed`` (not a ``NetworkError``) for Binance's -1001 body:
    the venue's outcome is unknown, so a submit is ambiguous and a query is retried."""
    with running_sim() as sim:
        sim.faults.set(FaultConfig(error_rate=1.0, error_body="binance", scope=ORDER_POST))
        client = binance_client(sim)
        client.load_markets()
        with pytest.raises(ccxt.BaseError) as info:
            client.create_order("BTC/USDT", "market", "buy", 0.001)
        submit = classify(info.value, "submit", venue="binance")
        query = classify(info.value, "query", venue="binance")
        assert isinstance(submit, AmbiguousOutcomeError)
        assert type(query) is TransientBrokerError


# ---------------------------------------------------------------------------- deadlines
def test_a_hung_submit_times_out_at_its_deadline_and_is_never_sent_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim(balances=BALANCES) as sim:
        config = config_for(tmp_path, sim, monkeypatch, degrade_to_paper=False,
                            submit_timeout_s=0.5, positions_timeout_s=0.5, retry_attempts=1)
        broker = guard_broker(build_broker(config.broker, SystemClock()), config.resilience,
                              SystemClock())
        assert isinstance(broker, ResilientBroker)
        broker.connect(lambda event: None)
        try:
            sim.faults.set(FaultConfig(timeout_rate=1.0, timeout_mode="hang",
                                       timeout_hold_s=10, scope=ORDER_POST))
            started = time.monotonic()
            # Still running at its deadline: it may yet land, so no lookup-and-resend race.
            with pytest.raises(AmbiguousOutcomeError, match="still in flight"):
                broker.submit_order("hung-1", request("BTC/USDT", quantity="0.001"))
            took = time.monotonic() - started
            assert took < 5, took  # the sim holds for 10 s; the deadline is 0.5 s
            time.sleep(1.0)  # the adapter's poller looks it up by client id meanwhile
            assert [o["clientOrderId"] for o in sim.orders()] == ["hung-1"]  # exactly once
            sim.faults.set(FaultConfig(timeout_rate=1.0, timeout_mode="hang",
                                       timeout_hold_s=10, scope=("GET /api/v3/account",)))
            started = time.monotonic()
            with pytest.raises(TransientBrokerError, match="positions"):
                broker.get_positions()
            assert time.monotonic() - started < 5
        finally:
            sim.faults.clear()
            broker.disconnect()


# --------------------------------------------------------------------------- Retry-After
def test_retry_after_from_the_simulators_429_is_honoured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_sim(balances=BALANCES) as sim:
        requests = SimRequests(sim, monkeypatch)
        config = config_for(tmp_path, sim, monkeypatch, degrade_to_paper=False)
        broker = guard_broker(build_broker(config.broker, SystemClock()), config.resilience,
                              SystemClock())
        broker.connect(lambda event: None)
        try:
            def once(fault: HttpFault | None) -> None:
                if fault is HttpFault.RATE_LIMIT:
                    sim.faults.clear()  # one 429, then the venue serves again

            requests.after_fault = once
            sim.faults.set(FaultConfig(rate_limit_rate=1.0, retry_after_s=1,
                                       scope=("GET /api/v3/account",)))
            assert broker.get_positions() == {"BTC/USDT": Decimal(1)}
            first, second = requests.times("GET", "/api/v3/account")[-2:]
            # the policy's own wait is 0.05 s; the venue asked for 1 s and got it
            assert second - first >= 0.95, second - first
            # a submit refused with 429 is looked up ("not there"), then re-sent only
            # after the venue's Retry-After
            sim.faults.set(FaultConfig(rate_limit_rate=1.0, retry_after_s=1,
                                       scope=ORDER_POST))
            broker.submit_order("after-429", request("BTC/USDT", quantity="0.001"))
            first, second = requests.times("POST", "/api/v3/order")[-2:]
            assert second - first >= 0.95, second - first
            assert [o["clientOrderId"] for o in sim.orders()] == ["after-429"]
        finally:
            broker.disconnect()


# ------------------------------------------------------------------- outage and shadow
@pytest.mark.parametrize("policy", ["manual", "flatten_shadow"])
def test_outage_goes_to_shadow_and_back_without_a_shadow_order_at_the_venue(
        policy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "sim-state"
    sim = running_sim(state, balances=BALANCES, price_source="random", tick_interval_s=0.05)
    first = sim.__enter__()
    port, ws_port = first.port, first.ws_port
    config = config_for(tmp_path, first, monkeypatch, resume_policy=policy,
                        degrade_after_s=1, breaker_fail_max=2)
    engine = engine_from(config)
    tally = Tally()
    tally.attach(engine)
    broker = engine.broker
    assert isinstance(broker, ShadowingBroker)
    engine.start()
    try:
        assert wait_until(lambda: len(first.orders()) >= 2, 10)
        end_prices = outage(sim, engine)
        assert wait_until(lambda: engine.mode == "shadow", 20), tally
        assert wait_until(lambda: sum(o.shadow for o in engine.orders.all_orders()) >= 3, 15)
        with running_sim(state, balances=BALANCES, price_source="random",
                         tick_interval_s=0.05, port=port, ws_port=ws_port) as second:
            if policy == "manual":
                assert wait_until(lambda: broker.live_available, 15)
                assert engine.mode == "shadow"  # stays until the operator says so
                engine.resume_live("operator resume")
            assert wait_until(lambda: engine.mode == "live", 15)
            end_prices()
            sent_before = len(second.orders())
            assert wait_until(lambda: len(second.orders()) > sent_before + 1, 15)
            settle(engine, second)
            local = {o.client_order_id: o for o in engine.orders.all_orders()}
            at_venue = [o["clientOrderId"] for o in second.orders()]
            assert not [cid for cid in at_venue if local.get(cid) and local[cid].shadow]
            assert judge(engine, second.orders(), second.trades(), second.balances()).ok
    finally:
        engine.stop()
    assert tally.modes == [("live", "shadow"), ("shadow", "live")]


def outage(sim: AbstractContextManager[SimExchange], engine: LiveTradingEngine
           ) -> Callable[[], None]:
    """The outage: the simulator stops (connections refused). The venue's own prices stop
    with it, so a second source keeps the strategy deciding (and the shadow venue filling);
    its orders are what trip the breaker. Returns what stops that second source."""
    stop = threading.Event()
    pump = threading.Thread(target=_replay_prices, args=(engine, stop), daemon=True)
    sim.__exit__(None, None, None)
    pump.start()

    def end() -> None:
        stop.set()
        pump.join(5)
    return end


def _replay_prices(engine: LiveTradingEngine, stop: threading.Event) -> None:
    """While the venue is down, publish BTC prices every 50 ms (as a second data source
    would), so the strategy keeps deciding and the shadow venue keeps filling."""
    step = 0
    while not stop.wait(0.05):
        step += 1
        price = Decimal(30000 + 50 * (step % 7))
        engine.publish(MarketData(symbol="BTC/USDT", price=price, volume=Decimal(1),
                                  timestamp=engine.clock.now()))


def test_an_engine_stopped_in_shadow_restarts_live_with_the_venues_book(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped (cleanly) while in shadow, with shadow orders and positions in its final
    checkpoint; restarted when the venue is back: recovery reconciles the restored book to
    the live account (adopt_broker), so the shadow positions are gone, no shadow order is
    open or ever sent, and the engine trades live on the venue's book."""
    venue_state = tmp_path / "sim-state"
    sim = running_sim(venue_state, balances=BALANCES, price_source="random",
                      tick_interval_s=0.05)
    first = sim.__enter__()
    port, ws_port = first.port, first.ws_port
    config = config_for(tmp_path, first, monkeypatch, degrade_after_s=1, breaker_fail_max=2,
                        state_directory=tmp_path / "engine-state")
    engine = engine_from(config)
    engine.start()
    try:
        assert wait_until(lambda: len(first.orders()) >= 2, 10)
        end_prices = outage(sim, engine)
        assert wait_until(lambda: engine.mode == "shadow", 20)
        assert wait_until(lambda: any(o.shadow and o.filled_quantity
                                      for o in engine.orders.all_orders()), 15)
        end_prices()
    finally:
        engine.stop()
    shadow_ids = {o.client_order_id for o in engine.orders.all_orders() if o.shadow}
    assert shadow_ids

    with running_sim(venue_state, balances=BALANCES, price_source="random",
                     tick_interval_s=0.05, port=port, ws_port=ws_port) as second:
        again = engine_from(config)
        again.start()
        try:
            assert again.mode == "live"
            restored = {o.client_order_id: o for o in again.orders.all_orders()}
            assert not [cid for cid in shadow_ids
                        if cid in restored and not restored[cid].status.is_terminal]
            sent_before = len(second.orders())
            assert wait_until(lambda: len(second.orders()) > sent_before + 1, 15)
            settle(again, second)
            assert not shadow_ids & {o["clientOrderId"] for o in second.orders()}
        finally:
            again.stop()
