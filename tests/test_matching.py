"""Matching rules, one test per rule in ``livetrade.matching``'s docstring."""

from __future__ import annotations

from decimal import Decimal

import pytest
from kit import D, Num

from livetrade.events import OrderType, Side, TimeInForce
from livetrade.matching import (
    FillModel,
    MatchOutcome,
    Quote,
    SimOrder,
    on_arrival,
    on_quote,
)

BUY, SELL = Side.BUY, Side.SELL
EXACT = FillModel()


def order(side: Side = BUY, quantity: Num = 10, kind: OrderType = OrderType.MARKET, *,
          limit: Num | None = None, stop: Num | None = None,
          tif: TimeInForce = TimeInForce.GTC) -> SimOrder:
    return SimOrder(order_id="o1", side=side, quantity=D(quantity), order_type=kind,
                    limit_price=None if limit is None else D(limit),
                    stop_price=None if stop is None else D(stop), time_in_force=tif)


def tick(price: Num, volume: Num = 0) -> Quote:
    return Quote(D(price), D(volume))


def ohlc(open_: Num, high: Num, low: Num, close: Num, volume: Num = 0) -> Quote:
    return Quote(D(close), D(volume), D(open_), D(high), D(low))


def fills(outcome: MatchOutcome) -> list[tuple[Num, Num]]:
    """``(price, quantity)`` of each execution (compare with ints or Decimals)."""
    return [(e.price, e.quantity) for e in outcome.executions]


# ---------------------------------------------------------------- market

def test_market_order_fills_in_full_at_the_quote() -> None:
    outcome = on_arrival(order(), tick(100), EXACT)
    assert fills(outcome) == [(100, 10)]
    assert outcome.done and outcome.order.filled == 10 and outcome.canceled_reason is None


@pytest.mark.parametrize(("side", "expected"), [(BUY, Decimal("100.5")), (SELL, Decimal("99.5"))])
def test_market_slippage_always_worsens_the_price(side: Side, expected: Decimal) -> None:
    """50 bps: a buy pays 0.5% more, a sell receives 0.5% less."""
    outcome = on_arrival(order(side), tick(100), FillModel(slippage_bps=D(50)))
    assert fills(outcome) == [(expected, 10)]


def test_the_input_order_is_never_mutated() -> None:
    """Pure functions: the outcome carries a new order, the old one is unchanged."""
    original = order()
    outcome = on_arrival(original, tick(100), EXACT)
    assert original.filled == 0 and outcome.order.filled == 10
    assert outcome.order is not original


# ---------------------------------------------------------------- limit

@pytest.mark.parametrize(("side", "limit", "price"), [(BUY, 101, 100), (BUY, 100, 100),
                                                      (SELL, 99, 100), (SELL, 100, 100)])
def test_marketable_limit_on_arrival_fills_at_the_quote(side: Side, limit: int,
                                                        price: int) -> None:
    """Marketable on arrival: fills at the quote, which is at least as good as the limit."""
    outcome = on_arrival(order(side, kind=OrderType.LIMIT, limit=limit), tick(price), EXACT)
    assert fills(outcome) == [(price, 10)]


@pytest.mark.parametrize(("side", "limit"), [(BUY, 99), (SELL, 101)])
def test_non_marketable_limit_on_arrival_rests(side: Side, limit: int) -> None:
    outcome = on_arrival(order(side, kind=OrderType.LIMIT, limit=limit), tick(100), EXACT)
    assert outcome.executions == () and not outcome.done


@pytest.mark.parametrize(("side", "limit", "price"), [(BUY, 99, 98), (BUY, 99, 99),
                                                      (SELL, 101, 102), (SELL, 101, 101)])
def test_resting_limit_fills_at_its_limit_when_crossed_or_touched(side: Side, limit: int,
                                                                  price: int) -> None:
    """A resting limit fills at the limit price, not the (better) quote; touching counts."""
    resting = order(side, kind=OrderType.LIMIT, limit=limit)
    outcome = on_quote(resting, tick(price), EXACT)
    assert fills(outcome) == [(limit, 10)]


@pytest.mark.parametrize(("side", "limit"), [(BUY, 99), (SELL, 101)])
def test_resting_limit_does_not_fill_short_of_its_price(side: Side, limit: int) -> None:
    outcome = on_quote(order(side, kind=OrderType.LIMIT, limit=limit), tick(100), EXACT)
    assert outcome.executions == ()


