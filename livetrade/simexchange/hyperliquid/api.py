"""Hyperliquid's ``POST /info`` and ``POST /exchange`` over the venue (perpetuals only).

``/info`` (public, by ``type``): ``meta``, ``metaAndAssetCtxs``, ``spotMeta`` and
``spotMetaAndAssetCtxs`` (empty: no spot markets), ``allMids``, ``clearinghouseState``,
``spotClearinghouseState`` (empty), ``userAbstraction``, ``openOrders``,
``frontendOpenOrders``, ``orderStatus`` (by ``oid`` or ``cloid``), ``userFills`` (the
2000 most recent), ``userFillsByTime``, ``exchangeStatus``.
``/exchange`` (signed L1 actions): ``order`` (limit Gtc/Ioc; ccxt's market order is an
Ioc limit at a slippage price), ``cancel``, ``cancelByCloid``; ``setReferrer`` is
acknowledged and ignored, and so is ``approveBuilderFee`` (a user-signed action whose
signature is not checked). Every other action's signature must recover to the account's
wallet address and its nonce must be fresh (within 2 days back / 1 day ahead, never
reused), as on Hyperliquid.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from livetrade.events import OrderType, Side, TimeInForce
from livetrade.simexchange.faults import HttpFault
from livetrade.simexchange.hyperliquid import shapes
from livetrade.simexchange.hyperliquid.signing import SignatureChecker
from livetrade.simexchange.jsonhttp import HttpReply, HttpRequest
from livetrade.simexchange.perps import DerivativesVenue, PerpSpec
from livetrade.simexchange.records import OrderStatus, RejectReason, VenueReject

_UNDESERIALIZABLE = "Failed to deserialize the JSON body into the target type"
CLOID = re.compile(r"^0x[0-9a-fA-F]{32}$")
MAX_FILLS = 2000
NONCE_PAST_MS, NONCE_FUTURE_MS = 2 * 86_400_000, 86_400_000
REJECT_WORDS = {
    RejectReason.PRICE_FILTER: "Price must be divisible by tick size.",
    RejectReason.LOT_SIZE: "Order has invalid size.",
    RejectReason.NOTIONAL: "Order must have minimum value of $10.",
    RejectReason.INSUFFICIENT_BALANCE: "Insufficient margin to place order.",
    RejectReason.DUPLICATE_ORDER: "Order has duplicate cloid.",
    RejectReason.BAD_PARAM: "Order has invalid size.",
}


class HyperliquidApi:
    """The ``/info`` and ``/exchange`` handlers of one account; thread-safe via the venue."""

    def __init__(self, venue: DerivativesVenue, wallet: str, server_ms: Callable[[], int],
                 commission_bps: Decimal) -> None:
        self._venue = venue
        self._wallet = wallet.lower()
        self._server_ms = server_ms
        self._rate = commission_bps / Decimal(10_000)
        self._checker = SignatureChecker()
        self._nonces: deque[int] = deque(maxlen=100)
        self._nonce_lock = threading.Lock()
        self.specs: list[PerpSpec] = [s for s in venue.specs.values() if isinstance(s, PerpSpec)]
        self._info: dict[str, Callable[[dict[str, Any]], Any]] = {
            "meta": lambda r: shapes.meta(self.specs),
            "metaAndAssetCtxs": lambda r: [shapes.meta(self.specs), self._contexts()],
            "spotMeta": lambda r: {"universe": [], "tokens": []},
            "spotMetaAndAssetCtxs": lambda r: [{"universe": [], "tokens": []}, []],
            "allMids": lambda r: self._mids(),
            "clearinghouseState": self._clearinghouse,
            "spotClearinghouseState": lambda r: {"balances": []},
            "userAbstraction": lambda r: "disabled",
            "openOrders": self._open_orders,
            "frontendOpenOrders": self._open_orders,
            "orderStatus": self._order_status,
            "userFills": self._fills,
            "userFillsByTime": self._fills,
            "exchangeStatus": lambda r: {"time": self._server_ms(), "specialStatuses": None},
        }

    # -- HTTP glue ---------------------------------------------------------------------

    def route(self, request: HttpRequest) -> HttpReply:
        if request.method != "POST" or request.path not in ("/info", "/exchange"):
            return HttpReply(404, None, text="Not Found")
        try:
            body = json.loads(request.body or "null")
        except ValueError:
            return HttpReply(400, None, text="Failed to parse the request body as JSON")
        if not isinstance(body, dict):
            return HttpReply(422, None, text="Failed to deserialize the JSON body")
        try:
            if request.path == "/info":
                handler = self._info.get(str(body.get("type")))
                if handler is None:
                    return HttpReply(422, None, text=_UNDESERIALIZABLE)
                return HttpReply(200, handler(body))
            return HttpReply(200, self._exchange(body))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # wrong field types
            return HttpReply(422, None, text=f"{_UNDESERIALIZABLE}: {type(exc).__name__}")

    def fault_reply(self, fault: HttpFault, value: int) -> HttpReply:
        if fault is HttpFault.RATE_LIMIT:
            return HttpReply(429, None, {"Retry-After": str(value)}, text="null")
        return HttpReply(value, None, text=f"{value} Service Unavailable")

    # -- /info -------------------------------------------------------------------------

    def _contexts(self) -> list[dict[str, Any]]:
        return [shapes.asset_context(self._venue.market.price(s.symbol),
                                     self._venue.market.book(s.symbol)) for s in self.specs]

    def _mids(self) -> dict[str, str]:
        return {s.base: shapes.text(self._venue.market.price(s.symbol)) for s in self.specs}

    def _is_account(self, body: dict[str, Any]) -> bool:
        return str(body.get("user", "")).lower() == self._wallet

    def _clearinghouse(self, body: dict[str, Any]) -> Any:
        now = self._server_ms()
        if not self._is_account(body):
            return shapes.clearinghouse(Decimal(0), Decimal(0), [], now)
        balances = self._venue.balances()
        free, locked = balances.get(self.specs[0].settle, (Decimal(0), Decimal(0)))
        marked = [(p, self.specs_by_symbol()[p.symbol], self._venue.market.price(p.symbol))
                  for p in self._venue.positions() if p.quantity != 0]
        return shapes.clearinghouse(free + locked, locked, marked, now)

    def specs_by_symbol(self) -> dict[str, PerpSpec]:
        return {s.symbol: s for s in self.specs}

    def _open_orders(self, body: dict[str, Any]) -> Any:
        if not self._is_account(body):
            return []
        specs = self.specs_by_symbol()
        return [shapes.order(o, specs[o.symbol]) for o in reversed(self._venue.open_orders())
                if o.symbol in specs]

    def _order_status(self, body: dict[str, Any]) -> Any:
        oid = body.get("oid")
        specs = self.specs_by_symbol()
        if self._is_account(body):
            for order in self._venue.orders():
                if order.symbol in specs and (order.order_id == oid or (
                        isinstance(oid, str) and order.client_order_id.lower() == oid.lower())):
                    return {"status": "order", "order": {
                        "order": shapes.order(order, specs[order.symbol]),
                        "status": shapes.status(order), "statusTimestamp": order.updated_ms}}
        return {"status": "unknownOid"}

    def _fills(self, body: dict[str, Any]) -> Any:
        if not self._is_account(body):
            return []
        start = int(body.get("startTime") or 0)
        end = int(body.get("endTime") or self._server_ms())
        specs = self.specs_by_symbol()
        trades = [t for t in self._venue.trades() if t.symbol in specs]
        fills = shapes.fills(trades, specs, {o.order_id: o for o in self._venue.orders()})
        chosen = [f for f in fills if start <= int(f["time"]) <= end]
        return list(reversed(chosen))[:MAX_FILLS]

    # -- /exchange ---------------------------------------------------------------------

    def _exchange(self, body: dict[str, Any]) -> Any:
        action, nonce, signature = body.get("action"), body.get("nonce"), body.get("signature")
        if not isinstance(action, dict) or not isinstance(nonce, int) or not isinstance(
                signature, dict):
            return {"status": "err", "response": "Failed to deserialize the JSON body"}
        if action.get("type") == "approveBuilderFee":
            # A user-signed action (another EIP-712 domain) that changes nothing here:
            # acknowledged without checking its signature.
            return {"status": "ok", "response": {"type": "default"}}
        try:
            signers = self._checker.signer(action, nonce, signature,
                                           vault=body.get("vaultAddress"),
                                           expires_after=body.get("expiresAfter"),
                                           expected=self._wallet)
        except ValueError:
            signers = set()
        if self._wallet not in signers:
            who = sorted(signers)[0] if signers else "0x0000000000000000000000000000000000000000"
            return {"status": "err", "response": f"User or API Wallet {who} does not exist."}
        problem = self._use_nonce(nonce)
        if problem:
            return {"status": "err", "response": problem}
        kind = action.get("type")
        if kind == "order":
            statuses = [self._place(o) for o in action.get("orders", [])]
            return _ok("order", statuses)
        if kind == "cancel":
            return _ok("cancel", [self._cancel(c.get("a"), c.get("o"), None)
                                  for c in action.get("cancels", [])])
        if kind == "cancelByCloid":
            return _ok("cancel", [self._cancel(c.get("asset"), None, c.get("cloid"))
                                  for c in action.get("cancels", [])])
        if kind == "setReferrer":
            return {"status": "ok", "response": {"type": "default"}}
        return {"status": "err", "response": f"Action {kind} is not simulated"}

    def _use_nonce(self, nonce: int) -> str | None:
        now = self._server_ms()
        with self._nonce_lock:
            if not now - NONCE_PAST_MS < nonce < now + NONCE_FUTURE_MS:
                return f"Invalid nonce: {nonce} is outside the allowed time window"
            if nonce in self._nonces or (len(self._nonces) == self._nonces.maxlen
                                         and nonce <= min(self._nonces)):
                return f"Invalid nonce: {nonce} was already used"
            self._nonces.append(nonce)
        return None

    def _asset(self, index: Any) -> PerpSpec | None:
        if isinstance(index, int) and 0 <= index < len(self.specs):
            return self.specs[index]
        return None

    def _place(self, wire: dict[str, Any]) -> Any:
        spec = self._asset(wire.get("a"))
        if spec is None:
            return {"error": "Invalid asset."}
        asset = f" asset={wire.get('a')}"
        tif_text = (wire.get("t") or {}).get("limit", {}).get("tif")
        tif = {"Gtc": TimeInForce.GTC, "Ioc": TimeInForce.IOC}.get(str(tif_text))
        if tif is None:
            return {"error": f"Order type {wire.get('t')} is not simulated (Gtc/Ioc limits "
                             f"only).{asset}"}
        cloid = wire.get("c")
        if cloid is not None and not (isinstance(cloid, str) and CLOID.match(cloid)):
            return {"error": f"Invalid cloid: a 128-bit hex string is required.{asset}"}
        try:
            size, price = Decimal(str(wire.get("s"))), Decimal(str(wire.get("p")))
        except InvalidOperation:
            return {"error": f"Order has invalid size.{asset}"}
        side = Side.BUY if wire.get("b") is True else Side.SELL
        if size <= 0:
            return {"error": f"Order has zero size.{asset}"}
        if wire.get("r") is True:
            held = self._venue.position(spec.symbol).quantity
            if held == 0 or (held > 0) == (side is Side.BUY) or size > abs(held):
                return {"error": f"Reduce only order would increase position.{asset}"}
        try:
            order, _ = self._venue.place_order(
                spec.symbol, side, OrderType.LIMIT, size, price=price, time_in_force=tif,
                client_order_id=cloid.lower() if cloid else None)
        except VenueReject as reject:
            words = REJECT_WORDS.get(reject.reason, f"Order rejected: {reject.reason.value}.")
            return {"error": words + asset}
        ids = {"oid": order.order_id, **({"cloid": cloid.lower()} if cloid else {})}
        if order.status is OrderStatus.FILLED or (order.filled > 0 and not order.status.is_open):
            average = (order.quote_filled / order.filled).normalize()
            return {"filled": {"totalSz": shapes.text(order.filled),
                               "avgPx": shapes.text(average), **ids}}
        if not order.status.is_open:
            return {"error": "Order could not immediately match against any resting orders."
                             + asset}
        return {"resting": ids}

    def _cancel(self, index: Any, oid: Any, cloid: Any) -> Any:
        spec = self._asset(index)
        never = f"Order was never placed, already canceled, or filled. asset={index}"
        if spec is None:
            return {"error": never}
        try:
            self._venue.cancel_order(spec.symbol, oid if isinstance(oid, int) else None,
                                     str(cloid).lower() if cloid is not None else None)
        except VenueReject:
            return {"error": never}
        return "success"


def _ok(kind: str, statuses: list[Any]) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}
