"""Binance spot ``/api/v3`` endpoints over the venue: parameters in, JSON out.

No HTTP here (``rest.py`` carries the bytes); each endpoint takes the request's parameters
as strings and returns a JSON-able value or raises ``BinanceError``. The table ``ROUTES``
says, per endpoint, its request weight and whether it needs a signature, an API key or
nothing, as Binance documents them.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from livetrade.events import OrderType, Side, TimeInForce
from livetrade.simexchange.binance import shapes
from livetrade.simexchange.binance.auth import BinanceError, from_reject, missing
from livetrade.simexchange.records import VenueReject
from livetrade.simexchange.venue import Venue

PUBLIC, API_KEY, SIGNED = "public", "api_key", "signed"
Params = dict[str, str]
Endpoint = Callable[[Params], Any]


class BinanceApi:
    """The endpoint functions of one venue in Binance's dialect; thread-safe via the venue."""

    def __init__(self, venue: Venue, server_ms: Callable[[], int]) -> None:
        self._venue = venue
        self._server_ms = server_ms
        self._by_id = {spec.venue_id: symbol for symbol, spec in venue.specs.items()}
        self._listen_keys: set[str] = set()
        self._keys_lock = threading.Lock()
        self.routes: dict[tuple[str, str], tuple[Endpoint, int, str]] = {
            ("GET", "ping"): (lambda p: {}, 1, PUBLIC),
            ("GET", "time"): (lambda p: {"serverTime": self._server_ms()}, 1, PUBLIC),
            ("GET", "exchangeInfo"): (self.exchange_info, 20, PUBLIC),
            ("GET", "ticker/24hr"): (self.ticker_24hr, 2, PUBLIC),
            ("GET", "ticker/price"): (self.ticker_price, 2, PUBLIC),
            ("GET", "ticker/bookTicker"): (self.book_ticker, 2, PUBLIC),
            ("GET", "depth"): (self.depth, 5, PUBLIC),
            ("GET", "klines"): (self.klines, 2, PUBLIC),
            ("GET", "account"): (self.account, 20, SIGNED),
            ("POST", "order"): (self.new_order, 1, SIGNED),
            ("GET", "order"): (self.get_order, 4, SIGNED),
            ("DELETE", "order"): (self.cancel_order, 1, SIGNED),
            ("GET", "openOrders"): (self.open_orders, 6, SIGNED),
            ("GET", "myTrades"): (self.my_trades, 20, SIGNED),
            ("POST", "userDataStream"): (self.new_listen_key, 2, API_KEY),
            ("PUT", "userDataStream"): (self.keep_listen_key, 2, API_KEY),
            ("DELETE", "userDataStream"): (self.close_listen_key, 2, API_KEY),
        }

    def is_listen_key(self, key: str) -> bool:
        with self._keys_lock:
            return key in self._listen_keys

    # -- parameters ----------------------------------------------------------------------

    def _symbol(self, params: Params, required: bool = True) -> str | None:
        wire = params.get("symbol")
        if not wire:
            if required:
                raise missing("symbol")
            return None
        symbol = self._by_id.get(wire.upper())
        if symbol is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return symbol

    @staticmethod
    def _decimal(params: Params, name: str, required: bool = False) -> Decimal | None:
        text = params.get(name)
        if text is None or text == "":
            if required:
                raise missing(name)
            return None
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; "
                                      "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.") from exc
        if not value.is_finite():
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
        return value

    @staticmethod
    def _int(params: Params, name: str) -> int | None:
        text = params.get(name)
        if text is None or text == "":
            return None
        if not text.lstrip("-").isdigit():
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; "
                                      "legal range is '^[0-9]{1,20}$'.")
        return int(text)

    def _call(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except VenueReject as reject:
            raise from_reject(reject) from reject

    # -- market data ---------------------------------------------------------------------

    def exchange_info(self, params: Params) -> Any:
        specs = self._venue.specs.values()
        wanted = params.get("symbol")
        chosen = [s for s in specs if wanted in (None, s.venue_id)]
        if wanted and not chosen:
            raise BinanceError(-1121, "Invalid symbol.")
        return {"timezone": "UTC", "serverTime": self._server_ms(),
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                "intervalNum": 1, "limit": 6000}],
                "exchangeFilters": [], "symbols": [shapes.symbol_json(s) for s in chosen]}

    def _symbols(self, params: Params) -> tuple[list[str], bool]:
        """``symbol`` -> one object; ``symbols=["A","B"]`` or nothing -> a list."""
        one = self._symbol(params, required=False)
        if one is not None:
            return [one], True
        many = params.get("symbols")
        if many:
            wires = [w.strip().strip('"') for w in many.strip("[]").split(",")]
            out = [self._by_id.get(w) for w in wires]
            if any(s is None for s in out):
                raise BinanceError(-1121, "Invalid symbol.")
            return [s for s in out if s is not None], False
        return list(self._venue.specs), False

    def _each(self, params: Params, build: Callable[[str], Any]) -> Any:
        symbols, single = self._symbols(params)
        items = [build(s) for s in symbols]
        return items[0] if single else items

    def ticker_24hr(self, params: Params) -> Any:
        def build(symbol: str) -> Any:
            market = self._venue.market
            last = market.price(symbol)
            bid, ask = market.book(symbol)
            now = self._server_ms()
            day = [k for k in market.klines(symbol) if k.open_ms >= now - 86_400_000]
            first = day[0].open if day else last
            volume = sum((k.volume for k in day), Decimal(0))
            change = last - first
            return {"symbol": shapes.venue_id(symbol), "priceChange": shapes.num(change),
                    "priceChangePercent": f"{(change / first * 100):.3f}",
                    "weightedAvgPrice": shapes.num(last), "prevClosePrice": shapes.num(first),
                    "lastPrice": shapes.num(last), "lastQty": shapes.num(market.volume(symbol)),
                    "bidPrice": shapes.num(bid), "bidQty": "1.00000000",
                    "askPrice": shapes.num(ask), "askQty": "1.00000000",
                    "openPrice": shapes.num(first),
                    "highPrice": shapes.num(max([k.high for k in day] + [last])),
                    "lowPrice": shapes.num(min([k.low for k in day] + [last])),
                    "volume": shapes.num(volume), "quoteVolume": shapes.num(volume * last),
                    "openTime": now - 86_400_000, "closeTime": now, "firstId": -1,
                    "lastId": -1, "count": sum(k.trades for k in day)}
        return self._each(params, build)

    def ticker_price(self, params: Params) -> Any:
        return self._each(params, lambda s: {"symbol": shapes.venue_id(s),
                                             "price": shapes.num(self._venue.market.price(s))})

    def book_ticker(self, params: Params) -> Any:
        def build(symbol: str) -> Any:
            bid, ask = self._venue.market.book(symbol)
            return {"symbol": shapes.venue_id(symbol), "bidPrice": shapes.num(bid),
                    "bidQty": "1.00000000", "askPrice": shapes.num(ask), "askQty": "1.00000000"}
        return self._each(params, build)

    def depth(self, params: Params) -> Any:
        symbol = self._symbol(params)
        assert symbol is not None
        limit = min(self._int(params, "limit") or 100, 5000)
        spec = self._venue.specs[symbol]
        bid, ask = self._venue.market.book(symbol)
        levels = range(min(limit, 20))
        return {"lastUpdateId": self._server_ms(),
                "bids": [[shapes.num(bid - i * spec.tick_size), "1.00000000"] for i in levels
                         if bid - i * spec.tick_size > 0],
                "asks": [[shapes.num(ask + i * spec.tick_size), "1.00000000"] for i in levels]}

    def klines(self, params: Params) -> Any:
        symbol = self._symbol(params)
        assert symbol is not None
        if params.get("interval") != "1m":
            raise BinanceError(-1120, "Invalid interval.")
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        limit = min(self._int(params, "limit") or 500, 1000)
        rows = [k for k in self._venue.market.klines(symbol)
                if (start is None or k.open_ms >= start) and (end is None or k.open_ms <= end)]
        return [shapes.kline_row(k) for k in rows[-limit:]]

    # -- account and orders --------------------------------------------------------------

    def account(self, params: Params) -> Any:
        balances = self._venue.balances()
        if params.get("omitZeroBalances") == "true":
            balances = {a: v for a, v in balances.items() if v[0] or v[1]}
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
                "sellerCommission": 0, "canTrade": True, "canWithdraw": False,
                "canDeposit": False, "brokered": False, "requireSelfTradePrevention": False,
                "preventSor": False, "updateTime": self._server_ms(), "accountType": "SPOT",
                "balances": [{"asset": a, "free": shapes.num(f), "locked": shapes.num(lk)}
                             for a, (f, lk) in balances.items()],
                "permissions": ["SPOT"], "uid": 1}

    def new_order(self, params: Params) -> Any:
        symbol = self._symbol(params)
        assert symbol is not None
        side_text = params.get("side", "").upper()
        if side_text not in ("BUY", "SELL"):
            raise missing("side")
        type_text = params.get("type", "").upper()
        if not type_text:
            raise missing("type")
        order_type = shapes.TYPES_BY_NAME.get(type_text)
        if order_type is None:
            raise BinanceError(-1116, "Invalid orderType.")
        quantity = self._decimal(params, "quantity")
        price = self._decimal(params, "price")
        stop = self._decimal(params, "stopPrice")
        tif_text = params.get("timeInForce")
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            if not tif_text:
                raise missing("timeInForce")
            if price is None:
                raise missing("price")
        elif tif_text or price is not None:
            raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required."
                               if tif_text else "Parameter 'price' sent when not required.")
        if tif_text not in (None, "GTC", "IOC", "FOK"):
            raise BinanceError(-1115, "Invalid timeInForce.")
        if quantity is None:
            quote_qty = self._decimal(params, "quoteOrderQty")
            if quote_qty is None or order_type is not OrderType.MARKET:
                raise missing("quantity")
            step = self._venue.specs[symbol].step_size
            last = self._venue.market.price(symbol)
            quantity = (quote_qty / last / step).to_integral_value(ROUND_DOWN) * step
        client_id = params.get("newClientOrderId") or None
        if client_id is not None and len(client_id) > 36:
            raise BinanceError(-1100, "Illegal characters found in parameter "
                                      "'newClientOrderId'; legal range is "
                                      "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        default_resp = "FULL" if order_type in (OrderType.MARKET, OrderType.LIMIT) else "ACK"
        resp_type = (params.get("newOrderRespType") or default_resp).upper()
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(-1100, "Illegal characters found in parameter "
                                      "'newOrderRespType'.")
        order, fills = self._call(lambda: self._venue.place_order(
            symbol, Side(side_text.lower()), order_type, quantity, price=price,
            stop_price=stop, time_in_force=TimeInForce(tif_text or "GTC"),
            client_order_id=client_id))
        return shapes.new_order_json(order, fills, resp_type)

    def _order_ref(self, params: Params) -> tuple[str, int | None, str | None]:
        symbol = self._symbol(params)
        assert symbol is not None
        order_id = self._int(params, "orderId")
        client_id = params.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                      "but both were empty/null!")
        return symbol, order_id, client_id

    def get_order(self, params: Params) -> Any:
        symbol, order_id, client_id = self._order_ref(params)
        order = self._call(lambda: self._venue.find_order(symbol, order_id, client_id))
        return shapes.order_json(order)

    def cancel_order(self, params: Params) -> Any:
        symbol, order_id, client_id = self._order_ref(params)
        try:
            order = self._venue.cancel_order(symbol, order_id, client_id)
        except VenueReject as reject:
            if reject.reason.value == "unknown_order":
                raise BinanceError(-2011, "Unknown order sent.") from reject
            raise from_reject(reject) from reject
        cancel_id = params.get("newClientOrderId") or f"cancel-{secrets.token_hex(6)}"
        return shapes.cancel_json(order, cancel_id)

    def open_orders(self, params: Params) -> Any:
        symbol = self._symbol(params, required=False)
        return [shapes.order_json(o) for o in self._venue.open_orders(symbol)]

    def my_trades(self, params: Params) -> Any:
        symbol = self._symbol(params)
        order_id = self._int(params, "orderId")
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        from_id = self._int(params, "fromId")
        limit = min(self._int(params, "limit") or 500, 1000)
        trades = [t for t in self._venue.trades(symbol)
                  if (order_id is None or t.order_id == order_id)
                  and (start is None or t.time_ms >= start)
                  and (end is None or t.time_ms <= end)
                  and (from_id is None or t.trade_id >= from_id)]
        trades = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
        return [shapes.my_trade_json(t) for t in trades]

    # -- user data stream ----------------------------------------------------------------

    def new_listen_key(self, params: Params) -> Any:
        key = secrets.token_hex(30)
        with self._keys_lock:
            self._listen_keys.add(key)
        return {"listenKey": key}

    def _known_key(self, params: Params) -> str:
        key = params.get("listenKey")
        if not key:
            raise missing("listenKey")
        if not self.is_listen_key(key):
            raise BinanceError(-1125, "This listenKey does not exist.")
        return key

    def keep_listen_key(self, params: Params) -> Any:
        self._known_key(params)
        return {}

    def close_listen_key(self, params: Params) -> Any:
        key = self._known_key(params)
        with self._keys_lock:
            self._listen_keys.discard(key)
        return {}