def test_resting_buy_limit_fills_when_the_bar_low_reaches_it() -> None:
    """Close above the limit, low at it: the bar traded there, so the buy fills at 95."""
    resting = order(BUY, kind=OrderType.LIMIT, limit=95)
    assert fills(on_quote(resting, ohlc(100, 101, 95, 100), EXACT)) == [(95, 10)]
    assert on_quote(resting, ohlc(100, 101, "95.01", 100), EXACT).executions == ()


def test_resting_sell_limit_fills_when_the_bar_high_reaches_it() -> None:
    resting = order(SELL, kind=OrderType.LIMIT, limit=105)
    assert fills(on_quote(resting, ohlc(100, 105, 99, 100), EXACT)) == [(105, 10)]
    assert on_quote(resting, ohlc(100, "104.99", 99, 100), EXACT).executions == ()


def test_limit_fills_carry_no_slippage() -> None:
    """Slippage applies to market-style fills only; a limit price is a promise."""
    model = FillModel(slippage_bps=D(100))
    assert fills(on_quote(order(BUY, kind=OrderType.LIMIT, limit=99), tick(98), model)) == [
        (99, 10)]


# ---------------------------------------------------------------- stop

def test_buy_stop_waits_below_its_stop_and_triggers_at_it() -> None:
    """A buy stop does nothing below the stop; at the stop it fills as a market order."""
    stop = order(BUY, kind=OrderType.STOP, stop=105)
    waiting = on_quote(stop, tick(104), EXACT)
    assert waiting.executions == () and not waiting.order.triggered
    triggered = on_quote(stop, tick(105), EXACT)
    assert fills(triggered) == [(105, 10)] and triggered.order.triggered


def test_sell_stop_triggers_when_price_falls_to_it_and_fills_at_the_tick() -> None:
    """On a tick the stop fills at that tick's price (a market order on that quote)."""
    stop = order(SELL, kind=OrderType.STOP, stop=95)
    assert on_quote(stop, tick("95.01"), EXACT).executions == ()
    assert fills(on_quote(stop, tick(94), EXACT)) == [(94, 10)]


def test_stop_inside_a_bar_fills_at_the_stop() -> None:
    """The bar's high passed through the stop: triggered, filled at the stop."""
    stop = order(BUY, kind=OrderType.STOP, stop=105)
    assert fills(on_quote(stop, ohlc(100, 106, 99, 101), EXACT)) == [(105, 10)]


@pytest.mark.parametrize(("side", "stop", "bar", "price"), [
    (BUY, 105, (108, 110, 107, 109), 108),
    (SELL, 95, (92, 93, 90, 91), 92),
])
def test_stop_gapped_through_at_the_open_fills_at_the_open(
        side: Side, stop: int, bar: tuple[int, int, int, int], price: int) -> None:
    """A bar that opens beyond the stop fills at the open: the stop price never traded."""
    outcome = on_quote(order(side, kind=OrderType.STOP, stop=stop), ohlc(*bar), EXACT)
    assert fills(outcome) == [(price, 10)]


def test_stop_fill_is_slipped_like_a_market_order() -> None:
    model = FillModel(slippage_bps=D(100))
    outcome = on_quote(order(BUY, kind=OrderType.STOP, stop=100), tick(100), model)
    assert fills(outcome) == [(101, 10)]


# ---------------------------------------------------------------- stop-limit

def test_stop_limit_triggers_then_fills_as_a_limit_arriving_on_that_quote() -> None:
    """Triggered at the stop, marketable against the limit: fills at the quote."""
    sl = order(BUY, kind=OrderType.STOP_LIMIT, stop=105, limit=106)
    assert on_quote(sl, tick(104), EXACT).executions == ()
    assert fills(on_quote(sl, tick("105.5"), EXACT)) == [(Decimal("105.5"), 10)]


def test_triggered_stop_limit_beyond_its_limit_rests_then_fills_at_the_limit() -> None:
    """Gapping past the limit triggers it without a fill; it then rests as a limit order."""
    sl = order(BUY, kind=OrderType.STOP_LIMIT, stop=105, limit=106)
    gapped = on_quote(sl, tick(110), EXACT)
    assert gapped.executions == () and gapped.order.triggered and not gapped.done
    assert on_quote(gapped.order, tick("106.5"), EXACT).executions == ()
    assert fills(on_quote(gapped.order, tick(104), EXACT)) == [(106, 10)]


# ---------------------------------------------------------------- participation

