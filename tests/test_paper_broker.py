"""The paper broker: a venue that fills against the engine's own market data."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from kit import T0, D, bar, manual_clock, md, request

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig, PaperOrder, PaperOrderStatus
from livetrade.brokers.paper_ledger import Working
from livetrade.clock import ManualClock
from livetrade.errors import EngineStateError, OrderRejectedError
from livetrade.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFill,
    OrderType,
    Side,
    TimeInForce,
)
from livetrade.matching import SimOrder


def connected(config: PaperBrokerConfig | None = None,
              clock: ManualClock | None = None) -> tuple[PaperBroker, list[Event]]:
    """A paper broker whose events land in the returned list."""
    broker = PaperBroker(config, clock=clock or manual_clock())
    events: list[Event] = []
    broker.connect(events.append)
    return broker, events


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def the_fills(events: list[Event]) -> list[OrderFill]:
    return [e for e in events if isinstance(e, OrderFill)]


def test_market_order_fills_at_the_last_price_seen() -> None:
    """Accepted, then one fill at the last tick's price, with the venue's ids."""
    broker, events = connected()
    broker.on_market_data(md("AAPL", 100))
    broker.on_market_data(md("AAPL", 101))
    broker.submit_order("c1", request(quantity=10))
    assert kinds(events) == ["OrderAccepted", "OrderFill"]
    ack, fill = events
    assert isinstance(ack, OrderAccepted) and isinstance(fill, OrderFill)
    assert (ack.client_order_id, ack.order_id) == ("c1", "PB1")
    assert (fill.client_order_id, fill.order_id, fill.fill_id) == ("c1", "PB1", "PF1")
    assert (fill.symbol, fill.side, fill.fill_price, fill.fill_amount) == (
        "AAPL", Side.BUY, D(101), D(10))
    assert fill.timestamp == T0
    assert broker.get_open_orders() == []


def test_market_order_without_any_price_is_refused() -> None:
    """No quote means no fair fill: the submit raises and nothing is emitted."""
    broker, events = connected()
    with pytest.raises(OrderRejectedError):
        broker.submit_order("c1", request())
    assert events == []


def test_unknown_symbol_is_refused_when_the_venue_lists_its_symbols() -> None:
    broker, events = connected(PaperBrokerConfig(symbols=("AAPL",)))
    broker.on_market_data(md("MSFT", 10))
    with pytest.raises(OrderRejectedError, match="unknown symbol 'MSFT'"):
        broker.submit_order("c1", request("MSFT"))
    assert events == []


def test_a_working_client_order_id_cannot_be_reused() -> None:
    broker, _ = connected()
    broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(90)))
    with pytest.raises(OrderRejectedError, match="duplicate"):
        broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(90)))


def test_using_the_broker_before_connect_is_an_error() -> None:
    """Events with nowhere to go are an engine bug, not something to drop."""
    broker = PaperBroker(clock=manual_clock())
    with pytest.raises(EngineStateError):
        broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(90)))


def test_a_resting_limit_fills_at_its_limit_on_a_later_quote() -> None:
    """Not marketable on arrival: it works, then fills at the limit when the price comes."""
    broker, events = connected()
    broker.on_market_data(md("AAPL", 100))
    broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(95)))
    assert kinds(events) == ["OrderAccepted"]
    [working] = broker.get_open_orders()
    assert (working.client_order_id, working.broker_order_id, working.filled_quantity) == (
        "c1", "PB1", D(0))
    broker.on_market_data(md("AAPL", 96))
    broker.on_market_data(md("MSFT", 1))  # other symbols never touch it
    assert kinds(events) == ["OrderAccepted"]
    broker.on_market_data(md("AAPL", 94))
    [fill] = the_fills(events)
    assert fill.fill_price == 95 and fill.fill_amount == 10
    assert broker.get_open_orders() == []


def test_a_limit_order_before_any_price_rests_until_one_arrives() -> None:
    broker, events = connected()
    broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(95)))
    assert kinds(events) == ["OrderAccepted"]
    broker.on_market_data(md("AAPL", 95))
    assert [f.fill_price for f in the_fills(events)] == [95]


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_ioc_and_fok_without_any_price_are_canceled_not_left_resting(
        tif: TimeInForce) -> None:
    """An IOC/FOK must not rest: with nothing to match now, it is canceled at once, and a
    later price does not fill it."""
    broker, events = connected()
    broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(95),
                                      time_in_force=tif))
    assert kinds(events) == ["OrderAccepted", "OrderCanceled"]
    assert broker.get_open_orders() == []
    broker.on_market_data(md("AAPL", 90))
    assert the_fills(events) == []


def test_ioc_remainder_is_canceled_after_a_partial_fill() -> None:
    broker, events = connected(PaperBrokerConfig(participation=D("0.5")))
    broker.on_market_data(md("AAPL", 100, volume=10))
    broker.submit_order("c1", request(quantity=10, time_in_force=TimeInForce.IOC))
    assert kinds(events) == ["OrderAccepted", "OrderFill", "OrderCanceled"]
    assert the_fills(events)[0].fill_amount == 5
    canceled = events[2]
    assert isinstance(canceled, OrderCanceled) and canceled.reason == "IOC remainder canceled"
    assert broker.get_open_orders() == []


def test_commission_is_bps_of_each_fill_plus_a_per_order_fee_once() -> None:
    """10 bps of notional on every partial fill; the per-order fee only on the first."""
    config = PaperBrokerConfig(commission_bps=D(10), commission_per_order=D(1),
                               participation=D("0.5"))
    broker, events = connected(config)
    broker.on_market_data(md("AAPL", 100, volume=10))
    broker.submit_order("c1", request(quantity=10))
    broker.on_market_data(md("AAPL", 200, volume=10))
    fills = the_fills(events)
    assert [(f.fill_price, f.fill_amount) for f in fills] == [(D(100), D(5)), (D(200), D(5))]
    assert [f.commission for f in fills] == [Decimal("1.5"), Decimal("1.0")]
    assert [f.fill_id for f in fills] == ["PF1", "PF2"]


def test_slippage_worsens_market_fills() -> None:
    broker, events = connected(PaperBrokerConfig(slippage_bps=D(100)))
    broker.on_market_data(md("AAPL", 100))
    broker.submit_order("c1", request(side=Side.SELL, quantity=1))
    assert the_fills(events)[0].fill_price == 99


def test_the_venue_keeps_its_own_account() -> None:
    """Positions and cash as the venue sees them (the other side of a reconciliation)."""
    config = PaperBrokerConfig(initial_cash=D(10_000), commission_per_order=D(2))
    broker, _ = connected(config)
    broker.on_market_data(md("AAPL", 100))
    broker.submit_order("c1", request(quantity=10))
    broker.submit_order("c2", request(side=Side.SELL, quantity=4))
    broker.on_market_data(md("AAPL", 110))
    assert broker.get_positions() == {"AAPL": 6}
    info = broker.get_account_info()
    assert info.cash == 10_000 - 1_000 + 400 - 4
    assert info.equity == info.cash + 6 * 110
    assert info.currency == "USD"


def test_cancel_of_a_working_order_is_confirmed() -> None:
    broker, events = connected()
    broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(90)))
    broker.cancel_order("c1")
    assert kinds(events) == ["OrderAccepted", "OrderCanceled"]
    assert broker.get_open_orders() == []
    broker.on_market_data(md("AAPL", 80))
    assert the_fills(events) == []


def test_cancel_of_an_order_that_is_not_working_is_refused() -> None:
    """Already filled (or unknown): the venue answers with a cancel reject."""
    broker, events = connected()
    broker.on_market_data(md("AAPL", 100))
    broker.submit_order("c1", request())
    broker.cancel_order("c1")
    assert kinds(events) == ["OrderAccepted", "OrderFill", "OrderCancelRejected"]
    refused = events[-1]
    assert isinstance(refused, OrderCancelRejected) and refused.client_order_id == "c1"


def test_day_orders_expire_at_the_first_price_of_a_later_utc_date() -> None:
    """A DAY order survives prices of its own date, then expires; a GTC order does not."""
    clock = manual_clock()
    broker, events = connected(clock=clock)
    broker.on_market_data(md("AAPL", 100))
    for cid, tif in (("day", TimeInForce.DAY), ("gtc", TimeInForce.GTC)):
        broker.submit_order(cid, request(order_type=OrderType.LIMIT, limit_price=D(90),
                                         time_in_force=tif))
    broker.on_market_data(md("AAPL", 99, ts=T0 + timedelta(hours=9)))  # 23:30 UTC, same day
    assert not any(isinstance(e, OrderExpired) for e in events)
    broker.on_market_data(md("AAPL", 99, ts=T0 + timedelta(hours=10)))  # next UTC date
    expired = [e for e in events if isinstance(e, OrderExpired)]
    assert [e.client_order_id for e in expired] == ["day"]
    assert [o.client_order_id for o in broker.get_open_orders()] == ["gtc"]


def test_stop_order_on_bars_fills_at_the_open_after_a_gap() -> None:
    """The broker feeds bars to the matching rules with their open/high/low."""
    broker, events = connected()
    broker.on_market_data(bar(open=100, high=101, low=99, close=100))
    broker.submit_order("c1", request(order_type=OrderType.STOP, stop_price=D(105)))
    assert the_fills(events) == []
    broker.on_market_data(bar(open=107, high=109, low=106, close=108))
    assert [f.fill_price for f in the_fills(events)] == [107]


def test_disconnect_detaches_the_sink() -> None:
    broker, _ = connected()
    broker.disconnect()
    with pytest.raises(EngineStateError):
        broker.submit_order("c1", request(order_type=OrderType.LIMIT, limit_price=D(90)))


def test_a_closed_order_is_remembered_as_the_venue_last_had_it() -> None:
    """Without a store the venue keeps closed orders for get_order: filled and canceled
    ones with their progress, times and reason."""
    clock = manual_clock()
    broker, _ = connected(clock=clock)
    broker.on_market_data(md("AAPL", 100))
    broker.submit_order("m1", request(quantity=3))
    broker.submit_order("l1", request(quantity=2, order_type=OrderType.LIMIT,
                                      limit_price=D(90)))
    clock.advance_to(T0 + timedelta(seconds=5))
    broker.cancel_order("l1")
    assert broker.get_order("m1") == PaperOrder("m1", "PB1", request(quantity=3), D(3),
                                                PaperOrderStatus.FILLED, T0, T0, "")
    assert broker.get_order("l1") == PaperOrder(
        "l1", "PB2", request(quantity=2, order_type=OrderType.LIMIT, limit_price=D(90)), D(0),
        PaperOrderStatus.CANCELED, T0, T0 + timedelta(seconds=5), "canceled on request")
    assert broker.get_order("nope") is None


def test_the_working_record_is_the_one_its_constructor_builds() -> None:
    """The venue builds its working records without __init__ (livetrade.frozen): a resting
    order's record must equal, field for field, the one the constructors make."""
    broker, _ = connected()
    broker.on_market_data(md("AAPL", 100))
    limit = request(quantity=2, order_type=OrderType.LIMIT, limit_price=D(90),
                    time_in_force=TimeInForce.DAY)
    broker.submit_order("l1", limit)
    working = broker._working["l1"]  # the venue's own record: what is under test here
    expected = Working("l1", limit, SimOrder("PB1", Side.BUY, D(2), OrderType.LIMIT, D(90),
                                             None, TimeInForce.DAY), T0.date(), T0, T0)
    assert working == expected and vars(working) == vars(expected)
    assert vars(working.sim) == vars(expected.sim)


