"""CCXTAdapter: ccxt's real ``binance`` class against the exchange simulator, over loopback."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import ccxt
import pytest
from kit import wait_until
from simkit import binance_client, running_sim
from structlog.testing import capture_logs

from livetrade.brokers.ccxt.adapter import CCXTAdapter
from livetrade.brokers.ccxt.capabilities import capabilities
from livetrade.brokers.ccxt.errors import classify
from livetrade.errors import (
    AmbiguousOutcomeError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFill,
    OrderType,
    Side,
    TimeInForce,
)
from livetrade.orders import OrderRequest
from livetrade.resilience import RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.simexchange import FaultConfig, SimExchange

BTC = "BTC/USDT"


def order(side: Side = Side.BUY, quantity: str = "0.01", kind: OrderType = OrderType.MARKET,
          price: str | None = None, tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    return OrderRequest(symbol=BTC, side=side, quantity=Decimal(quantity), order_type=kind,
                        limit_price=None if price is None else Decimal(price),
                        time_in_force=tif)


@contextmanager
def adapter_on(sim: SimExchange, poll_interval_s: float = 0.05
               ) -> Iterator[tuple[CCXTAdapter, list[Event]]]:
    events: list[Event] = []
    adapter = CCXTAdapter(binance_client(sim, timeout_ms=1500), capabilities("binance"),
                          symbols=[BTC], quote_currency="USDT",
                          poll_interval_s=poll_interval_s,
                          secrets=[sim.api_key, sim.api_secret])
    adapter.connect(events.append)
    try:
        yield adapter, events
    finally:
        adapter.disconnect()


def of(events: list[Event], kind: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def fills(events: list[Event]) -> list[OrderFill]:
    return [e for e in events if isinstance(e, OrderFill)]


def test_a_market_order_is_acknowledged_and_filled_with_exact_decimals() -> None:
    with running_sim() as sim, adapter_on(sim) as (adapter, events):
        adapter.submit_order("c-1", order())
        accepted = of(events, OrderAccepted)
        assert len(accepted) == 1 and accepted[0].client_order_id == "c-1"  # type: ignore[attr-defined]
        [fill] = fills(events)
        assert (fill.fill_price, fill.fill_amount) == (Decimal("30000"), Decimal("0.01"))
        assert fill.fee_in_kind == Decimal("0.00001")  # 10 bps taken in BTC, like Binance
        assert fill.fill_id == "BTCUSDT:1" and fill.client_order_id == "c-1"
        assert sim.orders()[0]["clientOrderId"] == "c-1"
        assert adapter.get_positions() == {BTC: Decimal("0.00999")}
        assert adapter.get_account_info().cash == Decimal("99700")
        adapter.poll_once()
        adapter.poll_once()
        assert len(fills(events)) == 1  # the poller sees the same trade: counted once


def test_a_resting_limit_fills_when_the_price_crosses_and_polling_reports_it() -> None:
    with running_sim() as sim, adapter_on(sim) as (adapter, events):
        adapter.submit_order("c-1", order(kind=OrderType.LIMIT, price="29000"))
        assert not fills(events)
        assert [o.client_order_id for o in adapter.get_open_orders()] == ["c-1"]
        sim.set_price(BTC, Decimal("28950"), volume=Decimal(5))
        assert wait_until(lambda: len(fills(events)) == 1, 5)
        assert fills(events)[0].fill_price == Decimal("29000")
        assert adapter.get_open_orders() == []


def test_partial_fills_arrive_as_separate_fills_of_one_order() -> None:
    with running_sim(participation=Decimal("0.5")) as sim, adapter_on(sim) as (adapter, events):
        adapter.submit_order("c-1", order(quantity="0.1", kind=OrderType.LIMIT, price="29000"))
        sim.set_price(BTC, Decimal("28900"), volume=Decimal("0.1"))
        sim.set_price(BTC, Decimal("28900"), volume=Decimal("0.1"))
        assert wait_until(lambda: len(fills(events)) == 2, 5)
        assert sum(f.fill_amount for f in fills(events)) == Decimal("0.1")
        assert {f.client_order_id for f in fills(events)} == {"c-1"}


def test_cancel_reports_the_cancel_and_an_unknown_order_is_a_rejected_cancel() -> None:
    with running_sim() as sim, adapter_on(sim) as (adapter, events):
        adapter.submit_order("c-1", order(kind=OrderType.LIMIT, price="29000"))
        adapter.cancel_order("c-1")
        assert [e.client_order_id for e in of(events, OrderCanceled)] == ["c-1"]  # type: ignore[attr-defined]
        with pytest.raises(OrderRejectedError):
            adapter.cancel_order("c-1")  # already canceled: Binance says unknown order
        with pytest.raises(OrderRejectedError, match="no order"):
            adapter.cancel_order("never-sent")
        adapter.poll_once()
        assert len(of(events, OrderCanceled)) == 1


def test_an_order_off_the_lot_step_or_below_the_minimum_never_leaves() -> None:
    with running_sim() as sim, adapter_on(sim) as (adapter, _):
        with pytest.raises(OrderRejectedError, match=r"nearest valid quantity is 0\.01234"):
            adapter.submit_order("c-1", order(quantity="0.012345"))
        with pytest.raises(OrderRejectedError, match=r"nearest valid price is 29000\.12"):
            adapter.submit_order("c-2", order(kind=OrderType.LIMIT, price="29000.123"))
        with pytest.raises(OrderRejectedError, match=r"notional .* below"):
            adapter.submit_order("c-3", order(quantity="0.0001"))
        with pytest.raises(OrderRejectedError, match="cannot take time in force DAY"):
            adapter.submit_order("c-4", order(kind=OrderType.LIMIT, price="29000",
                                              tif=TimeInForce.DAY))
        assert sim.orders() == []


def test_the_venue_refusing_an_order_is_a_rejection() -> None:
    with (running_sim(balances={"USDT": Decimal(100)}) as sim,
          adapter_on(sim) as (adapter, _),
          pytest.raises(OrderRejectedError, match="InsufficientFunds")):
        adapter.submit_order("c-1", order(quantity="1"))


def test_bad_credentials_are_permanent_and_never_printed() -> None:
    with running_sim() as sim:
        client = binance_client(sim, api_key="k-not-valid-1234", secret="s-not-valid-5678")
        adapter = CCXTAdapter(client, capabilities("binance"), symbols=[BTC],
                              quote_currency="USDT",
                              secrets=["k-not-valid-1234", "s-not-valid-5678"])
        with capture_logs() as logs, pytest.raises(PermanentBrokerError) as info:
            adapter.connect(lambda e: None)  # its first signed call is refused
        assert "AuthenticationError" in str(info.value)
        text = f"{info.value} {info.value.context} {logs} {adapter!r}"
        assert "k-not-valid-1234" not in text and "s-not-valid-5678" not in text


def test_a_dropped_answer_ends_with_exactly_one_order_at_the_venue() -> None:
    faults = FaultConfig(timeout_rate=1.0, timeout_hold_s=0.2, scope=("POST /api/v3/order",))
    with running_sim(faults=faults) as sim, adapter_on(sim) as (adapter, events):
        broker = ResilientBroker(adapter, ResilienceSettings(
            retry=RetryPolicy(attempts=2, initial_s=0.01),
            submit_retry=RetryPolicy(attempts=3, initial_s=0.01)))
        with pytest.raises(AmbiguousOutcomeError):
            adapter.submit_order("c-0", order())  # the bare adapter: ambiguous, not failed
        broker.submit_order("c-1", order())  # resolved by lookup: placed, not re-sent
        placed = [o["clientOrderId"] for o in sim.orders()]
        assert placed.count("c-1") == 1 and placed.count("c-0") == 1
        sim.faults.clear()
        assert wait_until(lambda: {f.client_order_id for f in fills(events)} == {"c-0", "c-1"},
                          5)
        assert len(fills(events)) == 2


def test_an_order_found_late_by_lookup_still_books_its_fill_once() -> None:
    """A submit answer lost; while the lookup that finds it waits out retries, the trade
    poller's cursor moves minutes past its trade (another order filled since). Its fill is
    then read from the order's own trades before anything final is said - and only once."""
    faults = FaultConfig(timeout_rate=1.0, timeout_hold_s=0.2, scope=("POST /api/v3/order",))
    skew_ms = [0]
    with running_sim(faults=faults, wall_ms=lambda: int(time.time() * 1000) + skew_ms[0]
                     ) as sim, adapter_on(sim, poll_interval_s=3600) as (adapter, events):
        with pytest.raises(AmbiguousOutcomeError):
            adapter.submit_order("late-1", order())
        sim.faults.clear()
        skew_ms[0] = 120_000  # two minutes later, on both sides of the wire
        adapter.exchange.options["timeDifference"] = -skew_ms[0]
        adapter.submit_order("next-1", order(kind=OrderType.LIMIT, price="29000"))
        sim.set_price(BTC, Decimal("28950"), volume=Decimal(5))
        adapter._follow.poll_trades(BTC)  # the poller's turn while late-1's lookup is in retries
        assert [f.client_order_id for f in fills(events)] == ["next-1"]
        found = adapter.get_order("late-1")  # the lookup resolving the ambiguous submit
        assert found is not None and found.filled_quantity == Decimal("0.01")
        adapter.poll_once()
        adapter.poll_once()
        assert sorted((f.client_order_id, f.fill_amount) for f in fills(events)) == [
            ("late-1", Decimal("0.01")), ("next-1", Decimal("0.01"))]


