"""Records built or copied without ``__init__`` (livetrade.frozen) are the records the
constructor and ``dataclasses.replace`` make: equal, same fields, same repr, same hash,
same pickle. The order path builds these types this way on every order, so a field added
to one of them later, or a ``__post_init__``, must fail here rather than diverge there."""

from __future__ import annotations

import dataclasses
import pickle
from decimal import Decimal
from typing import Any

import pytest
from kit import T0, D, at, request

from livetrade.brokers.paper_ledger import Working
from livetrade.events import OrderType, Side, TimeInForce
from livetrade.frozen import build, evolve
from livetrade.matching import (
    Execution,
    FillModel,
    MatchOutcome,
    Quote,
    SimOrder,
    on_arrival,
    on_quote,
)

SIM = SimOrder(order_id="PB7", side=Side.SELL, quantity=D(5), order_type=OrderType.STOP_LIMIT,
               limit_price=D("99.5"), stop_price=D(100), time_in_force=TimeInForce.DAY,
               filled=D(2), triggered=False)
WORKING = Working(client_order_id="c7", request=request(quantity=5), sim=SIM, day=T0.date(),
                  accepted_at=T0, updated_at=at(1), charged_per_order=True)

# Every record type the order path builds with build(): one instance per type, via its
# constructor, with a non-default value in every field.
RECORDS: list[Any] = [
    SIM,
    WORKING,
    Execution(price=D("101.25"), quantity=D(3)),
    MatchOutcome(order=SIM, executions=(Execution(D(1), D(2)),), canceled_reason="why"),
    Quote(price=D(100), volume=D(7), open=D(99), high=D(102), low=D(98)),
]


def same_record(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert pickle.loads(pickle.dumps(a)) == b


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_build_makes_the_record_the_constructor_makes(record: Any) -> None:
    cls = type(record)
    assert not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")
    assert all(f.init for f in dataclasses.fields(cls))
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(cls)}
    same_record(build(cls, **values), record)


# What the order path changes when it copies each type (the matching rules and the venue).
CHANGES: list[dict[str, Any]] = [
    {"filled": D(5)},
    {"sim": dataclasses.replace(SIM, triggered=True), "charged_per_order": False,
     "updated_at": at(2)},
    {"quantity": D(1)},
    {"canceled_reason": None},
    {"volume": D(0)},
]


@pytest.mark.parametrize(("record", "changes"), list(zip(RECORDS, CHANGES, strict=True)),
                         ids=lambda r: type(r).__name__)
def test_evolve_makes_the_copy_replace_makes_and_leaves_the_original(
        record: Any, changes: dict[str, Any]) -> None:
    original = dataclasses.asdict(record)
    same_record(evolve(record, **changes), dataclasses.replace(record, **changes))
    same_record(evolve(record), dataclasses.replace(record))
    assert dataclasses.asdict(record) == original


def test_a_copy_is_still_frozen() -> None:
    copy = evolve(SIM, filled=D(3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.filled = D(4)  # type: ignore[misc]


def test_matching_outcomes_equal_the_ones_built_with_constructors() -> None:
    """The matching rules' fast-built results, checked against the slow spelling."""
    model = FillModel()
    market = SimOrder(order_id="PB1", side=Side.BUY, quantity=D(4))
    filled = on_arrival(market, Quote(D(100)), model)
    same_record(filled, MatchOutcome(dataclasses.replace(market, filled=D(4)),
                                     (Execution(D(100), D(4)),)))
    resting = SimOrder(order_id="PB2", side=Side.BUY, quantity=D(4),
                       order_type=OrderType.LIMIT, limit_price=D(90))
    same_record(on_quote(resting, Quote(D(95)), model), MatchOutcome(resting))
    stop = SimOrder(order_id="PB3", side=Side.SELL, quantity=D(2), order_type=OrderType.STOP,
                    stop_price=D(95))
    triggered = on_quote(stop, Quote(D(94)), model)
    same_record(triggered, MatchOutcome(dataclasses.replace(stop, triggered=True, filled=D(2)),
                                        (Execution(D(94), D(2)),)))


def test_partial_fill_under_participation_keeps_the_remainder_working() -> None:
    model = FillModel(participation=Decimal("0.5"))
    order = SimOrder(order_id="PB4", side=Side.SELL, quantity=D(10))
    outcome = on_arrival(order, Quote(D(50), volume=D(6)), model)
    same_record(outcome, MatchOutcome(dataclasses.replace(order, filled=D("3.0")),
                                      (Execution(D(50), D("3.0")),)))
    assert not outcome.done
