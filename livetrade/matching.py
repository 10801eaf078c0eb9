"""Matching rules: how one order fills against a path of prices. Pure functions, no engine.

Shared by the paper broker and (later) the exchange simulator, so both fill the same way.
Every function takes an immutable :class:`SimOrder` and a :class:`Quote` and returns a
:class:`MatchOutcome` with the updated order and the executions; nothing is mutated.

Rules (``bps`` = 1/10,000):

* **Market**: fills at the quote price, worsened by ``slippage_bps`` (a buy pays more).
* **Limit** on arrival: fills at once if marketable (buy: price <= limit) at the quote
  price, which is at least as good as the limit. Resting: fills **at the limit price** when
  a later quote crosses it (touching counts; a bar uses its low for buys, high for sells).
* **Stop**: triggers when a later quote reaches the stop (buy: price or bar high >= stop),
  then fills as a market order on that quote; on a bar that gaps through the stop the fill
  is at the open, otherwise at the stop. On arrival only the quote's last price counts (the
  bar's range happened before the order existed), and a triggered stop fills at it.
* **Stop-limit**: triggers like a stop, then behaves as a limit order arriving on that quote.
* **Participation** (optional): a quote with volume ``v`` fills at most
  ``participation * v``; the rest keeps working (partial fills). Volume 0 means no limit.
* **Time in force**: IOC fills what it can on arrival and cancels the rest; FOK fills all
  on arrival or nothing; GTC and DAY rest (DAY expiry is the caller's, it knows sessions).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from livetrade.events import SMALLEST, OrderType, Side, TimeInForce
from livetrade.frozen import build, evolve

_BPS = Decimal(10_000)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Quote:
    """One point of the price path: a tick (``price``) or a bar (``price`` = close)."""

    price: Decimal
    volume: Decimal = ZERO
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None


@dataclass(frozen=True)
class SimOrder:
    """An order as the matching rules see it."""

    order_id: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    filled: Decimal = ZERO
    triggered: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled


@dataclass(frozen=True)
class Execution:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class FillModel:
    """How generous the simulated market is."""

    slippage_bps: Decimal = ZERO
    participation: Decimal | None = None

    def __post_init__(self) -> None:
        if self.slippage_bps < 0:
            raise ValueError("slippage_bps must be >= 0")
        if self.participation is not None and not (ZERO < self.participation <= 1):
            raise ValueError("participation must be in (0, 1]")


@dataclass(frozen=True)
class MatchOutcome:
    """The order after matching, what executed, and whether it is finished."""

    order: SimOrder
    executions: tuple[Execution, ...] = ()
    canceled_reason: str | None = None

    @property
    def done(self) -> bool:
        return self.canceled_reason is not None or self.order.remaining == 0


def _slipped(price: Decimal, side: Side, model: FillModel) -> Decimal:
    if model.slippage_bps == 0:
        return price
    factor = model.slippage_bps / _BPS
    return price * (1 + factor) if side is Side.BUY else price * (1 - factor)


def _capacity(order: SimOrder, quote: Quote, model: FillModel) -> Decimal:
    if model.participation is None or quote.volume == 0:
        return order.remaining
    capacity = min(order.remaining, model.participation * quote.volume)
    return capacity if capacity >= SMALLEST else ZERO  # no dust fills below 1e-18


def _unchanged(order: SimOrder) -> MatchOutcome:
    return build(MatchOutcome, order=order, executions=(), canceled_reason=None)


def _fill(order: SimOrder, price: Decimal, quantity: Decimal) -> MatchOutcome:
    # Built with livetrade.frozen: this runs for every fill and every quote a resting
    # order sees, so the records skip their ~1-4 us frozen __init__ / replace.
    if quantity <= 0:
        return _unchanged(order)
    updated = evolve(order, filled=order.filled + quantity)
    execution = build(Execution, price=price, quantity=quantity)
    return build(MatchOutcome, order=updated, executions=(execution,), canceled_reason=None)


def _stop_reached(order: SimOrder, quote: Quote, arriving: bool) -> bool:
    stop = order.stop_price
    assert stop is not None
    if arriving:
        # The bar's range happened before the order existed: only its last price counts.
        return quote.price >= stop if order.side is Side.BUY else quote.price <= stop
    if order.side is Side.BUY:
        return max(quote.price, quote.high or quote.price) >= stop
    return min(quote.price, quote.low or quote.price) <= stop


def _stop_fill_price(order: SimOrder, quote: Quote, arriving: bool) -> Decimal:
    stop = order.stop_price
    assert stop is not None
    if arriving or quote.open is None:
        return quote.price
    if order.side is Side.BUY:
        return max(stop, quote.open)
    return min(stop, quote.open)


def _marketable(order: SimOrder, price: Decimal) -> bool:
    limit = order.limit_price
    assert limit is not None
    return price <= limit if order.side is Side.BUY else price >= limit


def _crossed(order: SimOrder, quote: Quote) -> bool:
    limit = order.limit_price
    assert limit is not None
    if order.side is Side.BUY:
        return min(quote.price, quote.low or quote.price) <= limit
    return max(quote.price, quote.high or quote.price) >= limit


def _execute(order: SimOrder, quote: Quote, model: FillModel, arriving: bool) -> MatchOutcome:
    kind = order.order_type
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and not order.triggered:
        if not _stop_reached(order, quote, arriving):
            return _unchanged(order)
        order = evolve(order, triggered=True)
        if kind is OrderType.STOP:
            price = _slipped(_stop_fill_price(order, quote, arriving), order.side, model)
            return _fill(order, price, _capacity(order, quote, model))
        arriving = True  # a triggered stop-limit is a limit order arriving now
    if kind is OrderType.MARKET or kind is OrderType.STOP:
        price = _slipped(quote.price, order.side, model)
        return _fill(order, price, _capacity(order, quote, model))
    limit = order.limit_price
    assert limit is not None
    if arriving:
        if _marketable(order, quote.price):
            return _fill(order, quote.price, _capacity(order, quote, model))
        return _unchanged(order)
    if _crossed(order, quote):
        return _fill(order, limit, _capacity(order, quote, model))
    return _unchanged(order)


def on_arrival(order: SimOrder, quote: Quote, model: FillModel) -> MatchOutcome:
    """Match a newly arrived order against the current quote, applying IOC/FOK."""
    if order.time_in_force is TimeInForce.FOK:
        # All or nothing: only fill if the whole quantity is available now.
        outcome = _execute(order, quote, model, arriving=True)
        if outcome.order.remaining != 0:
            return MatchOutcome(order, (), "FOK order could not be filled in full")
        return outcome
    outcome = _execute(order, quote, model, arriving=True)
    if order.time_in_force is TimeInForce.IOC and outcome.order.remaining != 0:
        return MatchOutcome(outcome.order, outcome.executions, "IOC remainder canceled")
    return outcome


def on_quote(order: SimOrder, quote: Quote, model: FillModel) -> MatchOutcome:
    """Match a resting order against a later quote."""
    return _execute(order, quote, model, arriving=False)
