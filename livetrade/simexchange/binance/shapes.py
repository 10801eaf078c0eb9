"""Binance spot JSON shapes of the venue's records: REST bodies and stream payloads.

Numbers are strings with eight decimals, as Binance sends them ("0.00100000"), so clients
that parse strings into Decimal never see a float. Field names follow Binance's spot API
documentation (REST ``/api/v3`` and the websocket market and user-data streams).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from livetrade.events import OrderType, TimeInForce
from livetrade.simexchange.config import SymbolSpec
from livetrade.simexchange.records import Kline, MarketTick, VenueOrder, VenueTrade

JSON = dict[str, Any]

TYPE_NAMES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
}
TYPES_BY_NAME = {name: kind for kind, name in TYPE_NAMES.items()}


def num(value: Decimal | None) -> str:
    """Binance's eight-decimal string ("0" becomes "0.00000000")."""
    return f"{(value or Decimal(0)):.8f}"


def venue_id(symbol: str) -> str:
    return symbol.replace("/", "")


def _time_in_force(order: VenueOrder) -> str:
    return order.time_in_force.value if order.time_in_force is not TimeInForce.DAY else "GTC"


def order_json(order: VenueOrder) -> JSON:
    """The ``GET /api/v3/order`` shape."""
    return {
        "symbol": venue_id(order.symbol), "orderId": order.order_id, "orderListId": -1,
        "clientOrderId": order.client_order_id, "price": num(order.price),
        "origQty": num(order.quantity), "executedQty": num(order.filled),
        "cummulativeQuoteQty": num(order.quote_filled), "status": order.status.value,
        "timeInForce": _time_in_force(order), "type": TYPE_NAMES[order.order_type],
        "side": order.side.value.upper(), "stopPrice": num(order.stop_price),
        "icebergQty": num(None), "time": order.created_ms, "updateTime": order.updated_ms,
        "isWorking": order.order_type in (OrderType.MARKET, OrderType.LIMIT) or order.triggered,
        "workingTime": order.created_ms, "origQuoteOrderQty": num(None),
        "selfTradePreventionMode": "NONE",
    }


def fill_json(trade: VenueTrade) -> JSON:
    return {"price": num(trade.price), "qty": num(trade.quantity),
            "commission": num(trade.commission), "commissionAsset": trade.commission_asset,
            "tradeId": trade.trade_id}


def new_order_json(order: VenueOrder, fills: list[VenueTrade], resp_type: str) -> JSON:
    """The ``POST /api/v3/order`` reply for ``newOrderRespType`` ACK, RESULT or FULL."""
    ack: JSON = {"symbol": venue_id(order.symbol), "orderId": order.order_id,
                 "orderListId": -1, "clientOrderId": order.client_order_id,
                 "transactTime": order.created_ms}
    if resp_type == "ACK":
        return ack
    full = order_json(order)
    for key in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                "timeInForce", "type", "side", "workingTime", "selfTradePreventionMode"):
        ack[key] = full[key]
    if order.stop_price is not None:
        ack["stopPrice"] = full["stopPrice"]
    if resp_type == "FULL":
        ack["fills"] = [fill_json(t) for t in fills]
    return ack


def cancel_json(order: VenueOrder, cancel_client_id: str) -> JSON:
    """The ``DELETE /api/v3/order`` reply."""
    full = order_json(order)
    reply: JSON = {"symbol": full["symbol"], "origClientOrderId": order.client_order_id,
                   "orderId": order.order_id, "orderListId": -1,
                   "clientOrderId": cancel_client_id, "transactTime": order.updated_ms}
    for key in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                "timeInForce", "type", "side", "selfTradePreventionMode"):
        reply[key] = full[key]
    return reply


def my_trade_json(trade: VenueTrade) -> JSON:
    """One ``GET /api/v3/myTrades`` item."""
    return {"symbol": venue_id(trade.symbol), "id": trade.trade_id, "orderId": trade.order_id,
            "orderListId": -1, "price": num(trade.price), "qty": num(trade.quantity),
            "quoteQty": num(trade.quote_quantity), "commission": num(trade.commission),
            "commissionAsset": trade.commission_asset, "time": trade.time_ms,
            "isBuyer": trade.side.value == "buy", "isMaker": trade.is_maker,
            "isBestMatch": True}


