"""IBAdapter over loopback: real ib_insync and ib_async clients against the TWS peer.

Every test runs once per library: ib_async is a drop-in for ib_insync, chosen by config.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import pytest

from livetrade.brokers.ib.adapter import IBAdapter
from livetrade.errors import OrderRejectedError, PermanentBrokerError, TransientBrokerError
from livetrade.events import (
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFill,
    OrderType,
    Side,
    TimeInForce,
)
from livetrade.orders import OrderRequest
from livetrade.testing.ib_harness import EventLog, IBHarness, ib_harness, ib_section
from livetrade.testing.tws_peer import Fill, PeerContract, Reject, Rest, TWSPeer

D = Decimal
T = TypeVar("T")


@pytest.fixture(params=["ib_insync", "ib_async"])
def library(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    pytest.importorskip(name)
    return name


@pytest.fixture
def h(library: str) -> Iterator[IBHarness]:
    with ib_harness(library) as harness:
        harness.peer.set_price("AAPL", D("101.25"))
        yield harness


def buy(qty: int | str = 10, symbol: str = "AAPL", **kw: object) -> OrderRequest:
    return OrderRequest(symbol, Side.BUY, D(qty), **kw)  # type: ignore[arg-type]


def fills_of(h: IBHarness, cid: str) -> list[OrderFill]:
    return [f for f in h.events.of(OrderFill) if f.client_order_id == cid]


def test_connects_and_disconnects(h: IBHarness) -> None:
    assert h.adapter.connected
    assert h.peer.session_count == 1
    h.adapter.disconnect()
    assert h.peer.wait_for(lambda: h.peer.session_count == 0)
    assert not h.adapter.connected
    h.adapter.disconnect()  # idempotent


def test_connect_to_a_closed_port_is_a_transient_error(library: str) -> None:
    with TWSPeer() as peer:
        port = peer.port
    adapter = IBAdapter.from_section(ib_section(port, library, connect_timeout_s=1.0))
    with pytest.raises(TransientBrokerError):
        adapter.connect(EventLog())
    assert adapter.loop_thread_ident is None  # the IB thread is gone again


def test_market_order_fills_fully_with_its_commission(h: IBHarness) -> None:
    h.adapter.submit_order("c1", buy(10))
    assert h.events.wait_for(lambda e: len(fills_of(h, "c1")) == 1)
    (fill,) = fills_of(h, "c1")
    (peer_order,) = h.peer.orders_with_ref("c1")
    assert (fill.side, fill.fill_amount, fill.fill_price) == (Side.BUY, D(10), D("101.25"))
    assert fill.commission == D("0.05")  # 10 x 0.005, from the separate commission report
    assert fill.order_id == str(peer_order.perm_id)
    assert [a.client_order_id for a in h.events.of(OrderAccepted)] == ["c1"]


def test_market_order_fills_partially_then_fully(h: IBHarness) -> None:
    h.peer.script(Fill(parts=(D(4), D(6)), price=D("99.5")))
    h.adapter.submit_order("c1", buy(10))
    assert h.events.wait_for(lambda e: len(fills_of(h, "c1")) == 2)
    fills = fills_of(h, "c1")
    assert [f.fill_amount for f in fills] == [D(4), D(6)]
    assert [f.commission for f in fills] == [D("0.02"), D("0.03")]
    assert len({f.fill_id for f in fills}) == 2


def test_limit_order_rests_then_fills_in_parts(h: IBHarness) -> None:
    h.adapter.submit_order("c1", buy(3, order_type=OrderType.LIMIT, limit_price=D("100.5")))
    (working,) = h.adapter.get_open_orders()
    assert working.client_order_id == "c1"
    assert working.request.limit_price == D("100.5")
    assert working.request.order_type is OrderType.LIMIT
    h.peer.fill("c1", D(1))
    assert h.events.wait_for(lambda e: len(fills_of(h, "c1")) == 1)
    h.peer.fill("c1")
    assert h.events.wait_for(lambda e: len(fills_of(h, "c1")) == 2)
    assert [f.fill_amount for f in fills_of(h, "c1")] == [D(1), D(2)]
    assert all(f.fill_price == D("100.5") for f in fills_of(h, "c1"))
    assert h.adapter.get_open_orders() == []


def test_stop_and_stop_limit_orders_carry_their_prices_and_time_in_force(h: IBHarness) -> None:
    h.adapter.submit_order("s1", buy(2, order_type=OrderType.STOP, stop_price=D("105"),
                                     time_in_force=TimeInForce.DAY))
    h.adapter.submit_order("s2", buy(2, order_type=OrderType.STOP_LIMIT, stop_price=D("105"),
                                     limit_price=D("106"), time_in_force=TimeInForce.IOC))
    (stop,) = h.peer.orders_with_ref("s1")
    (stop_limit,) = h.peer.orders_with_ref("s2")
    assert (stop.order_type, stop.aux_price, stop.tif) == ("STP", D(105), "DAY")
    assert (stop_limit.order_type, stop_limit.aux_price, stop_limit.limit_price,
            stop_limit.tif) == ("STP LMT", D(105), D(106), "IOC")
    reported = {o.client_order_id: o.request for o in h.adapter.get_open_orders()}
    assert reported["s2"].stop_price == D(105) and reported["s2"].limit_price == D(106)


def test_cancel_becomes_an_order_canceled_event(h: IBHarness) -> None:
    h.peer.script(Rest())
    h.adapter.submit_order("c1", buy(5))
    h.adapter.cancel_order("c1")
    assert h.events.wait_for(lambda e: e.count(OrderCanceled) == 1)
    assert h.events.of(OrderCanceled)[0].client_order_id == "c1"
    assert h.peer.orders_with_ref("c1")[0].status == "Cancelled"


def test_cancel_of_an_order_ib_does_not_know_is_permanent(h: IBHarness) -> None:
    with pytest.raises(PermanentBrokerError):
        h.adapter.cancel_order("never-sent")


def test_reject_with_an_ib_error_code_raises_order_rejected(h: IBHarness) -> None:
    h.peer.script(Reject(201, "Order rejected - reason:insufficient buying power"))
    with pytest.raises(OrderRejectedError) as raised:
        h.adapter.submit_order("c1", buy(10))
    assert raised.value.context["ib_code"] == 201
    assert "insufficient buying power" in str(raised.value)
    assert h.peer.orders_with_ref("c1") == []
    assert h.events.count(OrderAccepted) == 0


def test_an_unknown_contract_is_rejected_before_anything_is_sent(h: IBHarness) -> None:
    h.peer.auto_stocks = False
    with pytest.raises(OrderRejectedError):
        h.adapter.submit_order("c1", buy(1, symbol="NOPE"))
    assert h.peer.orders_with_ref("c1") == []


def test_a_client_order_id_is_never_sent_twice(h: IBHarness) -> None:
    h.peer.script(Rest())
    h.adapter.submit_order("c1", buy(5))
    h.adapter.submit_order("c1", buy(5))
    assert len(h.peer.orders_with_ref("c1")) == 1


def test_positions_and_account_values_are_decimals(library: str) -> None:
    with ib_harness(library, connect=False) as h:
        h.peer.set_position("MSFT", D(5), D(300))
        h.peer.set_price("MSFT", D(310))
        h.peer.set_price("AAPL", D("101.25"))
        h.adapter.connect(h.events)
        assert h.adapter.get_positions() == {"MSFT": D(5)}
        values = h.adapter.get_account_values()
        assert values["TotalCashValue"] == D(1_000_000)
        assert values["NetLiquidation"] == D(1_001_550)
        info = h.adapter.get_account_info()
        assert (info.cash, info.equity, info.currency) == (D(1_000_000), D(1_001_550), "USD")
        h.adapter.submit_order("c1", buy(10))
        assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
        assert h.peer.wait_for(lambda: len(h.peer.book.executions) == 1)
        assert _eventually(lambda: h.adapter.get_positions().get("AAPL")) == D(10)
        spent = D(1_000_000) - D(10) * D("101.25") - D("0.05")  # price x qty + commission
        assert _eventually(lambda: _value_if(h.adapter, "TotalCashValue", spent)) == spent


def _value_if(adapter: IBAdapter, tag: str, wanted: Decimal) -> Decimal | None:
    value = adapter.get_account_values().get(tag)
    return value if value == wanted else None


def _eventually(read: Callable[[], T | None], timeout_s: float = 5.0) -> T | None:
    """The first non-None value of ``read()`` within ``timeout_s`` (polls with a deadline)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = read()
        if value is not None:
            return value
        time.sleep(0.01)
    return None


