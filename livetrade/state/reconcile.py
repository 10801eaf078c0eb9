"""Reconciliation: compare the engine's book with the broker's and decide what to do.

Pure logic: it is given both views and a policy, and returns the differences it found
and the corrections to apply; the state manager applies them on the dispatcher thread.

Differences (``kind``):

* ``fill_missed``: the broker reports a fill whose id the engine never booked (it happened
  while the engine was down, or the crash came between the venue's fill and our book).
* ``order_unknown_locally``: an order is open at the broker that the engine has no record of.
* ``order_missing_at_broker``: the engine thinks an order is open; the broker does not.
* ``position_mismatch`` / ``cash_mismatch``: after the above, the books still disagree by
  more than the tolerance.

Policies (``adopt_broker`` | ``halt`` | ``warn``): with ``adopt_broker`` the broker is the
truth: missed fills are booked (as NautilusTrader infers fills), unknown orders adopted,
missing ones closed, and remaining position/cash differences overwritten to the broker's
values. ``halt`` changes nothing and asks the engine to refuse new orders (it stays up and
reports). ``warn`` changes nothing and only reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from livetrade.brokers.base import BrokerOrder
from livetrade.events import OrderFill
from livetrade.orders import OrderSnapshot

Policy = Literal["adopt_broker", "halt", "warn"]
DifferenceKind = Literal["fill_missed", "order_unknown_locally", "order_missing_at_broker",
                         "position_mismatch", "cash_mismatch"]


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    detail: str
    client_order_id: str = ""
    symbol: str = ""
    local: str = ""
    broker: str = ""


@dataclass(frozen=True)
class Corrections:
    """What ``adopt_broker`` applies, in this order."""

    fills_to_book: tuple[OrderFill, ...] = ()
    orders_to_adopt: tuple[BrokerOrder, ...] = ()
    orders_to_close: tuple[str, ...] = ()
    positions_to_set: Mapping[str, Decimal] = field(default_factory=dict)
    cash_to_set: Decimal | None = None


@dataclass(frozen=True)
class ReconciliationPlan:
    policy: Policy
    differences: tuple[Difference, ...]
    corrections: Corrections
    halt: bool

    @property
    def clean(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "clean": self.clean,
            "halt": self.halt,
            "differences": [vars(d) for d in self.differences],
        }


def plan_reconciliation(
    *,
    policy: Policy,
    local_open: Sequence[OrderSnapshot],
    booked_fill_ids: set[str],
    local_positions: Mapping[str, Decimal],
    local_cash: Decimal | None,
    broker_open: Sequence[BrokerOrder],
    broker_fills: Sequence[OrderFill],
    broker_positions: Mapping[str, Decimal],
    broker_cash: Decimal | None,
    quantity_tolerance: Decimal = Decimal(0),
    cash_tolerance: Decimal = Decimal("0.01"),
) -> ReconciliationPlan:
    """Find every difference and, under ``adopt_broker``, the corrections that remove it.

    Positions and cash are compared *after* the missed fills would be booked, so a missed
    fill is reported once (as a fill), not again as a position mismatch.
    """
    differences: list[Difference] = []
    missed = [f for f in broker_fills if f.fill_id not in booked_fill_ids]
    projected = dict(local_positions)
    cash = local_cash
    for f in missed:
        differences.append(Difference("fill_missed", f"fill {f.fill_id}: {f.side.value} "
                                      f"{f.fill_amount} {f.symbol} @ {f.fill_price}",
                                      client_order_id=f.client_order_id, symbol=f.symbol))
        signed = f.fill_amount if f.side.value == "buy" else -f.fill_amount
        projected[f.symbol] = (projected.get(f.symbol, Decimal(0)) + signed - f.fee_in_kind)
        if cash is not None:
            cash -= signed * f.fill_price + f.commission
    broker_ids = {o.client_order_id for o in broker_open}
    local_ids = {o.client_order_id for o in local_open}
    unknown = [o for o in broker_open if o.client_order_id not in local_ids]
    for b in unknown:
        differences.append(Difference(
            "order_unknown_locally", f"broker has open order {b.client_order_id} "
            f"({b.request.side.value} {b.request.quantity} {b.request.symbol})",
            client_order_id=b.client_order_id, symbol=b.request.symbol))
    missed_by_order: dict[str, Decimal] = {}
    for f in missed:
        missed_by_order[f.client_order_id] = (missed_by_order.get(f.client_order_id, Decimal(0))
                                              + f.fill_amount)
    missing = [o for o in local_open if o.client_order_id not in broker_ids]
    for o in missing:
        if missed_by_order.get(o.client_order_id, Decimal(0)) >= o.remaining_quantity:
            continue  # it filled while we were away: the fill_missed above says it all
        differences.append(Difference("order_missing_at_broker",
                                      f"local open order {o.client_order_id} is not open at "
                                      "the broker", client_order_id=o.client_order_id,
                                      symbol=o.symbol))
    positions_to_set: dict[str, Decimal] = {}
    for symbol in sorted(set(projected) | set(broker_positions)):
        mine = projected.get(symbol, Decimal(0))
        theirs = broker_positions.get(symbol, Decimal(0))
        if abs(mine - theirs) > quantity_tolerance:
            differences.append(Difference("position_mismatch",
                                          f"{symbol}: local {mine}, broker {theirs}",
                                          symbol=symbol, local=str(mine), broker=str(theirs)))
            positions_to_set[symbol] = theirs
    cash_to_set = None
    if cash is not None and broker_cash is not None and abs(cash - broker_cash) > cash_tolerance:
        differences.append(Difference("cash_mismatch", f"local {cash}, broker {broker_cash}",
                                      local=str(cash), broker=str(broker_cash)))
        cash_to_set = broker_cash
    corrections = Corrections()
    if policy == "adopt_broker":
        corrections = Corrections(
            fills_to_book=tuple(missed),
            orders_to_adopt=tuple(unknown),
            orders_to_close=tuple(o.client_order_id for o in missing),
            positions_to_set=positions_to_set,
            cash_to_set=cash_to_set,
        )
    return ReconciliationPlan(policy=policy, differences=tuple(differences),
                              corrections=corrections,
                              halt=policy == "halt" and bool(differences))
