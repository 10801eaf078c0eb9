"""Pre-trade risk checks: each limit, the kill switch, and the data-time rate window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kit import D, at, manual_clock, request

from livetrade.clock import ManualClock
from livetrade.events import OrderType, Side
from livetrade.orders import OrderRequest
from livetrade.risk import KillSwitch, RiskChecker, RiskLimits


def check(limits: RiskLimits, req: OrderRequest | None = None, *, position: int = 0,
          open_orders: int = 0, price: int | None = 100,
          checker: RiskChecker | None = None) -> str | None:
    checker = checker or RiskChecker(limits, manual_clock())
    return checker.check(req or request(), position=D(position), open_orders=open_orders,
                         reference_price=None if price is None else D(price))


def test_no_limits_let_everything_through() -> None:
    """Every limit defaults to None, which disables it."""
    assert check(RiskLimits(), request(quantity=10**9), position=10**9, open_orders=10**6,
                 price=None) is None


def test_max_order_quantity_is_inclusive() -> None:
    limits = RiskLimits(max_order_quantity=D(10))
    assert check(limits, request(quantity=10)) is None
    assert check(limits, request(quantity="10.01")) == (
        "quantity 10.01 exceeds max_order_quantity 10")


def test_notional_uses_the_limit_price_first() -> None:
    """A limit order's worst case is its limit, whatever the market price."""
    limits = RiskLimits(max_order_notional=D(1_000))
    limit_order = request(quantity=10, order_type=OrderType.LIMIT, limit_price=D(101))
    reason = check(limits, limit_order, price=1)
    assert reason is not None and reason.startswith("notional 1010 exceeds")
    assert check(limits, request(quantity=10), price=100) is None
    assert check(limits, request(quantity=10), price=101) is not None


def test_notional_falls_back_to_the_stop_price_without_a_market_price() -> None:
    limits = RiskLimits(max_order_notional=D(1_000))
    stop = request(quantity=10, order_type=OrderType.STOP, stop_price=D(99))
    assert check(limits, stop, price=None) is None
    assert check(limits, request(quantity=10, order_type=OrderType.STOP, stop_price=D(101)),
                 price=None) is not None


def test_notional_without_any_price_is_refused() -> None:
    """If the order's value cannot be known, the notional limit cannot be honoured."""
    reason = check(RiskLimits(max_order_notional=D(1_000)), request(quantity=1), price=None)
    assert reason == "no reference price for AAPL to check max_order_notional"


@pytest.mark.parametrize(("position", "side", "qty", "ok"), [
    (8, Side.BUY, 2, True), (8, Side.BUY, 3, False),
    (-8, Side.SELL, 2, True), (-8, Side.SELL, 3, False),
    (8, Side.SELL, 18, True), (8, Side.SELL, 19, False),
])
def test_max_position_applies_to_the_projected_absolute_position(
        position: int, side: Side, qty: int, ok: bool) -> None:
    """Long or short, the position after the fill must stay within the limit."""
    reason = check(RiskLimits(max_position_quantity=D(10)), request(side=side, quantity=qty),
                   position=position)
    assert (reason is None) is ok


def test_max_open_orders_counts_the_others() -> None:
    limits = RiskLimits(max_open_orders=3)
    assert check(limits, open_orders=2) is None
    assert check(limits, open_orders=3) == "3 orders already open (max_open_orders 3)"


def test_kill_switch_blocks_everything_until_released() -> None:
    """Engaged, every order fails with the switch's reason; release restores trading."""
    switch = KillSwitch()
    checker = RiskChecker(RiskLimits(), manual_clock(), switch)
    switch.engage("drawdown")
    assert check(RiskLimits(), checker=checker) == "kill switch engaged: drawdown"
    switch.release()
    assert (switch.engaged, switch.reason) == (False, "")
    assert check(RiskLimits(), checker=checker) is None


def test_kill_switch_always_has_a_reason() -> None:
    switch = KillSwitch()
    switch.engage("")
    assert switch.engaged and switch.reason == "kill switch engaged"


def rate_checker(per_second: int) -> tuple[RiskChecker, ManualClock]:
    clock = manual_clock()
    return RiskChecker(RiskLimits(max_orders_per_second=per_second), clock), clock


def test_orders_per_second_is_a_sliding_window_on_the_injected_clock() -> None:
    """Three per second: the fourth within the second is refused; exactly one second after
    the first, a slot is free again. Time is the engine's clock, never the wall."""
    checker, clock = rate_checker(3)
    results = []
    for ms in (0, 100, 200, 300):
        clock.advance_to(at(ms / 1000))
        results.append(check(RiskLimits(), checker=checker))
    assert results[:3] == [None, None, None]
    assert results[3] == "more than 3 orders in one second"
    clock.advance_to(at(1))
    assert check(RiskLimits(), checker=checker) is None
    assert check(RiskLimits(), checker=checker) is not None  # 100, 200 and 1000 ms in window


def test_refused_orders_do_not_use_up_the_rate_window() -> None:
    """Only orders that pass every check count towards the rate."""
    limits = RiskLimits(max_order_quantity=D(1), max_orders_per_second=1)
    clock = manual_clock()
    checker = RiskChecker(limits, clock)
    for _ in range(5):
        assert check(limits, request(quantity=2), checker=checker) is not None
    assert check(limits, request(quantity=1), checker=checker) is None
    clock.advance_to(clock.now() + timedelta(milliseconds=10))
    assert check(limits, request(quantity=1), checker=checker) == (
        "more than 1 orders in one second")