def test_futures_and_forex_come_from_contract_specs(library: str) -> None:
    specs = {"ESZ6": "ES:FUT:CME:USD:202612:50", "EURUSD": "EUR:CASH:IDEALPRO:USD"}
    with ib_harness(library, connect=False, symbols=[], contracts=specs) as h:
        h.peer.add_contract(PeerContract(500, "ES", "FUT", "CME", "USD", "202612", "50", "CME"))
        h.peer.add_contract(PeerContract(600, "EUR", "CASH", "IDEALPRO", "USD",
                                         primary_exchange="IDEALPRO"))
        h.peer.set_price("ES", D("5000.25"))
        h.adapter.connect(h.events)
        h.adapter.submit_order("f1", buy(2, symbol="ESZ6"))
        assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
        (fill,) = h.events.of(OrderFill)
        assert (fill.symbol, fill.fill_price) == ("ESZ6", D("5000.25"))
        (placed,) = h.peer.orders_with_ref("f1")
        assert (placed.contract.sec_type, placed.contract.expiry) == ("FUT", "202612")
        assert _eventually(lambda: h.adapter.get_positions().get("ESZ6")) == D(2)


def test_an_unknown_configured_contract_fails_the_connect(library: str) -> None:
    with (ib_harness(library, connect=False, contracts={"X": "XYZ:FUT:CME:USD:202612"}) as h,
          pytest.raises(PermanentBrokerError)):
        h.adapter.connect(h.events)


