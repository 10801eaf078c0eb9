"""What is saved: the checkpoint and journal schemas, validated on the way back in.

Everything is stored as JSON text validated by these frozen models, never as pickle: a
checkpoint read back from disk is untrusted input (it may be truncated, edited, from a newer
version or from another account), and pickle would execute whatever it contained.
``SCHEMA_VERSION`` changes whenever a field's meaning changes; a newer version is refused,
never half-read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from livetrade.events import OrderType, Side, TimeInForce, UtcDatetime
from livetrade.orders import OrderStatus

SCHEMA_VERSION = 2
"""1: the first. 2: the order journal moved into a table of its own (records unchanged)."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderRecord(_Record):
    """One order with its whole lifecycle so far."""

    client_order_id: str = Field(min_length=1)
    broker_order_id: str = ""
    # Loose on purpose: an order rejected by validation (zero quantity, empty symbol) is
    # history too, and must never make every later checkpoint fail.
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Annotated[Decimal, Field(allow_inf_nan=True)]
    limit_price: Annotated[Decimal, Field(allow_inf_nan=True)] | None = None
    stop_price: Annotated[Decimal, Field(allow_inf_nan=True)] | None = None
    time_in_force: TimeInForce
    status: OrderStatus
    filled_quantity: Decimal = Field(ge=0)
    average_fill_price: Decimal = Field(ge=0)
    commission: Decimal = Field(ge=0)
    reject_reason: str = ""
    created_at: UtcDatetime
    updated_at: UtcDatetime
    fill_ids: list[str] = Field(default_factory=list)
    status_before_cancel: OrderStatus | None = None
    shadow: bool = False


class PositionRecord(_Record):
    """A position with its exact cycle accounting (see ``livetrade.portfolio._Position``)."""

    symbol: str = Field(min_length=1)
    quantity: Decimal
    average_cost: Decimal = Field(ge=0)
    flow: Decimal
    booked: Decimal
    closed: Decimal


class PortfolioHead(_Record):
    """The portfolio's scalars (the writer validates them apart from its records)."""

    initial_cash: Decimal
    cash: Decimal
    commissions: Decimal = Field(ge=0)


class PortfolioRecord(PortfolioHead):
    positions: list[PositionRecord] = Field(default_factory=list)
    marks: dict[str, Decimal] = Field(default_factory=dict)
    market_marked: list[str] = Field(default_factory=list)


class CheckpointHead(_Record):
    """A checkpoint without its book: what the writer validates as one small model.

    The writer validates and encodes the book (portfolio, orders, fill ids) record by
    record, in :mod:`livetrade.state.encoder`; reading validates the whole
    :class:`Checkpoint` at once.
    """

    schema_version: int
    engine_version: str
    created_at: UtcDatetime  # engine clock (data time in a replay)
    written_at: UtcDatetime  # wall clock: what staleness is measured against
    account_id: str = Field(min_length=1)
    strategy_id: str = Field(min_length=1)
    number: int = Field(ge=1)
    reason: str
    strategy_state: dict[str, Any] = Field(default_factory=dict)
    order_id_prefix: str
    next_order_sequence: int = Field(ge=1)
    counters: dict[str, int] = Field(default_factory=dict)
    journal_sequence: int = Field(ge=0)


class Checkpoint(CheckpointHead):
    """Everything needed to resume: see docs/architecture/live-trading.md, "State"."""

    portfolio: PortfolioRecord
    orders: list[OrderRecord] = Field(default_factory=list)
    processed_fill_ids: dict[str, list[str]] = Field(default_factory=dict)


JournalKind = Literal["intent", "sent", "ack", "fill", "cancel_request", "canceled",
                      "cancel_rejected", "rejected", "expired"]


class JournalEntry(_Record):
    """One line of the write-ahead order journal.

    ``intent`` is written (and committed) before an order leaves for a broker; the rest are
    appended as the broker's answers arrive. ``data`` holds the kind-specific fields (the
    order request for an intent, the fill for a fill).
    """

    sequence: int = Field(ge=1)
    kind: JournalKind
    client_order_id: str = Field(min_length=1)
    recorded_at: UtcDatetime
    data: dict[str, Any] = Field(default_factory=dict)


def to_json_ready(value: Any) -> Any:
    """Decimals as strings, datetimes as ISO text: lossless JSON for the ``data`` dicts."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_ready(v) for v in value]
    return value
