"""Connection life of the IB adapter: dropped sockets, TWS connectivity codes, reconnects.

The promise under test: a disconnect, the nightly TWS restart or an IB error code never
corrupts the book or doubles an order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from livetrade.brokers.ib.adapter import IBAdapter
from livetrade.brokers.ib.loop import IBLoop
from livetrade.errors import AmbiguousOutcomeError, EngineStateError, TransientBrokerError
from livetrade.events import (
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderFill,
    Side,
    SystemErrorEvent,
)
from livetrade.orders import OrderRequest
from livetrade.testing.ib_harness import EventLog, IBHarness, ib_harness, ib_section
from livetrade.testing.tws_peer import Delay, DropConnection, Fill, Rest, TWSPeer
from livetrade.testing.tws_peer import messages as m

D = Decimal
BUY_10 = OrderRequest("AAPL", Side.BUY, D(10))


@pytest.fixture(params=["ib_insync", "ib_async"])
def library(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    pytest.importorskip(name)
    return name


@pytest.fixture
def h(library: str) -> Iterator[IBHarness]:
    with ib_harness(library) as harness:
        yield harness


def system_errors(h: IBHarness, error_type: str) -> list[SystemErrorEvent]:
    return [e for e in h.events.of(SystemErrorEvent) if e.error_type == error_type]


def submit_in_background(h: IBHarness, cid: str) -> tuple[threading.Thread, list[Exception]]:
    raised: list[Exception] = []

    def run() -> None:
        try:
            h.adapter.submit_order(cid, BUY_10)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, raised


def test_disconnect_mid_submit_leaves_exactly_one_order_found_by_order_ref(
        h: IBHarness) -> None:
    h.peer.script(DropConnection(then=Rest()))
    with pytest.raises(AmbiguousOutcomeError):
        h.adapter.submit_order("c1", BUY_10)
    assert h.wait_reconnects(1)
    found = h.adapter.get_order("c1")
    assert found is not None
    (at_peer,) = h.peer.orders_with_ref("c1")
    assert found.broker_order_id == str(at_peer.perm_id)
    assert found.request.quantity == D(10)
    assert [o.client_order_id for o in h.adapter.get_open_orders()] == ["c1"]
    h.adapter.submit_order("c1", BUY_10)  # a blind resend is refused by the adapter...
    assert len(h.peer.orders_with_ref("c1")) == 1  # ...so there is still exactly one order
    h.peer.fill("c1")
    assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
    assert h.events.of(OrderFill)[0].client_order_id == "c1"


def test_an_order_filled_while_the_socket_was_down_is_booked_once_after_reconnect(
        h: IBHarness) -> None:
    h.peer.script(DropConnection(then=Fill(price=D("100.5"))))
    with pytest.raises(AmbiguousOutcomeError):
        h.adapter.submit_order("c1", BUY_10)
    assert h.wait_reconnects(1)
    assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
    (fill,) = h.events.of(OrderFill)
    assert (fill.client_order_id, fill.fill_amount, fill.commission) == ("c1", D(10), D("0.05"))
    found = h.adapter.get_order("c1")
    assert found is not None and found.filled_quantity == D(10)
    assert h.adapter.get_positions() == {"AAPL": D(10)}


def test_the_same_execution_is_never_counted_twice_across_reconnects(h: IBHarness) -> None:
    h.peer.script(Rest())
    h.adapter.submit_order("c1", BUY_10)
    h.peer.fill("c1", D(4))  # seen live
    assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
    h.peer.drop_clients()
    h.peer.fill("c1", D(6))  # while down (or just after): TWS re-sends both on reconnect
    assert h.wait_reconnects(1)
    assert h.events.wait_for(lambda e: e.count(OrderFill) == 2)
    h.peer.drop_clients()
    assert h.wait_reconnects(2)
    ids = [f.fill_id for f in h.events.of(OrderFill)]
    assert len(ids) == 2 == len(set(ids))
    assert sum(f.fill_amount for f in h.events.of(OrderFill)) == D(10)
    assert len(system_errors(h, "IBDisconnected")) == 2


def test_a_dropped_socket_fails_a_pending_submit_at_once(library: str) -> None:
    with ib_harness(library, request_timeout_s=30.0) as h:
        h.peer.script(Delay(30.0, Rest()))
        thread, raised = submit_in_background(h, "c1")
        assert h.peer.wait_for(lambda: m.PLACE_ORDER in h.peer.requests)
        h.peer.drop_clients()
        thread.join(10.0)
        assert not thread.is_alive()
        (error,) = raised
        assert isinstance(error, AmbiguousOutcomeError)
        assert "connection to TWS lost" in str(error)  # not the 30 s timeout
        assert system_errors(h, "IBDisconnected")


def test_1100_fails_pending_work_and_refuses_orders_until_1102(h: IBHarness) -> None:
    h.peer.script(Delay(1.0, Rest()))
    thread, raised = submit_in_background(h, "c1")
    assert h.peer.wait_for(lambda: m.PLACE_ORDER in h.peer.requests)
    h.peer.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    thread.join(10.0)
    assert isinstance(raised[0], AmbiguousOutcomeError) and "1100" in str(raised[0])
    assert h.events.wait_for(lambda e: bool(system_errors(h, "IBConnectivityLost")))
    with pytest.raises(TransientBrokerError):
        h.adapter.submit_order("c2", BUY_10)
    assert h.peer.orders_with_ref("c2") == []
    h.peer.send_error(1102, "Connectivity between IB and Trader Workstation has been "
                            "restored - data maintained.")
    assert h.events.wait_for(lambda e: bool(system_errors(h, "IBConnectivityRestored")))
    h.adapter.submit_order("c3", BUY_10)
    assert h.events.wait_for(
        lambda e: any(f.client_order_id == "c3" for f in e.of(OrderFill)))
    accepted = {a.client_order_id for a in h.events.of(OrderAccepted)}
    assert "c1" in accepted  # the ambiguous order did arrive, and the resync found it


def test_1101_resubscribes_market_data(h: IBHarness) -> None:
    h.adapter.subscribe_market_data(["AAPL"])
    assert h.peer.wait_for(lambda: h.peer.subscribers("AAPL") == 1)
    h.peer.send_error(1101, "Connectivity between IB and TWS has been restored - data lost.")
    assert h.peer.wait_for(lambda: h.peer.requests.count(m.REQ_MKT_DATA) == 2)
    assert h.peer.wait_for(lambda: m.CANCEL_MKT_DATA in h.peer.requests)
    assert h.peer.wait_for(lambda: h.peer.subscribers("AAPL") == 1)
    h.peer.push_tick("AAPL", D("99.75"))
    assert h.events.wait_for(lambda e: any(t.price == D("99.75") for t in e.of(MarketData)))


def test_reconnects_with_backoff_while_tws_is_away(library: str) -> None:
    with ib_harness(library) as h:
        port = h.peer.port
        h.peer.close()  # TWS gone (nightly restart)
        assert h.events.wait_for(lambda e: bool(system_errors(h, "IBDisconnected")))
        with pytest.raises(TransientBrokerError):
            h.adapter.submit_order("c1", BUY_10)
        with pytest.raises(TransientBrokerError):
            h.adapter.get_positions()  # unknown while down: never reported as flat
        with TWSPeer(port=port) as restarted:
            assert h.wait_reconnects(1, timeout_s=10.0)
            assert restarted.connections == 1
            h.adapter.submit_order("c2", BUY_10)
            assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)


class RecordingSleep:
    """An injected reconnect sleep that records each wait instead of waiting, and parks the
    reconnect loop on the waits numbered in ``hold_at`` until :meth:`release`."""

    def __init__(self, *hold_at: int) -> None:
        self.waits: list[float] = []
        self._hold_at = set(hold_at)
        self._gates: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._changed = threading.Condition()

    async def __call__(self, delay: float) -> None:
        gate = asyncio.Event()
        with self._changed:
            self.waits.append(delay)
            number = len(self.waits)
            if number in self._hold_at:
                self._gates[number] = (asyncio.get_running_loop(), gate)
            self._changed.notify_all()
        if number in self._hold_at:
            await gate.wait()
        else:
            await asyncio.sleep(0)  # still yield to the loop, as a real sleep would

    def wait_parked(self, number: int, timeout_s: float = 5.0) -> bool:
        """Block until the loop is parked on wait ``number``."""
        with self._changed:
            return self._changed.wait_for(lambda: number in self._gates, timeout_s)

    def release(self, number: int) -> None:
        loop, gate = self._gates[number]
        loop.call_soon_threadsafe(gate.set)


def test_reconnect_waits_double_up_to_the_cap_and_stop_on_success_or_close(
        library: str) -> None:
    sleep = RecordingSleep(5, 6)
    with TWSPeer() as peer:
        port = peer.port
        adapter = IBAdapter.from_section(
            ib_section(port, library, reconnect_initial_s=1.0, reconnect_max_s=5.0),
            sleep=sleep)
        events = EventLog()
        adapter.connect(events)

    def reconnected() -> int:
        return sum(1 for e in events.of(SystemErrorEvent) if e.error_type == "IBReconnected")

    try:  # the peer is closed: TWS is away and every attempt is refused
        assert sleep.wait_parked(5)
        assert sleep.waits == [1.0, 2.0, 4.0, 5.0, 5.0]  # doubled per failure, capped
        with TWSPeer(port=port) as restarted:
            sleep.release(5)
            assert events.wait_for(lambda _: reconnected() == 1)
            assert adapter.reconnects == 1
            assert sleep.waits == [1.0, 2.0, 4.0, 5.0, 5.0]  # a success ends the loop
            restarted.drop_clients()  # a second outage starts again from the initial wait
            assert sleep.wait_parked(6)
            assert sleep.waits[5:] == [1.0]
            # Closing the session (the loop thread still running) ends the loop mid-wait:
            # let the parked wait go, and nothing may follow it although TWS is up.
            adapter._call(lambda session: session.close())
            sleep.release(6)
            assert not events.wait_for(lambda _: reconnected() == 2, timeout_s=1.0)
            assert sleep.waits[5:] == [1.0]
            assert restarted.connections == 1
    finally:
        adapter.disconnect()


def test_a_restarted_adapter_finds_yesterdays_orders_but_does_not_replay_their_fills(
        library: str) -> None:
    with ib_harness(library) as h:
        h.adapter.submit_order("c1", BUY_10)
        assert h.events.wait_for(lambda e: e.count(OrderFill) == 1)
        h.adapter.disconnect()  # the engine stops (or crashes) ...
        restarted = IBAdapter.from_section(ib_section(h.peer.port, library))
        events = EventLog()
        restarted.connect(events)  # ... and starts again with a fresh adapter
        try:
            found = restarted.get_order("c1")
            assert found is not None
            assert (found.filled_quantity, found.request.side) == (D(10), Side.BUY)
            assert restarted.get_order("never-sent") is None  # a definite "not there"
            assert events.count(OrderFill) == 0  # not pushed: recovery asks for them
            listed = restarted.get_fills(datetime(1970, 1, 1, tzinfo=UTC))
            assert [f.fill_id for f in listed] == [h.events.of(OrderFill)[0].fill_id]
            assert listed[0].commission == D("0.05")
        finally:
            restarted.disconnect()


def test_the_ib_loop_refuses_a_blocking_call_from_itself_and_times_out() -> None:
    loop = IBLoop()
    loop.start()
    try:
        async def nested() -> int:
            async def inner() -> int:
                return 1
            with pytest.raises(EngineStateError):
                loop.call(inner, 1.0)
            return 2

        assert loop.call(nested, 5.0) == 2

        async def slow() -> None:
            await asyncio.sleep(10)

        with pytest.raises(TransientBrokerError) as raised:
            loop.call(slow, 0.05)
        assert not isinstance(raised.value, AmbiguousOutcomeError)
        with pytest.raises(AmbiguousOutcomeError):
            loop.call(slow, 0.05, ambiguous=True)
    finally:
        loop.stop()
    assert loop.thread is None


def test_an_order_cancelled_while_disconnected_is_reported_after_reconnect(
        library: str) -> None:
    with ib_harness(library, reconnect_initial_s=0.3) as h:
        h.peer.script(Rest())
        h.adapter.submit_order("c1", BUY_10)
        h.peer.drop_clients()
        h.peer.cancel("c1")  # TWS cancels it (a DAY order at the close) while we are away
        assert h.wait_reconnects(1)
        assert h.events.wait_for(lambda e: e.count(OrderCanceled) == 1)
        assert h.events.of(OrderCanceled)[0].client_order_id == "c1"
        assert h.adapter.get_open_orders() == []
        assert not system_errors(h, "IBOrderUnknown")