def test_participation_caps_each_fill_and_the_rest_keeps_working() -> None:
    """20% of volume 20 is 4 per quote: 4, 4, then the last 2."""
    model = FillModel(participation=D("0.2"))
    first = on_arrival(order(quantity=10), tick(100, volume=20), model)
    assert fills(first) == [(100, 4)] and not first.done
    second = on_quote(first.order, tick(101, volume=20), model)
    third = on_quote(second.order, tick(102, volume=20), model)
    assert fills(second) == [(101, 4)] and fills(third) == [(102, 2)]
    assert third.done and third.order.filled == 10


def test_zero_volume_means_no_participation_limit() -> None:
    model = FillModel(participation=D("0.1"))
    assert fills(on_arrival(order(quantity=10), tick(100, volume=0), model)) == [(100, 10)]


def test_a_partially_filled_triggered_stop_keeps_filling_as_market() -> None:
    """After triggering, the stop's remainder fills at later quotes, like a market order."""
    model = FillModel(participation=D("0.5"))
    first = on_quote(order(BUY, kind=OrderType.STOP, stop=100), tick(100, volume=10), model)
    assert fills(first) == [(100, 5)]
    later = on_quote(first.order, tick(99, volume=10), model)  # back below the stop
    assert fills(later) == [(99, 5)] and later.done


@pytest.mark.parametrize("kwargs", [{"slippage_bps": D(-1)}, {"participation": D(0)},
                                    {"participation": D("1.01")}])
def test_fill_model_rejects_meaningless_settings(kwargs: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError):
        FillModel(**kwargs)


# ---------------------------------------------------------------- time in force

def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    model = FillModel(participation=D("0.5"))
    outcome = on_arrival(order(quantity=10, tif=TimeInForce.IOC), tick(100, volume=6), model)
    assert fills(outcome) == [(100, 3)]
    assert outcome.canceled_reason == "IOC remainder canceled" and outcome.done


def test_ioc_that_cannot_fill_at_all_is_canceled() -> None:
    ioc = order(BUY, kind=OrderType.LIMIT, limit=99, tif=TimeInForce.IOC)
    outcome = on_arrival(ioc, tick(100), EXACT)
    assert outcome.executions == () and outcome.canceled_reason is not None


def test_ioc_filled_in_full_is_not_canceled() -> None:
    outcome = on_arrival(order(tif=TimeInForce.IOC), tick(100), EXACT)
    assert fills(outcome) == [(100, 10)] and outcome.canceled_reason is None


def test_fok_fills_everything_or_nothing() -> None:
    """Volume for only part of it: nothing executes and the order is canceled untouched."""
    model = FillModel(participation=D("0.5"))
    fok = order(quantity=10, tif=TimeInForce.FOK)
    short = on_arrival(fok, tick(100, volume=10), model)
    assert short.executions == () and short.order.filled == 0
    assert short.canceled_reason == "FOK order could not be filled in full"
    full = on_arrival(fok, tick(100, volume=20), model)
    assert fills(full) == [(100, 10)] and full.canceled_reason is None


def test_gtc_and_day_orders_rest() -> None:
    """Neither cancels on arrival; DAY expiry belongs to the caller, who knows sessions."""
    for tif in (TimeInForce.GTC, TimeInForce.DAY):
        outcome = on_arrival(order(kind=OrderType.LIMIT, limit=90, tif=tif), tick(100), EXACT)
        assert outcome.canceled_reason is None and not outcome.done



def test_a_stop_arriving_ignores_the_range_of_the_bar_it_arrives_on() -> None:
    """Bar low 94 / high 101 / close 96: a buy stop at 100 and a sell stop at 95 placed
    now must not trigger on history from before they existed."""
    from livetrade.matching import FillModel, Quote, SimOrder, on_arrival

    bar_quote = Quote(Decimal(96), Decimal(0), Decimal(97), Decimal(101), Decimal(94))
    for side, stop in ((Side.BUY, 100), (Side.SELL, 95)):
        order = SimOrder("o", side, Decimal(1), OrderType.STOP, stop_price=Decimal(stop))
        outcome = on_arrival(order, bar_quote, FillModel())
        assert outcome.executions == () and not outcome.order.triggered
    through = SimOrder("o", Side.BUY, Decimal(1), OrderType.STOP, stop_price=Decimal(95))
    filled = on_arrival(through, bar_quote, FillModel())
    assert [(e.price, e.quantity) for e in filled.executions] == [(Decimal(96), Decimal(1))]