def symbol_json(spec: SymbolSpec) -> JSON:
    """One ``exchangeInfo.symbols`` entry with its three filters."""
    return {
        "symbol": spec.venue_id, "status": "TRADING", "baseAsset": spec.base,
        "baseAssetPrecision": 8, "quoteAsset": spec.quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT"],
        "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
        "cancelReplaceAllowed": False, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": num(spec.min_price),
             "maxPrice": num(spec.max_price), "tickSize": num(spec.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": num(spec.min_qty),
             "maxQty": num(spec.max_qty), "stepSize": num(spec.step_size)},
            {"filterType": "NOTIONAL", "minNotional": num(spec.min_notional),
             "applyMinToMarket": True, "maxNotional": "9000000.00000000",
             "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
    }


def kline_row(kline: Kline) -> list[Any]:
    """One ``GET /api/v3/klines`` row."""
    return [kline.open_ms, num(kline.open), num(kline.high), num(kline.low), num(kline.close),
            num(kline.volume), kline.close_ms, num(kline.volume * kline.close), kline.trades,
            "0.00000000", "0.00000000", "0"]


# -- streams ---------------------------------------------------------------------------

def trade_event(tick: MarketTick) -> JSON:
    return {"e": "trade", "E": tick.time_ms, "s": venue_id(tick.symbol), "t": tick.trade_id,
            "p": num(tick.price), "q": num(tick.volume), "T": tick.time_ms, "m": False,
            "M": True}


def book_ticker_event(tick: MarketTick) -> JSON:
    return {"u": tick.trade_id, "s": venue_id(tick.symbol), "b": num(tick.bid),
            "B": num(tick.volume), "a": num(tick.ask), "A": num(tick.volume)}


def kline_event(symbol: str, kline: Kline, time_ms: int) -> JSON:
    return {"e": "kline", "E": time_ms, "s": venue_id(symbol), "k": {
        "t": kline.open_ms, "T": kline.close_ms, "s": venue_id(symbol), "i": "1m",
        "f": -1, "L": -1, "o": num(kline.open), "c": num(kline.close), "h": num(kline.high),
        "l": num(kline.low), "v": num(kline.volume), "n": kline.trades,
        "x": time_ms > kline.close_ms, "q": num(kline.volume * kline.close),
        "V": "0.00000000", "Q": "0.00000000", "B": "0"}}


def execution_report(order: VenueOrder, trade: VenueTrade | None, execution: str,
                     time_ms: int) -> JSON:
    """The user-data ``executionReport`` for one change of one order."""
    return {
        "e": "executionReport", "E": time_ms, "s": venue_id(order.symbol),
        "c": order.client_order_id, "S": order.side.value.upper(),
        "o": TYPE_NAMES[order.order_type], "f": _time_in_force(order),
        "q": num(order.quantity), "p": num(order.price), "P": num(order.stop_price),
        "F": num(None), "g": -1, "C": "", "x": execution, "X": order.status.value,
        "r": "NONE", "i": order.order_id,
        "l": num(trade.quantity if trade else None), "z": num(order.filled),
        "L": num(trade.price if trade else None),
        "n": num(trade.commission if trade else None),
        "N": trade.commission_asset if trade else None, "T": order.updated_ms,
        "t": trade.trade_id if trade else -1, "I": order.order_id,
        "w": order.status.is_open, "m": bool(trade and trade.is_maker), "M": False,
        "O": order.created_ms, "Z": num(order.quote_filled),
        "Y": num(trade.quote_quantity if trade else None), "Q": num(None),
        "W": order.created_ms, "V": "NONE",
    }


def account_position(balances: dict[str, tuple[Decimal, Decimal]], time_ms: int) -> JSON:
    return {"e": "outboundAccountPosition", "E": time_ms, "u": time_ms,
            "B": [{"a": a, "f": num(f), "l": num(lk)} for a, (f, lk) in balances.items()]}
