"""What the peer does with the next order it receives: the script a test writes.

``TWSPeer.script(plan, ...)`` queues plans; each incoming order takes the next one. With no
plan queued, a market order fills in full at the symbol's price and anything else rests.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Fill:
    """Acknowledge, then fill in ``parts`` (quantities; default: the whole order at once)
    at ``price`` (default: the symbol's current price). Parts that do not add up to the
    order's quantity leave the rest working."""

    parts: tuple[Decimal, ...] = ()
    price: Decimal | None = None


@dataclass(frozen=True)
class Rest:
    """Acknowledge and leave the order working (fill it later with ``TWSPeer.fill``)."""


@dataclass(frozen=True)
class Reject:
    """Refuse the order with IB error ``code`` (201 "Order rejected" by default)."""

    code: int = 201
    message: str = "Order rejected - reason:insufficient buying power"


@dataclass(frozen=True)
class DropConnection:
    """Book the order (then run ``then`` on the book, e.g. a fill), but close the socket
    before sending any reply: the client cannot know whether its order arrived."""

    then: Fill | Rest = Rest()


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before carrying out ``then``."""

    seconds: float
    then: Fill | Rest | Reject | DropConnection = Rest()


Plan = Fill | Rest | Reject | DropConnection | Delay
