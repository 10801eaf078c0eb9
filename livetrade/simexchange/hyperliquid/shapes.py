"""Hyperliquid JSON shapes built from the simulator's records (numbers as strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from livetrade.events import Side, TimeInForce
from livetrade.simexchange.perps import PerpSpec, Position, apply_fill
from livetrade.simexchange.records import OrderStatus, VenueOrder, VenueTrade

ZERO = Decimal(0)


def text(value: Decimal | None) -> str:
    if value is None:
        return "0.0"
    out = format(value.normalize(), "f")
    return out if "." in out else out + ".0"


def side(value: Side) -> str:
    return "B" if value is Side.BUY else "A"


def meta(specs: list[PerpSpec]) -> dict[str, Any]:
    return {"universe": [{"name": s.base, "szDecimals": max(0, -s.step_size.adjusted()),
                          "maxLeverage": int(s.leverage), "onlyIsolated": False}
                         for s in specs]}


def asset_context(price: Decimal, book: tuple[Decimal, Decimal]) -> dict[str, Any]:
    return {"funding": "0.0", "openInterest": "0.0", "prevDayPx": text(price),
            "dayNtlVlm": "0.0", "premium": "0.0", "oraclePx": text(price),
            "markPx": text(price), "midPx": text(price),
            "impactPxs": [text(book[0]), text(book[1])], "dayBaseVlm": "0.0"}


def clearinghouse(wallet: Decimal, order_margin: Decimal,
                  marked: list[tuple[Position, PerpSpec, Decimal]],
                  now_ms: int) -> dict[str, Any]:
    positions = []
    upl_total = margin_total = notional_total = ZERO
    for position, spec, mark in marked:
        upl = position.unrealized(mark)
        margin = position.initial_margin(mark)
        notional = abs(position.quantity) * mark
        upl_total += upl
        margin_total += margin
        notional_total += notional
        roe = upl / margin if margin else ZERO
        positions.append({"type": "oneWay", "position": {
            "coin": spec.base, "szi": text(position.quantity),
            "leverage": {"type": "cross", "value": int(position.leverage)},
            "entryPx": text(position.entry_price), "positionValue": text(notional),
            "unrealizedPnl": text(upl), "returnOnEquity": text(roe.quantize(Decimal("1e-8"))),
            "liquidationPx": None, "marginUsed": text(margin),
            "maxLeverage": int(spec.leverage),
            "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"}}})
    value = wallet + upl_total
    used = margin_total + order_margin
    summary = {"accountValue": text(value), "totalNtlPos": text(notional_total),
               "totalRawUsd": text(value), "totalMarginUsed": text(used)}
    return {"marginSummary": summary, "crossMarginSummary": dict(summary),
            "crossMaintenanceMarginUsed": "0.0", "withdrawable": text(max(value - used, ZERO)),
            "assetPositions": positions, "time": now_ms}


def status(order: VenueOrder) -> str:
    if order.status.is_open:
        return "open"
    if order.status is OrderStatus.FILLED:
        return "filled"
    if order.status is OrderStatus.EXPIRED and order.filled == 0:
        return "iocCancelRejected"
    return "canceled"


def order(o: VenueOrder, spec: PerpSpec) -> dict[str, Any]:
    tif = "Ioc" if o.time_in_force is TimeInForce.IOC else "Gtc"
    cloid = o.client_order_id if o.client_order_id.startswith("0x") else None
    return {"coin": spec.base, "side": side(o.side), "limitPx": text(o.price),
            "sz": text(o.remaining if o.status.is_open else ZERO), "oid": o.order_id,
            "timestamp": o.created_ms, "triggerCondition": "N/A", "isTrigger": False,
            "triggerPx": "0.0", "children": [], "isPositionTpsl": False, "reduceOnly": False,
            "orderType": "Limit", "origSz": text(o.quantity), "tif": tif, "cloid": cloid}


def _direction(held: Decimal, trade_side: Side) -> str:
    if held == 0 or (held > 0) == (trade_side is Side.BUY):
        return "Open Long" if trade_side is Side.BUY else "Open Short"
    return "Close Short" if trade_side is Side.BUY else "Close Long"


def fills(trades: list[VenueTrade], specs: dict[str, PerpSpec],
          orders: dict[int, VenueOrder]) -> list[dict[str, Any]]:
    """Fills oldest first, each with the position it started from, its direction and the
    PnL it closed (replayed from the trades, as the venue's positions are)."""
    positions: dict[str, Position] = {}
    out = []
    for t in trades:
        spec = specs[t.symbol]
        before = positions.get(t.symbol, Position(t.symbol, ZERO, ZERO, ZERO, spec.leverage))
        after, pnl = apply_fill(before, t.side, t.quantity, t.price)
        positions[t.symbol] = after
        cid = orders[t.order_id].client_order_id if t.order_id in orders else ""
        out.append({"coin": spec.base, "px": text(t.price), "sz": text(t.quantity),
                    "side": side(t.side), "time": t.time_ms,
                    "startPosition": text(before.quantity),
                    "dir": _direction(before.quantity, t.side), "closedPnl": text(pnl),
                    "hash": "0x" + f"{t.trade_id:064x}", "oid": t.order_id,
                    "crossed": not t.is_maker, "fee": text(t.commission), "tid": t.trade_id,
                    "feeToken": t.commission_asset,
                    "cloid": cid if cid.startswith("0x") else None})
    return out
