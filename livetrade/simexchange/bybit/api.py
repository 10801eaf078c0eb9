"""Bybit v5 REST endpoints over the venue: the calls ccxt's ``bybit`` class makes.

Served (``category`` = ``spot`` or ``linear``): ``GET /v5/market/time``,
``/v5/market/instruments-info``, ``/v5/market/tickers``; signed:
``GET /v5/asset/coin/query-info``, ``GET /v5/account/wallet-balance`` (UNIFIED),
``POST /v5/order/create``,
``POST /v5/order/cancel``, ``GET /v5/order/realtime`` (open orders; with ``orderId`` or
``orderLinkId`` any order), ``GET /v5/order/history`` (finished orders),
``GET /v5/execution/list`` (fills, last 7 days unless ``startTime``),
``GET /v5/position/list`` (linear). Everything else answers 10017 (route not found).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from livetrade.events import OrderType, Side, TimeInForce
from livetrade.simexchange.bybit import shapes
from livetrade.simexchange.bybit.auth import BybitError, BybitSigner, envelope, from_reject
from livetrade.simexchange.config import SymbolSpec
from livetrade.simexchange.faults import HttpFault
from livetrade.simexchange.jsonhttp import HttpReply, HttpRequest
from livetrade.simexchange.perps import DerivativesVenue, PerpSpec
from livetrade.simexchange.records import RejectReason, VenueOrder, VenueReject

Params = dict[str, Any]
FILLS_WINDOW_MS = 7 * 24 * 3600 * 1000  # execution/list without startTime: last 7 days
PUBLIC, SIGNED = False, True


class BybitApi:
    """The endpoint functions of one venue in Bybit v5's dialect; thread-safe via the venue."""

    def __init__(self, venue: DerivativesVenue, signer: BybitSigner,
                 server_ms: Callable[[], int], commission_bps: Decimal) -> None:
        self._venue = venue
        self._signer = signer
        self._server_ms = server_ms
        self._rate = commission_bps / Decimal(10_000)
        self._by_id: dict[tuple[str, str], SymbolSpec] = {
            (shapes.category(s), s.venue_id): s for s in venue.specs.values()}
        self.routes: dict[tuple[str, str], tuple[Callable[[Params], Any], bool]] = {
            ("GET", "/v5/market/time"): (self.time, PUBLIC),
            ("GET", "/v5/market/instruments-info"): (self.instruments, PUBLIC),
            ("GET", "/v5/market/tickers"): (self.tickers, PUBLIC),
            ("GET", "/v5/asset/coin/query-info"): (self.coins, SIGNED),
            ("GET", "/v5/account/wallet-balance"): (self.wallet_balance, SIGNED),
            ("POST", "/v5/order/create"): (self.create_order, SIGNED),
            ("POST", "/v5/order/cancel"): (self.cancel_order, SIGNED),
            ("GET", "/v5/order/realtime"): (self.realtime_orders, SIGNED),
            ("GET", "/v5/order/history"): (self.order_history, SIGNED),
            ("GET", "/v5/execution/list"): (self.executions, SIGNED),
            ("GET", "/v5/position/list"): (self.positions, SIGNED),
        }

    # -- HTTP glue ---------------------------------------------------------------------

    def route(self, request: HttpRequest) -> HttpReply:
        now = self._server_ms()
        try:
            entry = self.routes.get((request.method, request.path))
            if entry is None:
                raise BybitError(10017, "route not found", 404)
            endpoint, signed = entry
            payload = request.body if request.method == "POST" else request.query
            if signed:
                self._signer.check(request.headers, payload)
            params = self._params(request)
            try:
                return HttpReply(200, envelope(endpoint(params), now))
            except (TypeError, ValueError, AttributeError) as exc:  # a malformed parameter
                raise BybitError(10001, f"params error: {type(exc).__name__}") from exc
        except BybitError as error:
            return HttpReply(error.status, envelope({}, now, error.code, error.msg),
                             error.headers)

    @staticmethod
    def _params(request: HttpRequest) -> Params:
        if request.method != "POST":
            return dict(parse_qsl(request.query, keep_blank_values=True))
        try:
            body = json.loads(request.body or "{}")
        except ValueError as exc:
            raise BybitError(10001, "params error: body is not JSON") from exc
        if not isinstance(body, dict):
            raise BybitError(10001, "params error: body is not an object")
        return body

    def fault_reply(self, fault: HttpFault, value: int) -> HttpReply:
        """5xx as a gateway's plain page (ccxt: ExchangeNotAvailable); 429 with 10006."""
        if fault is HttpFault.RATE_LIMIT:
            reset = self._server_ms() + value * 1000
            return HttpReply(429, envelope({}, self._server_ms(), 10006, "Too many visits!"),
                             {"Retry-After": str(value),
                              "X-Bapi-Limit-Reset-Timestamp": str(reset)})
        return HttpReply(value, None, text=f"{value} Service Unavailable")

    # -- parameters --------------------------------------------------------------------

    def _category(self, params: Params, required: bool = True) -> str | None:
        value = params.get("category")
        if value in ("spot", "linear"):
            return str(value)
        if value is None and not required:
            return None
        raise BybitError(10001, "params error: category is invalid")

    def _spec(self, params: Params, required: bool = True) -> SymbolSpec | None:
        category = self._category(params)
        wire = params.get("symbol")
        if not wire:
            if required:
                raise BybitError(10001, "params error: symbol is required")
            return None
        spec = self._by_id.get((str(category), str(wire).upper()))
        if spec is None:
            raise BybitError(10001, "Not supported symbols")
        return spec

    def _specs(self, params: Params) -> list[SymbolSpec]:
        spec = self._spec(params, required=False)
        if spec is not None:
            return [spec]
        category = self._category(params)
        return [s for (c, _), s in self._by_id.items() if c == category]

    @staticmethod
    def _decimal(params: Params, name: str) -> Decimal | None:
        value = params.get(name)
        if value is None or value == "":
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise BybitError(10001, f"params error: {name} is invalid") from exc
        if not number.is_finite():
            raise BybitError(10001, f"params error: {name} is invalid")
        return number

    def _call(self, spec: SymbolSpec, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except VenueReject as reject:
            raise from_reject(reject, isinstance(spec, PerpSpec)) from reject

    # -- market data -------------------------------------------------------------------

    def time(self, params: Params) -> Any:
        now = self._server_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def instruments(self, params: Params) -> Any:
        category = self._category(params)
        if params.get("status") == "PreLaunch":
            chosen: list[SymbolSpec] = []
        else:
            chosen = self._specs(params)
        return {"category": category, "list": [shapes.instrument(s) for s in chosen],
                "nextPageCursor": ""}

    def tickers(self, params: Params) -> Any:
        category = self._category(params)
        items = []
        for spec in self._specs(params):
            market = self._venue.market
            last = market.price(spec.symbol)

            candles = market.klines(spec.symbol)
            high = max((k.high for k in candles), default=last)
            low = min((k.low for k in candles), default=last)
            volume = sum((k.volume for k in candles), Decimal(0))
            open_ = candles[0].open if candles else last
            items.append(shapes.ticker(spec, last, market.book(spec.symbol), high=high, low=low,
                                       volume=volume, open_=open_))
        return {"category": category, "list": items}

    # -- account -----------------------------------------------------------------------

    def coins(self, params: Params) -> Any:
        """The coins the venue knows (ccxt's ``fetch_currencies`` in ``load_markets``)."""
        names = sorted({s.base for s in self._venue.specs.values()}
                       | {s.quote for s in self._venue.specs.values()})
        return {"rows": [{"name": n, "coin": n, "remainAmount": "10000000", "chains": []}
                         for n in names]}

    def wallet_balance(self, params: Params) -> Any:
        account_type = params.get("accountType", "UNIFIED")
        if account_type != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED")
        positions = self._venue.positions()
        coins = []
        for asset, (free, locked) in self._venue.balances().items():
            im = upl = realized = Decimal(0)
            for position in positions:
                spec = self._venue.specs[position.symbol]
                if isinstance(spec, PerpSpec) and spec.settle == asset:
                    mark = self._venue.market.price(position.symbol)
                    im += position.initial_margin(mark)
                    upl += position.unrealized(mark)
                    realized += position.realized_pnl
            wallet = free + locked
            coins.append({"coin": asset, "equity": shapes.text(wallet + upl),
                          "walletBalance": shapes.text(wallet), "locked": shapes.text(locked),
                          "totalOrderIM": "0", "totalPositionIM": shapes.text(im),
                          "totalPositionMM": "0", "unrealisedPnl": shapes.text(upl),
                          "cumRealisedPnl": shapes.text(realized), "borrowAmount": "0",
                          "accruedInterest": "0", "bonus": "0", "usdValue": "",
                          "marginCollateral": True, "collateralSwitch": True})
        return {"list": [{"accountType": "UNIFIED", "accountIMRate": "0",
                          "accountMMRate": "0", "totalEquity": "", "totalWalletBalance": "",
                          "totalMarginBalance": "", "totalAvailableBalance": "",
                          "totalPerpUPL": "", "totalInitialMargin": "",
                          "totalMaintenanceMargin": "", "accountLTV": "0", "coin": coins}]}

    def positions(self, params: Params) -> Any:
        if self._category(params) != "linear":
            raise BybitError(10001, "params error: category only support linear")
        spec = self._spec(params, required=False)
        settle = params.get("settleCoin")
        if spec is None and not settle and not params.get("baseCoin"):
            raise BybitError(10001, "params error: symbol or settleCoin is required")
        now = self._server_ms()
        items = []
        for position in self._venue.positions():
            pspec = self._venue.specs[position.symbol]
            if not isinstance(pspec, PerpSpec):
                continue
            if spec is not None and pspec is not spec:
                continue
            if spec is None and (position.quantity == 0 or settle not in (None, pspec.settle)):
                continue
            mark = self._venue.market.price(position.symbol)
            items.append(shapes.position(position, pspec, mark, now))
        return {"category": "linear", "list": items, "nextPageCursor": ""}

    # -- orders ------------------------------------------------------------------------

    def create_order(self, params: Params) -> Any:
        spec = self._spec(params)
        assert spec is not None
        side = {"Buy": Side.BUY, "Sell": Side.SELL}.get(str(params.get("side")))
        kind = {"Market": OrderType.MARKET, "Limit": OrderType.LIMIT}.get(
            str(params.get("orderType")))
        if side is None or kind is None:
            raise BybitError(10001, "params error: side or orderType is invalid")
        if params.get("triggerPrice") or params.get("orderFilter") not in (None, "Order"):
            raise BybitError(10001, "params error: conditional orders are not simulated")
        tif_text = str(params.get("timeInForce") or "GTC")
        tif = shapes.TIFS.get(tif_text)
        if tif is None:
            raise BybitError(10001, f"params error: timeInForce {tif_text} is not simulated")
        quantity = self._decimal(params, "qty")
        price = self._decimal(params, "price") if kind is OrderType.LIMIT else None
        if quantity is None:
            raise BybitError(10001, "params error: qty is required")
        if kind is OrderType.MARKET and params.get("marketUnit") == "quoteCoin":
            last = self._venue.market.price(spec.symbol)
            quantity = (quantity / last / spec.step_size).to_integral_value(
                rounding=ROUND_DOWN) * spec.step_size
        if params.get("reduceOnly") in (True, "true") and isinstance(spec, PerpSpec):
            held = self._venue.position(spec.symbol).quantity
            if held == 0 or (held > 0) == (side is Side.BUY) or quantity > abs(held):
                raise BybitError(110017, "Reduce-only rule not satisfied")
        link = params.get("orderLinkId") or None
        order, _ = self._call(spec, lambda: self._venue.place_order(
            spec.symbol, side, kind, quantity, price=price,
            time_in_force=tif if kind is OrderType.LIMIT else TimeInForce.GTC,
            client_order_id=str(link) if link else None))
        return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}

    def _target(self, params: Params) -> tuple[SymbolSpec, int | None, str | None]:
        spec = self._spec(params)
        assert spec is not None
        order_id, link = params.get("orderId") or None, params.get("orderLinkId") or None
        if order_id is None and link is None:
            raise BybitError(10001, "params error: orderId or orderLinkId is required")
        if order_id is not None and not str(order_id).isdigit():
            raise from_reject(VenueReject(RejectReason.UNKNOWN_ORDER, "bad id"),
                              isinstance(spec, PerpSpec))
        return spec, int(order_id) if order_id is not None else None, link

    def cancel_order(self, params: Params) -> Any:
        spec, order_id, link = self._target(params)
        order = self._call(spec, lambda: self._venue.cancel_order(
            spec.symbol, order_id, str(link) if link else None))
        return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}

    def _order_json(self, order: VenueOrder) -> dict[str, Any]:
        spec = self._venue.specs[order.symbol]
        fee = sum((t.commission for t in self._venue.trades(order.symbol)
                   if t.order_id == order.order_id), Decimal(0))
        return shapes.order(order, spec, fee)

    def _orders(self, params: Params, open_only: bool) -> Any:
        category = self._category(params)
        order_id, link = params.get("orderId") or None, params.get("orderLinkId") or None
        specs = {s.symbol for s in self._specs(params)}
        settle = params.get("settleCoin")
        chosen = []
        for order in reversed(self._venue.orders()):
            spec = self._venue.specs[order.symbol]
            wrong_settle = settle and getattr(spec, "settle", None) != settle
            if order.symbol not in specs or wrong_settle:
                continue
            if order_id is not None and str(order.order_id) != str(order_id):
                continue
            if link is not None and order.client_order_id != link:
                continue
            targeted = order_id is not None or link is not None
            if open_only and not targeted and not order.status.is_open:
                continue
            if not open_only and order.status.is_open:
                continue
            chosen.append(self._order_json(order))
        limit = int(params.get("limit") or 20)
        return {"category": category, "list": chosen[:limit], "nextPageCursor": ""}

    def realtime_orders(self, params: Params) -> Any:
        return self._orders(params, open_only=True)

    def order_history(self, params: Params) -> Any:
        return self._orders(params, open_only=False)

    def executions(self, params: Params) -> Any:
        category = self._category(params)
        specs = {s.symbol for s in self._specs(params)}
        now = self._server_ms()
        start = int(params.get("startTime") or now - FILLS_WINDOW_MS)
        end = int(params.get("endTime") or now)
        order_id, link = params.get("orderId") or None, params.get("orderLinkId") or None
        orders = {o.order_id: o for o in self._venue.orders()}
        items = []
        for trade in reversed(self._venue.trades()):
            if trade.symbol not in specs or not start <= trade.time_ms <= end:
                continue
            if order_id is not None and str(trade.order_id) != str(order_id):
                continue
            if link is not None and trade.client_order_id != link:
                continue
            spec = self._venue.specs[trade.symbol]
            items.append(shapes.execution(trade, orders[trade.order_id], spec, self._rate))
        limit = min(int(params.get("limit") or 50), 100)
        return {"category": category, "list": items[:limit], "nextPageCursor": ""}

