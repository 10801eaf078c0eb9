"""Bybit v5 JSON shapes built from the simulator's records (strings for every number)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from livetrade.events import OrderType, Side, TimeInForce
from livetrade.simexchange.config import SymbolSpec
from livetrade.simexchange.perps import PerpSpec, Position
from livetrade.simexchange.records import OrderStatus, VenueOrder, VenueTrade

SIDES = {Side.BUY: "Buy", Side.SELL: "Sell"}
TYPES = {OrderType.MARKET: "Market", OrderType.LIMIT: "Limit"}
TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}


def text(value: Decimal | None) -> str:
    return "0" if value is None else format(value.normalize(), "f")


def category(spec: SymbolSpec) -> str:
    return "linear" if isinstance(spec, PerpSpec) else "spot"


def instrument(spec: SymbolSpec) -> dict[str, Any]:
    if not isinstance(spec, PerpSpec):
        return {"symbol": spec.venue_id, "baseCoin": spec.base, "quoteCoin": spec.quote,
                "innovation": "0", "status": "Trading", "marginTrading": "none",
                "lotSizeFilter": {"basePrecision": text(spec.step_size),
                                  "quotePrecision": "0.00000001",
                                  "minOrderQty": text(spec.min_qty),
                                  "maxOrderQty": text(spec.max_qty),
                                  "minOrderAmt": text(spec.min_notional),
                                  "maxOrderAmt": "10000000"},
                "priceFilter": {"tickSize": text(spec.tick_size)}}
    return {"symbol": spec.venue_id, "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": spec.base, "quoteCoin": spec.quote, "settleCoin": spec.settle,
            "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
            "priceScale": str(max(0, -spec.tick_size.normalize().adjusted())),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": text(spec.leverage),
                               "leverageStep": "0.01"},
            "priceFilter": {"minPrice": text(spec.min_price), "maxPrice": text(spec.max_price),
                            "tickSize": text(spec.tick_size)},
            "lotSizeFilter": {"maxOrderQty": text(spec.max_qty),
                              "maxMktOrderQty": text(spec.max_qty),
                              "minOrderQty": text(spec.min_qty), "qtyStep": text(spec.step_size),
                              "postOnlyMaxOrderQty": text(spec.max_qty),
                              "minNotionalValue": text(spec.min_notional)},
            "unifiedMarginTrade": True, "fundingInterval": 480,
            "copyTrading": "none", "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375", "isPreListing": False}


def ticker(spec: SymbolSpec, last: Decimal, book: tuple[Decimal, Decimal], *, high: Decimal,
           low: Decimal, volume: Decimal, open_: Decimal) -> dict[str, Any]:
    bid, ask = book
    change = (last - open_) / open_ if open_ else Decimal(0)
    data = {"symbol": spec.venue_id, "bid1Price": text(bid), "bid1Size": "1",
            "ask1Price": text(ask), "ask1Size": "1", "lastPrice": text(last),
            "prevPrice24h": text(open_), "price24hPcnt": text(change.quantize(Decimal("0.0001"))),
            "highPrice24h": text(high), "lowPrice24h": text(low),
            "turnover24h": text((volume * last).quantize(Decimal("0.0001"))),
            "volume24h": text(volume)}
    if isinstance(spec, PerpSpec):
        data.update({"markPrice": text(last), "indexPrice": text(last), "fundingRate": "0",
                     "nextFundingTime": "0", "openInterest": "0", "openInterestValue": "0"})
    return data


def order_status(order: VenueOrder) -> str:
    if order.status is OrderStatus.NEW:
        return "New"
    if order.status is OrderStatus.PARTIALLY_FILLED:
        return "PartiallyFilled"
    if order.status is OrderStatus.FILLED:
        return "Filled"
    if order.status is OrderStatus.REJECTED:
        return "Rejected"
    return "PartiallyFilledCanceled" if order.filled > 0 else "Cancelled"


def order(o: VenueOrder, spec: SymbolSpec, fee: Decimal) -> dict[str, Any]:
    average = (o.quote_filled / o.filled).quantize(spec.tick_size) if o.filled else None
    tif = "IOC" if o.order_type is OrderType.MARKET else o.time_in_force.value
    return {"orderId": str(o.order_id), "orderLinkId": o.client_order_id, "blockTradeId": "",
            "symbol": spec.venue_id, "price": text(o.price), "qty": text(o.quantity),
            "side": SIDES[o.side], "isLeverage": "", "positionIdx": 0,
            "orderStatus": order_status(o), "cancelType": "UNKNOWN",
            "rejectReason": "EC_NoError", "avgPrice": text(average) if average else "",
            "leavesQty": text(o.remaining if o.status.is_open else Decimal(0)),
            "leavesValue": "0", "cumExecQty": text(o.filled),
            "cumExecValue": text(o.quote_filled), "cumExecFee": text(fee),
            "timeInForce": tif, "orderType": TYPES.get(o.order_type, "Limit"),
            "stopOrderType": "", "orderIv": "", "triggerPrice": "0", "takeProfit": "0",
            "stopLoss": "0", "triggerDirection": 0, "reduceOnly": False,
            "closeOnTrigger": False, "smpType": "None", "createdTime": str(o.created_ms),
            "updatedTime": str(o.updated_ms)}


def execution(t: VenueTrade, o: VenueOrder, spec: SymbolSpec, rate: Decimal) -> dict[str, Any]:
    data = {"symbol": spec.venue_id, "orderId": str(t.order_id),
            "orderLinkId": t.client_order_id, "side": SIDES[t.side],
            "orderPrice": text(o.price), "orderQty": text(o.quantity),
            "leavesQty": text(o.remaining), "orderType": TYPES.get(o.order_type, "Limit"),
            "stopOrderType": "", "execFee": text(t.commission), "execId": str(t.trade_id),
            "execPrice": text(t.price), "execQty": text(t.quantity), "execType": "Trade",
            "execValue": text(t.quote_quantity), "execTime": str(t.time_ms),
            "isMaker": t.is_maker, "feeRate": text(rate), "markPrice": text(t.price),
            "closedSize": "", "seq": t.trade_id}
    if not isinstance(spec, PerpSpec):
        data["feeCurrency"] = t.commission_asset
    return data


def position(p: Position, spec: PerpSpec, mark: Decimal, now_ms: int) -> dict[str, Any]:
    size = abs(p.quantity)
    side = "" if p.side is None else SIDES[p.side]
    return {"positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000",
            "symbol": spec.venue_id, "side": side, "size": text(size),
            "avgPrice": text(p.entry_price), "positionValue": text(size * p.entry_price),
            "tradeMode": 0, "autoAddMargin": 0, "positionStatus": "Normal",
            "leverage": text(p.leverage), "markPrice": text(mark), "liqPrice": "",
            "bustPrice": "", "positionIM": text(p.initial_margin(mark)), "positionMM": "0",
            "positionBalance": text(p.initial_margin(mark)), "takeProfit": "0",
            "stopLoss": "0", "trailingStop": "0", "unrealisedPnl": text(p.unrealized(mark)),
            "curRealisedPnl": text(p.realized_pnl), "cumRealisedPnl": text(p.realized_pnl),
            "adlRankIndicator": 0, "createdTime": str(now_ms), "updatedTime": str(now_ms),
            "seq": 0, "isReduceOnly": False}
