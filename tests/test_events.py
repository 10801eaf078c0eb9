"""Events: validated once at the edge, frozen, UTC, and ordered by priority."""

from __future__ import annotations

import inspect
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from kit import T0, D, fill, md
from pydantic import BaseModel, ValidationError

from livetrade.events import (
    ORDER_UPDATE_EVENTS,
    Event,
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFill,
    OrderReject,
    Priority,
    ScheduledTrigger,
    Severity,
    Side,
    SystemError,
    SystemErrorEvent,
    trade_tick,
    trusted,
)

BAD_PRICES: list[Any] = [
    Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"),
    float("nan"), float("inf"), "NaN", Decimal(-1), Decimal("-0.01"), Decimal(0), 0,
]


@pytest.mark.parametrize("price", BAD_PRICES, ids=repr)
def test_market_data_rejects_non_finite_zero_and_negative_prices(price: Any) -> None:
    """A price must be a positive finite number, whatever form it arrives in."""
    with pytest.raises(ValidationError):
        MarketData(symbol="X", timestamp=T0, price=price)


@pytest.mark.parametrize("field", ["bid", "ask", "open", "high", "low", "close"])
@pytest.mark.parametrize("price", [Decimal("NaN"), Decimal("Infinity"), Decimal(0), Decimal(-5)],
                         ids=repr)
def test_optional_prices_are_held_to_the_same_rule(field: str, price: Decimal) -> None:
    """Bid, ask and OHLC, when given, are positive finite numbers too."""
    with pytest.raises(ValidationError):
        MarketData(symbol="X", timestamp=T0, price=D(1), **{field: price})


@pytest.mark.parametrize("field", ["fill_price", "fill_amount"])
@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-Infinity"), Decimal(0), Decimal(-1)],
                         ids=repr)
def test_fill_price_and_amount_must_be_positive_and_finite(field: str, value: Decimal) -> None:
    """A fill of nothing, of a negative amount, or at a NaN price never enters the engine."""
    fields: dict[str, Any] = fill().model_dump()
    fields[field] = value
    with pytest.raises(ValidationError):
        OrderFill(**fields)


@pytest.mark.parametrize("volume", [Decimal(-1), Decimal("NaN"), Decimal("Infinity")], ids=repr)
def test_volume_and_commission_must_be_finite_and_non_negative(volume: Decimal) -> None:
    """Zero volume and zero commission are fine; negative or non-finite ones are not."""
    assert md(volume=0).volume == 0
    assert fill(commission=0).commission == 0
    with pytest.raises(ValidationError):
        MarketData(symbol="X", timestamp=T0, price=D(1), volume=volume)
    with pytest.raises(ValidationError):
        fill(commission=volume)


@pytest.mark.parametrize("symbol", ["", "X" * 65])
def test_symbol_length_is_bounded(symbol: str) -> None:
    """Empty or absurdly long symbols are rejected; 64 characters is the limit."""
    assert md(symbol="X" * 64).symbol == "X" * 64
    with pytest.raises(ValidationError):
        md(symbol=symbol)


def test_fill_id_must_not_be_empty() -> None:
    """De-duplication keys on the fill id, so an empty one is refused."""
    with pytest.raises(ValidationError):
        fill(fill_id="")


def test_naive_datetimes_are_rejected() -> None:
    """A time without a zone is ambiguous: refused rather than guessed."""
    naive = datetime(2024, 1, 2, 9, 30)
    with pytest.raises(ValidationError):
        MarketData(symbol="X", timestamp=naive, price=D(1))
    with pytest.raises(ValidationError):
        ScheduledTrigger(trigger_type="t", name="n", scheduled_time=T0, actual_time=naive)