def test_fills_found_after_a_restart_keep_their_ids() -> None:
    with running_sim() as sim:
        with adapter_on(sim) as (adapter, events):
            adapter.submit_order("c-1", order())
            first = {f.fill_id for f in fills(events)}
        with adapter_on(sim) as (again, _):
            found = again.get_fills(datetime(2000, 1, 1, tzinfo=UTC))
            assert {f.fill_id for f in found} == first
            assert [f.client_order_id for f in found] == ["c-1"]
            assert again.get_order("c-1") is not None
            assert again.get_order("never") is None


def test_open_orders_placed_before_a_restart_are_followed_by_the_new_adapter() -> None:
    with running_sim() as sim:
        with adapter_on(sim) as (adapter, _):
            adapter.submit_order("c-1", order(kind=OrderType.LIMIT, price="29000"))
        with adapter_on(sim) as (_, events):
            sim.set_price(BTC, Decimal("28000"), volume=Decimal(5))
            assert wait_until(lambda: len(fills(events)) == 1, 5)
            assert fills(events)[0].client_order_id == "c-1"


@pytest.mark.parametrize(("error", "operation", "expected"), [
    (ccxt.RequestTimeout("t"), "submit", AmbiguousOutcomeError),
    (ccxt.RequestTimeout("t"), "query", TransientBrokerError),
    (ccxt.ExchangeNotAvailable("503"), "cancel", AmbiguousOutcomeError),
    (ccxt.InvalidNonce("-1021"), "query", TransientBrokerError),
    (ccxt.RateLimitExceeded("429"), "submit", TransientBrokerError),
    (ccxt.DDoSProtection("418"), "query", TransientBrokerError),
    (ccxt.InsufficientFunds("-2010"), "submit", OrderRejectedError),
    (ccxt.InvalidOrder("-1013"), "submit", OrderRejectedError),
    (ccxt.BadSymbol("-1121"), "submit", OrderRejectedError),
    (ccxt.DuplicateOrderId("dup"), "submit", OrderRejectedError),
    (ccxt.OrderNotFound("-2011"), "cancel", OrderRejectedError),
    (ccxt.OrderNotFound("-2013"), "query", PermanentBrokerError),
    (ccxt.AuthenticationError("-1022"), "query", PermanentBrokerError),
    (ccxt.PermissionDenied("no"), "submit", OrderRejectedError),
    (ccxt.AuthenticationError("-2015"), "cancel", PermanentBrokerError),
    (ccxt.NotSupported("fapi"), "query", PermanentBrokerError),
    (ccxt.BadRequest("-1102"), "submit", OrderRejectedError),
    (ccxt.ExchangeError("524 origin timed out"), "submit", AmbiguousOutcomeError),
    (ccxt.ExchangeError("bybit 10016"), "cancel", AmbiguousOutcomeError),
    (ccxt.ExchangeError("?"), "query", PermanentBrokerError),
    (KeyError("price"), "submit", AmbiguousOutcomeError),
])
def test_every_ccxt_error_class_maps_to_our_type(error: Exception, operation: str,
                                                 expected: type[Exception]) -> None:
    mapped = classify(error, operation, venue="binance")  # type: ignore[arg-type]
    assert type(mapped) is expected