def test_commission_reports_are_attached_or_the_fill_goes_without(library: str) -> None:
    with ib_harness(library, commission_wait_s=0.2) as h:
        h.peer.commission_reports = False
        h.adapter.submit_order("c1", buy(10))
        assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
        assert h.events.of(OrderFill)[0].commission == 0


def test_past_fills_are_listed_by_time(h: IBHarness) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    h.adapter.submit_order("c1", buy(10))
    assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
    listed = h.adapter.get_fills(start)
    assert [f.fill_id for f in listed] == [h.events.of(OrderFill)[0].fill_id]
    assert h.adapter.get_fills(datetime(2999, 1, 1, tzinfo=UTC)) == []


def test_market_data_streams_over_the_same_connection(h: IBHarness) -> None:
    h.adapter.subscribe_market_data(["AAPL"])
    assert h.peer.wait_for(lambda: h.peer.subscribers("AAPL") == 1)
    h.peer.push_tick("AAPL", D("101.37"), D(300))
    assert h.events.wait_for(lambda e: e.count(MarketData) >= 1)
    tick = h.events.of(MarketData)[-1]
    assert (tick.symbol, tick.price, tick.volume) == ("AAPL", D("101.37"), D(300))


def test_every_trade_tick_of_a_burst_becomes_an_event_in_order(h: IBHarness) -> None:
    h.adapter.subscribe_market_data(["AAPL"])
    assert h.peer.wait_for(lambda: h.peer.subscribers("AAPL") == 1)
    prices = [D("100.01") + D(i) / 100 for i in range(20)]
    for price in prices:  # faster than the loop turns: ib_insync coalesces its ticker
        h.peer.push_tick("AAPL", price)
    assert h.events.wait_for(lambda e: e.count(MarketData) == len(prices))
    assert [t.price for t in h.events.of(MarketData)] == prices


def test_a_refused_cancel_becomes_an_order_cancel_rejected_event(h: IBHarness) -> None:
    h.peer.script(Rest())
    h.adapter.submit_order("c1", buy(5))
    h.peer.refuse_cancels = True
    h.adapter.cancel_order("c1")
    assert h.events.wait_for(lambda e: e.count(OrderCancelRejected) == 1)
    rejected = h.events.of(OrderCancelRejected)[0]
    assert rejected.client_order_id == "c1" and "10148" in rejected.reason
    assert h.events.count(OrderCanceled) == 0
    assert [o.client_order_id for o in h.adapter.get_open_orders()] == ["c1"]
