"""IB error codes -> what livetrade does about them. One table, documented in the
architecture doc ("IB error codes"); nothing here does I/O.

TWS reports everything through one ``error(reqId, code, message)`` callback: order refusals
(reqId = the order id), request failures (reqId = the request id), connectivity notices
and harmless status messages (reqId = -1). The split that matters to the engine is the
same as everywhere in livetrade: refuse this order / may pass if retried / give up / just
a notice, plus the three connectivity codes that drive the reconnection sequence.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from livetrade.errors import (
    BrokerError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)


class CodeKind(StrEnum):
    """What an IB error code means to the adapter."""

    INFO = "info"  # a notice; logged
    LINK_LOST = "link_lost"  # 1100: TWS lost IB's servers; pending requests fail
    RESTORED_DATA_LOST = "restored_data_lost"  # 1101: re-subscribe market data, reconcile
    RESTORED_DATA_KEPT = "restored_data_kept"  # 1102: carry on, reconcile
    TRANSIENT = "transient"  # may pass if retried (socket, farm, TWS busy)
    PACING = "pacing"  # too many requests: back off before retrying
    ORDER_REJECTED = "order_rejected"  # this order is refused; never resend it as is
    CANCEL_REJECTED = "cancel_rejected"  # the cancel is refused (order gone or filled)
    PERMANENT = "permanent"  # retrying will not help (config, permissions, unknown symbol)


PACING_RETRY_AFTER_S = 1.0  # TWS allows 50 messages/s; one second lets the window pass

CODES: dict[int, tuple[CodeKind, str]] = {
    # connectivity (reqId -1)
    1100: (CodeKind.LINK_LOST, "connectivity between TWS and IB lost"),
    1101: (CodeKind.RESTORED_DATA_LOST, "connectivity restored, market data lost"),
    1102: (CodeKind.RESTORED_DATA_KEPT, "connectivity restored, data maintained"),
    1300: (CodeKind.TRANSIENT, "TWS socket port reset; reconnect on the new port"),
    2110: (CodeKind.TRANSIENT, "connectivity between TWS and server is broken"),
    502: (CodeKind.TRANSIENT, "could not connect to TWS"),
    504: (CodeKind.TRANSIENT, "not connected"),
    507: (CodeKind.TRANSIENT, "bad message length / socket exception"),
    1: (CodeKind.TRANSIENT, "TWS busy, request could not be processed"),
    2103: (CodeKind.TRANSIENT, "market data farm connection broken"),
    2105: (CodeKind.TRANSIENT, "historical data farm connection broken"),
    2157: (CodeKind.TRANSIENT, "security definition server connection broken"),
    10197: (CodeKind.TRANSIENT, "no market data during a competing live session"),
    # pacing
    100: (CodeKind.PACING, "max rate of messages per second exceeded"),
    162: (CodeKind.PACING, "historical data pacing violation"),
    420: (CodeKind.PACING, "invalid real-time query / pacing violation"),
    # order rejected family (reqId = order id)
    103: (CodeKind.ORDER_REJECTED, "duplicate order id"),
    105: (CodeKind.ORDER_REJECTED, "order being modified does not match original"),
    106: (CodeKind.ORDER_REJECTED, "cannot transmit order to a dead exchange"),
    107: (CodeKind.ORDER_REJECTED, "cannot transmit incomplete order"),
    109: (CodeKind.ORDER_REJECTED, "price out of the percentage range"),
    110: (CodeKind.ORDER_REJECTED, "price does not conform to the minimum tick"),
    111: (CodeKind.ORDER_REJECTED, "tif and order type are incompatible"),
    116: (CodeKind.ORDER_REJECTED, "dead exchange"),
    117: (CodeKind.ORDER_REJECTED, "block order size too small"),
    131: (CodeKind.ORDER_REJECTED, "sweep-to-fill flag is illegal"),
    133: (CodeKind.ORDER_REJECTED, "submit new order failed"),
    154: (CodeKind.ORDER_REJECTED, "orders cannot be transmitted for a halted security"),
    200: (CodeKind.ORDER_REJECTED, "no security definition found"),
    201: (CodeKind.ORDER_REJECTED, "order rejected"),
    203: (CodeKind.ORDER_REJECTED, "security not available or allowed for this account"),
    382: (CodeKind.ORDER_REJECTED, "order size exceeds the account limit"),
    383: (CodeKind.ORDER_REJECTED, "order size exceeds the limit"),
    387: (CodeKind.ORDER_REJECTED, "unsupported order type for this exchange"),
    388: (CodeKind.ORDER_REJECTED, "order size is smaller than the minimum"),
    434: (CodeKind.ORDER_REJECTED, "order size cannot be zero"),
    # cancels
    104: (CodeKind.CANCEL_REJECTED, "cannot modify a filled order"),
    135: (CodeKind.CANCEL_REJECTED, "cannot find order with this id"),
    161: (CodeKind.CANCEL_REJECTED, "cancel attempted when order is not cancellable"),
    10147: (CodeKind.CANCEL_REJECTED, "order id to cancel not found"),
    10148: (CodeKind.CANCEL_REJECTED, "order cannot be cancelled in its state"),
    # permanent
    321: (CodeKind.PERMANENT, "error validating request"),
    326: (CodeKind.PERMANENT, "client id already in use"),
    354: (CodeKind.PERMANENT, "market data not subscribed"),
    # notices
    10167: (CodeKind.INFO, "displaying delayed market data"),
    202: (CodeKind.INFO, "order canceled"),
    399: (CodeKind.INFO, "order message (warning)"),
    404: (CodeKind.INFO, "order held while locating shares"),
    2104: (CodeKind.INFO, "market data farm connection OK"),
    2106: (CodeKind.INFO, "historical data farm connection OK"),
    2107: (CodeKind.INFO, "historical data farm inactive"),
    2108: (CodeKind.INFO, "market data farm inactive"),
    2158: (CodeKind.INFO, "security definition server OK"),
}


def classify(code: int) -> CodeKind:
    """The kind of an IB code. Unknown codes: 2100-2199 are warnings (IB's own rule),
    anything else is treated as permanent so it is never retried blindly."""
    known = CODES.get(code)
    if known is not None:
        return known[0]
    if 2100 <= code < 2200:
        return CodeKind.INFO
    return CodeKind.PERMANENT


def error_for(code: int, message: str, **context: str) -> BrokerError:
    """The livetrade error to raise for an IB error ``code`` (message never has secrets:
    TWS messages do not carry credentials)."""
    kind = classify(code)
    text = f"IB error {code}: {message}"
    details: dict[str, Any] = {"ib_code": code, **context}
    if kind is CodeKind.ORDER_REJECTED:
        return OrderRejectedError(text, **details)
    if kind is CodeKind.PACING:
        return TransientBrokerError(text, retry_after_s=PACING_RETRY_AFTER_S, **details)
    if kind in (CodeKind.TRANSIENT, CodeKind.LINK_LOST, CodeKind.RESTORED_DATA_LOST,
                CodeKind.RESTORED_DATA_KEPT):
        return TransientBrokerError(text, **details)
    return PermanentBrokerError(text, **details)