def test_retry_after_travels_with_a_rate_limit() -> None:
    mapped = classify(ccxt.RateLimitExceeded("429"), "query", venue="binance",
                      headers={"Retry-After": "7"})
    assert isinstance(mapped, TransientBrokerError) and mapped.retry_after_s == 7.0


def test_rate_limit_from_the_simulator_is_transient_with_its_retry_after() -> None:
    faults = FaultConfig(rate_limit_rate=1.0, retry_after_s=3, scope=("GET /api/v3/account",))
    with running_sim(faults=faults) as sim, adapter_on(sim) as (adapter, _):
        with pytest.raises(TransientBrokerError) as info:
            adapter.get_account_info()
        assert info.value.retry_after_s == 3.0


def test_adapter_logs_never_carry_the_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_sim() as sim, capture_logs() as logs, adapter_on(sim) as (adapter, _):
        adapter.submit_order("c-1", order())
        with pytest.raises(OrderRejectedError):
            adapter.cancel_order("c-1")
        text = f"{logs} {caplog.text}"
        assert sim.api_key not in text and sim.api_secret not in text
        client = binance_client(sim)
        assert sim.api_secret not in repr(adapter) and client.secret == sim.api_secret


def test_a_refused_order_is_not_followed_and_costs_no_polling() -> None:
    with (running_sim(balances={"USDT": Decimal(100)}) as sim,
          adapter_on(sim, poll_interval_s=60) as (adapter, _)):
        for n in range(3):
            with pytest.raises(OrderRejectedError):
                adapter.submit_order(f"c-{n}", order(quantity="1"))
        assert adapter._orders.active() == []