def test_non_utc_datetimes_are_converted_to_the_same_instant_in_utc() -> None:
    """A +02:00 time becomes the same instant, expressed in UTC."""
    local = datetime(2024, 1, 2, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    event = MarketData(symbol="X", timestamp=local, price=D(1))
    assert event.timestamp == local
    assert event.timestamp.tzinfo is UTC
    assert event.timestamp.hour == 14


def test_iso_strings_with_z_parse_to_utc() -> None:
    """Strings from the outside world are parsed and normalised to ``datetime.UTC``."""
    event = MarketData.model_validate(
        {"symbol": "X", "timestamp": "2024-01-02T14:30:00Z", "price": "1.5"})
    assert event.timestamp == T0
    assert event.timestamp.tzinfo is UTC
    assert event.price == Decimal("1.5")


def test_events_are_frozen() -> None:
    """No one can change an event after it crossed a thread boundary."""
    event = md()
    with pytest.raises(ValidationError):
        event.price = D(2)  # type: ignore[misc]
    assert event.price == 100


def test_unknown_fields_are_rejected() -> None:
    """A typo in a field name is an error, not silently dropped data."""
    with pytest.raises(ValidationError):
        MarketData(symbol="X", timestamp=T0, price=D(1), prcie=D(2))  # type: ignore[call-arg]


def test_trusted_builds_an_event_equal_to_a_validated_one() -> None:
    """``trusted`` skips validation but produces the same value (equality and hash)."""
    validated = MarketData(symbol="X", timestamp=T0, price=D("1.25"), volume=D(3))
    fast = trusted(MarketData, symbol="X", timestamp=T0, price=D("1.25"), volume=D(3))
    assert fast == validated
    assert hash(fast) == hash(validated)
    assert fast.bid is None and fast.close is None  # unset optional fields get defaults
    assert type(fast) is MarketData


def test_a_trade_tick_is_the_same_event_a_validated_tick_is() -> None:
    """``trade_tick`` (the feeds' fast path) builds exactly what validation builds: same
    value, hash, set fields and serialisation, every MarketData field present (so a field
    added to MarketData without updating ``trade_tick`` fails here), and frozen."""
    validated = MarketData(symbol="X", timestamp=T0, price=D("1.25"), volume=D(3))
    fast = trade_tick("X", T0, D("1.25"), D(3))
    assert fast == validated and hash(fast) == hash(validated)
    assert type(fast) is MarketData
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_dump() == validated.model_dump()
    assert fast.model_dump_json(exclude_unset=True) == validated.model_dump_json(
        exclude_unset=True)
    assert list(fast.__dict__) == list(MarketData.model_fields)
    with pytest.raises(ValidationError):
        fast.price = D(2)  # type: ignore[misc]
    assert fast.__dict__ is not trade_tick("X", T0, D(1), D(1)).__dict__


def _event_classes(cls: type[Event] = Event) -> list[type[Event]]:
    found: list[type[Event]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_event_classes(sub)]
    return found


@pytest.mark.parametrize("name", ["__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                                  "__pydantic_private__"])
def test_no_event_class_redefines_the_slots_trusted_events_are_built_through(name: str) -> None:
    """``trusted`` and ``trade_tick`` set the four instance slots through BaseModel's own
    descriptors; that is only what ``object.__setattr__`` would do while every event class
    resolves these names to those same descriptors."""
    # every event class is defined once these are imported
    import livetrade.app
    import livetrade.monitoring  # noqa: F401

    classes = _event_classes()
    names = {cls.__name__ for cls in classes}
    assert {"MarketData", "OrderFill", "MonitorHeartbeat", "BrokerSnapshot"} <= names
    for cls in classes:
        assert inspect.getattr_static(cls, name) is BaseModel.__dict__[name], cls
    fast = trusted(OrderAccepted, order_id="o", client_order_id="c", timestamp=T0)
    assert fast.model_extra is None and fast.__pydantic_private__ is None
    assert fast.model_fields_set == {"order_id", "client_order_id", "timestamp"}
    assert fast == OrderAccepted(order_id="o", client_order_id="c", timestamp=T0)


def test_trade_ticks_share_one_fields_set_that_nothing_in_pydantic_changes() -> None:
    """Every trade tick shares one ``model_fields_set`` (one allocation less per tick).
    That is only safe while nothing adds to it in place: a refused assignment, a
    ``model_copy`` with changes, a pickle round trip and validation into another model
    all leave it, and so every other tick, as it was."""
    first, second = trade_tick("X", T0, D(1), D(1)), trade_tick("Y", T0, D(2), D(2))
    shared = first.model_fields_set
    assert second.model_fields_set is shared
    expected = {"symbol", "timestamp", "price", "volume"}
    with pytest.raises(ValidationError):
        first.bid = D(1)  # type: ignore[misc]
    copied = first.model_copy(update={"bid": D("0.5")})
    assert copied.bid == D("0.5") and copied.model_fields_set == expected | {"bid"}
    deep = first.model_copy(update={"ask": D(3)}, deep=True)
    assert deep.model_fields_set == expected | {"ask"}
    assert pickle.loads(pickle.dumps(first)) == first
    assert MarketData.model_validate(second) is second
    assert MarketData.model_validate(second.model_dump()) == second
    assert shared == expected
    assert trade_tick("Z", T0, D(3), D(3)).model_fields_set == expected


def test_trusted_fills_defaults_and_stays_frozen() -> None:
    """Defaults are applied, and a trusted event is as immutable as a validated one."""
    validated = SystemErrorEvent(error_type="E", message="m", source="s", timestamp=T0)
    fast = trusted(SystemErrorEvent, error_type="E", message="m", source="s", timestamp=T0)
    assert fast == validated
    assert fast.severity is Severity.ERROR
    with pytest.raises(ValidationError):
        fast.message = "changed"  # type: ignore[misc]


def test_trusted_events_never_share_a_mutable_default() -> None:
    """Two trusted events built without ``context`` each get their own dict."""
    a = trusted(SystemErrorEvent, error_type="E", message="m", source="s", timestamp=T0)
    b = trusted(SystemErrorEvent, error_type="E", message="m", source="s", timestamp=T0)
    assert a.context is not b.context
    a.context["leak"] = "yes"
    c = trusted(SystemErrorEvent, error_type="E", message="m", source="s", timestamp=T0)
    assert b.context == {} and c.context == {}


def test_priority_order_of_event_classes() -> None:
    """SystemError > OrderFill (and order updates) > OrderReject > ScheduledTrigger > MarketData.

    Lower value is handled first.
    """
    assert (SystemErrorEvent.priority < OrderFill.priority < OrderReject.priority
            < ScheduledTrigger.priority < MarketData.priority)
    assert SystemErrorEvent.priority == Priority.SYSTEM_ERROR
    assert MarketData.priority == Priority.MARKET_DATA


@pytest.mark.parametrize("cls", [OrderAccepted, OrderCanceled, OrderExpired, OrderCancelRejected])
def test_order_state_updates_share_the_fill_lane(cls: type[OrderFill]) -> None:
    """Acks, cancels and expiries keep their order relative to fills: same priority."""
    assert cls.priority == OrderFill.priority
    assert cls in ORDER_UPDATE_EVENTS


def test_system_error_alias_is_the_event_not_the_builtin() -> None:
    """``SystemError`` in this module is the event class, never Python's builtin."""
    assert SystemError is SystemErrorEvent
    assert not issubclass(SystemError, BaseException)


def test_side_sign_is_the_sign_of_the_position_change() -> None:
    """A buy adds to the position, a sell takes from it."""
    assert Side.BUY.sign == 1
    assert Side.SELL.sign == -1
    assert Side("buy") is Side.BUY