def test_a_malformed_request_sent_straight_to_the_venue_is_refused() -> None:
    """The venue validates what it receives (the order manager's pass is remembered on the
    request, but a request that never went through it is checked here)."""
    broker, events = connected()
    broker.on_market_data(md("AAPL", 100))
    with pytest.raises(OrderRejectedError, match="quantity"):
        broker.submit_order("bad", request(quantity=0))
    assert events == [] and broker.get_order("bad") is None


def test_a_quote_fills_exactly_its_symbols_working_orders_in_time_order(
        tmp_path: Path) -> None:
    """Resting orders on several symbols, some canceled, some filled, then the venue restarts
    from its store: each quote still reaches every working order of its symbol, oldest first,
    and nothing else (the venue's per-symbol index of working orders follows every change)."""
    clock = manual_clock()
    broker = PaperBroker(None, clock=clock, store_dir=tmp_path)
    before: list[Event] = []
    broker.connect(before.append)
    for k, symbol in enumerate(("AAA", "BBB", "CCC", "AAA", "BBB", "AAA")):
        broker.submit_order(f"c{k}", request(symbol=symbol, quantity=1,
                                             order_type=OrderType.LIMIT, limit_price=D(90)))
    broker.cancel_order("c3")  # AAA: c0, c5 left
    broker.on_market_data(md("AAA", 91))  # above every limit: no fill, and no c3 either
    broker.on_market_data(md("BBB", 89))  # fills c1 and c4
    assert sorted(o.client_order_id for o in broker.get_open_orders()) == ["c0", "c2", "c5"]
    broker.close()

    restarted = PaperBroker(None, clock=clock, store_dir=tmp_path)
    events: list[Event] = []
    restarted.connect(events.append)
    restarted.on_market_data(md("BBB", 80))  # nothing of BBB works any more
    restarted.on_market_data(md("ZZZ", 80))  # nor of a symbol never traded
    assert events == []
    restarted.on_market_data(md("AAA", 89))
    assert [f.client_order_id for f in the_fills(events)] == ["c0", "c5"]
    restarted.submit_order("c6", request(symbol="CCC", quantity=1,
                                         order_type=OrderType.LIMIT, limit_price=D(90)))
    restarted.on_market_data(md("CCC", 89))
    assert [f.client_order_id for f in the_fills(events)] == ["c0", "c5", "c2", "c6"]
    assert restarted.get_open_orders() == []
    restarted.close()


def test_a_partly_filled_order_keeps_its_time_priority() -> None:
    """An order that filled in part is stored again with its new fill; it must keep its place
    ahead of younger orders of its symbol, so the next quote fills it first."""
    broker, events = connected(PaperBrokerConfig(participation=D("0.5")))
    broker.submit_order("older", request(symbol="AAA", quantity=4, order_type=OrderType.LIMIT,
                                         limit_price=D(90)))
    broker.submit_order("younger", request(symbol="AAA", quantity=4,
                                           order_type=OrderType.LIMIT, limit_price=D("88.5")))
    broker.on_market_data(md("AAA", 89, volume=2))  # only "older" is marketable: 1 of 4
    broker.on_market_data(md("AAA", 88, volume=2))  # both are: the older one first
    assert [f.client_order_id for f in the_fills(events)] == ["older", "older", "younger"]