def test_a_partly_filled_order_found_at_restart_settles_when_canceled() -> None:
    with running_sim(participation=Decimal("0.5")) as sim:
        with adapter_on(sim) as (adapter, _):
            adapter.submit_order("c-1", order(quantity="0.1", kind=OrderType.LIMIT,
                                              price="29000"))
            sim.set_price(BTC, Decimal("28900"), volume=Decimal("0.1"))  # fills 0.05
            assert wait_until(lambda: len(adapter.get_fills(
                datetime(2000, 1, 1, tzinfo=UTC))) == 1, 5)
        with adapter_on(sim) as (again, events):
            time.sleep(0.3)
            again.cancel_order("c-1")
            assert wait_until(lambda: len(of(events, OrderCanceled)) == 1, 5)
            assert again._orders.active() == []


def test_a_market_order_settled_in_its_answer_costs_the_poller_nothing() -> None:
    with running_sim() as sim, adapter_on(sim, poll_interval_s=3600) as (adapter, events):
        adapter.submit_order("m-1", order())
        assert [f.client_order_id for f in fills(events)] == ["m-1"]
        lookups = counted_lookups(adapter)
        adapter.poll_once()
        assert lookups == []


def test_a_lost_submit_that_never_landed_is_looked_up_ever_more_rarely() -> None:
    """Every lookup costs request weight: a lost submit is asked about at polls 1, 3, 7,
    15, ... after it was sent, not at every poll."""
    faults = FaultConfig(error_rate=1.0, scope=("POST /api/v3/order",))  # 5xx, not placed
    with running_sim(faults=faults) as sim, adapter_on(sim, poll_interval_s=3600) as (
            adapter, _):
        with pytest.raises(TransientBrokerError):
            adapter.submit_order("lost-1", order())
        asked: list[int] = []
        real = adapter.get_order

        def counting(client_order_id: str) -> object:
            asked.append(adapter.polls)
            return real(client_order_id)

        adapter.get_order = counting  # type: ignore[method-assign,assignment]
        for _ in range(20):
            adapter.poll_once()
        assert asked == [1, 3, 7, 15]


