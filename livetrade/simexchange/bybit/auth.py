"""Bybit v5's request checks and error envelope.

Signing (v5, HMAC): ``X-BAPI-SIGN = hex(HMAC_SHA256(secret, timestamp + apiKey + recvWindow
+ payload))`` where the payload is the raw query string of a GET and the raw JSON body of a
POST; ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` and ``X-BAPI-RECV-WINDOW`` carry the rest.
The server accepts ``server_time - recvWindow <= timestamp < server_time + 1000``.

Refusals are ``{"retCode", "retMsg", "result": {}, "retExtInfo": {}, "time"}``, mostly with
HTTP 200, using the codes ccxt's ``bybit`` class maps (``exceptions['exact']``): 10001
BadRequest, 10002 InvalidNonce, 10003/10004 AuthenticationError, 10006 RateLimitExceeded,
110001/170213 OrderNotFound, 110007/170131 InsufficientFunds, 110003/110094/170137/110072
InvalidOrder, and "Not supported symbols" (BadSymbol by message). No message carries the
secret, the signature or the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from livetrade.simexchange.records import RejectReason, VenueReject

DEFAULT_RECV_WINDOW_MS = 5_000


class BybitError(Exception):
    """A Bybit refusal: ``retCode``/``retMsg`` with its HTTP status (200 unless noted)."""

    def __init__(self, code: int, msg: str, status: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}


def envelope(result: Any, now_ms: int, code: int = 0, msg: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}


def from_reject(reject: VenueReject, linear: bool) -> BybitError:
    """Word a venue refusal as Bybit does (spot and linear codes differ)."""
    reason = reject.reason
    if reason is RejectReason.UNKNOWN_SYMBOL:
        return BybitError(10001, "Not supported symbols")
    if reason is RejectReason.BAD_PARAM:
        return BybitError(10001, f"params error: {reject.detail}")
    if reason is RejectReason.PRICE_FILTER:
        return BybitError(110003, "Order price is out of permissible range")
    if reason is RejectReason.LOT_SIZE:
        return BybitError(170137, "Order volume decimal too long")
    if reason is RejectReason.NOTIONAL:
        return BybitError(110094, "Order does not meet minimum order value")
    if reason is RejectReason.INSUFFICIENT_BALANCE:
        if linear:
            return BybitError(110007, "ab not enough for new order")
        return BybitError(170131, "Insufficient balance.")
    if reason is RejectReason.DUPLICATE_ORDER:
        return BybitError(110072, "OrderLinkedID is duplicate")
    if reason is RejectReason.UNKNOWN_ORDER:
        if linear:
            return BybitError(110001, "Order does not exist")
        return BybitError(170213, "Order does not exist.")
    return BybitError(10001, f"params error: {reject.detail or 'unsupported'}")


class BybitSigner:
    """Checks the account's credentials the way Bybit's v5 gateway does."""

    def __init__(self, api_key: str, api_secret: str, server_ms: Callable[[], int]) -> None:
        self._api_key = api_key
        self._secret = api_secret.encode()
        self._server_ms = server_ms

    def __repr__(self) -> str:
        return "BybitSigner(<credentials hidden>)"

    def check(self, headers: Mapping[str, str], payload: str) -> None:
        """Raise ``BybitError`` unless key, signature and timestamp are all good."""
        lowered = {k.lower(): v for k, v in headers.items()}
        key = lowered.get("x-bapi-api-key", "")
        if not key or not hmac.compare_digest(key, self._api_key):
            raise BybitError(10003, "API key is invalid.", 401)
        stamp = lowered.get("x-bapi-timestamp", "")
        window = lowered.get("x-bapi-recv-window", str(DEFAULT_RECV_WINDOW_MS))
        signature = lowered.get("x-bapi-sign", "")
        if not stamp.isdigit() or not window.isdigit():
            raise BybitError(10001, "params error: X-BAPI-TIMESTAMP or X-BAPI-RECV-WINDOW")
        expected = hmac.new(self._secret, (stamp + key + window + payload).encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BybitError(10004, "error sign! please check your signature")
        now = self._server_ms()
        if not now - int(window) <= int(stamp) < now + 1000:
            raise BybitError(10002, "invalid request, please check your server timestamp "
                                    "or recv_window param")