def counted_lookups(adapter: CCXTAdapter) -> list[str]:
    calls: list[str] = []
    real = adapter.exchange.fetch_order

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(str(args[0]))
        return real(*args, **kwargs)

    adapter.exchange.fetch_order = counting
    return calls


def test_fills_of_finished_orders_cost_one_lookup_per_order_ever() -> None:
    """A trade names only the venue's order id. An order this adapter placed or looked up
    once is never looked up again: every reconciliation reads the last hour of fills, and
    a lookup per finished order each time would exhaust the venue's request weight."""
    with running_sim() as sim:
        with adapter_on(sim) as (adapter, _):
            for n in range(3):
                adapter.submit_order(f"c-{n}", order())
            adapter.poll_once()  # all three finished and forgotten by the poller
            mine = counted_lookups(adapter)
            assert [f.client_order_id for f in adapter.get_fills(
                datetime(2000, 1, 1, tzinfo=UTC))] == ["c-0", "c-1", "c-2"]
            assert mine == []
        with adapter_on(sim) as (again, _):  # a restart: ids learned from the venue once
            calls = counted_lookups(again)
            for _ in range(2):
                fills = again.get_fills(datetime(2000, 1, 1, tzinfo=UTC))
                assert [f.client_order_id for f in fills] == ["c-0", "c-1", "c-2"]
            assert len(calls) == len(set(calls)) == 3


def test_polling_a_quiet_book_costs_one_open_orders_call_not_a_lookup_per_order() -> None:
    """The venue's request weight is finite (Binance: 6,000 a minute): a poll asks for the
    open orders once per symbol, and for trades and single orders only when one changed."""
    with running_sim() as sim, adapter_on(sim, poll_interval_s=3600) as (adapter, events):
        for n in range(5):
            adapter.submit_order(f"rest-{n}", order(kind=OrderType.LIMIT,
                                                    price=str(29000 - n * 100)))
        calls: list[str] = []
        for name in ("fetch_open_orders", "fetch_order", "fetch_my_trades"):
            real = getattr(adapter.exchange, name)

            def counting(*args: object, _name: str = name, _real: object = real,
                         **kwargs: object) -> object:
                calls.append(_name)
                return _real(*args, **kwargs)  # type: ignore[operator]

            setattr(adapter.exchange, name, counting)
        for _ in range(3):
            adapter.poll_once()
        assert calls == ["fetch_open_orders"] * 3
        calls.clear()
        sim.set_price(BTC, Decimal("28950"), volume=Decimal(5))  # rest-0 fills
        adapter.poll_once()
        assert sorted(calls) == ["fetch_my_trades", "fetch_open_orders", "fetch_order"]
        assert [f.client_order_id for f in fills(events)] == ["rest-0"]
        calls.clear()
        adapter.poll_once()
        assert calls == ["fetch_open_orders"]


def test_an_order_carried_under_a_derived_id_is_ours_again_after_a_restart() -> None:
    long_id = "a-client-order-id-much-longer-than-binance-allows-0001"  # sent hashed
    with running_sim() as sim:
        with adapter_on(sim) as (adapter, _):
            adapter.submit_order(long_id, order(kind=OrderType.LIMIT, price="29000"))
            wire = sim.orders()[0]["clientOrderId"]
            assert wire != long_id and [o.client_order_id
                                        for o in adapter.get_open_orders()] == [long_id]
        with adapter_on(sim) as (again, events):
            assert [o.client_order_id for o in again.get_open_orders()] == [wire]
            again.learn_client_ids([long_id, "another"])  # what the engine restored
            assert [o.client_order_id for o in again.get_open_orders()] == [long_id]
            sim.set_price(BTC, Decimal("28000"), volume=Decimal(5))
            assert wait_until(lambda: [f.client_order_id for f in fills(events)]
                              == [long_id], 5)
