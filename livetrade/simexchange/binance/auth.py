"""Binance's request checks: API key, HMAC-SHA256 signature, timestamp window, weights.

And Binance's refusals: every check raises :class:`BinanceError` with the code, message
and HTTP status the real venue answers, so ccxt's own error table maps it to the same
exception type it would raise against Binance. Messages are Binance's words; none carries
the secret, the signature or the key.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import deque
from collections.abc import Callable

from livetrade.simexchange.records import RejectReason, VenueReject

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000


class BinanceError(Exception):
    """A Binance error reply: ``{"code": code, "msg": msg}`` with ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}


def missing(param: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, "
                               "or malformed.")


def from_reject(reject: VenueReject) -> BinanceError:
    """Word a venue refusal as Binance does."""
    reason = reject.reason
    if reason is RejectReason.UNKNOWN_SYMBOL:
        return BinanceError(-1121, "Invalid symbol.")
    if reason is RejectReason.BAD_PARAM:
        return missing(reject.detail)
    if reason is RejectReason.PRICE_FILTER:
        return BinanceError(-1013, "Filter failure: PRICE_FILTER")
    if reason is RejectReason.LOT_SIZE:
        return BinanceError(-1013, "Filter failure: LOT_SIZE")
    if reason is RejectReason.NOTIONAL:
        return BinanceError(-1013, "Filter failure: NOTIONAL")
    if reason is RejectReason.INSUFFICIENT_BALANCE:
        return BinanceError(-2010, "Account has insufficient balance for requested action.")
    if reason is RejectReason.DUPLICATE_ORDER:
        return BinanceError(-2010, "Duplicate order sent.")
    if reason is RejectReason.UNKNOWN_ORDER:
        return BinanceError(-2013, "Order does not exist.")
    return BinanceError(-1116, "Invalid orderType.")


class Signer:
    """Checks one account's credentials the way Binance's gateway does."""

    def __init__(self, api_key: str, api_secret: str, server_ms: Callable[[], int]) -> None:
        self._api_key = api_key
        self._secret = api_secret.encode()
        self._server_ms = server_ms

    def __repr__(self) -> str:
        return "Signer(<credentials hidden>)"

    def check_key(self, header: str | None) -> None:
        """``X-MBX-APIKEY``: absent or malformed is -2014, unknown is -2015."""
        if not header or not header.isalnum():
            raise BinanceError(-2014, "API-key format invalid.", 401)
        if not hmac.compare_digest(header, self._api_key):
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    def check_signed(self, total_params: str, params: dict[str, str]) -> None:
        """Signature over the query string + body without ``signature``, then the time."""
        signature = params.get("signature")
        if not signature:
            raise missing("signature")
        pairs = [p for p in total_params.split("&") if p and not p.startswith("signature=")]
        payload = "&".join(pairs).encode()
        expected = hmac.new(self._secret, payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        self.check_time(params)

    def check_time(self, params: dict[str, str]) -> None:
        text = params.get("timestamp")
        if not text or not text.isdigit():
            raise missing("timestamp")
        window_text = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
        try:
            window = int(window_text)
        except ValueError as exc:
            raise BinanceError(-1100, "Illegal characters found in parameter 'recvWindow'; "
                                      "legal range is '^[0-9]{1,20}$'.") from exc
        if window > MAX_RECV_WINDOW_MS or window <= 0:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        stamp = int(text)
        now = self._server_ms()
        if stamp >= now + 1000:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the "
                                      "server's time.")
        if now - stamp > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the "
                                      "recvWindow.")


class WeightLimiter:
    """Binance's REQUEST_WEIGHT per minute: 429 + Retry-After, then 418 for the stubborn.

    Every request adds its weight to a sliding one-minute window. Over the limit the
    reply is 429 (-1003) with ``Retry-After``; a client that sends ``ban_after`` more
    requests while limited is banned (418) for twice as long.
    """

    def __init__(self, limit: int, ban_after: int, now_ms: Callable[[], int]) -> None:
        self._limit = limit
        self._ban_after = ban_after
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._window: deque[tuple[int, int]] = deque()
        self._used = 0
        self._ignored = 0
        self._banned_until = 0

    def used(self) -> int:
        with self._lock:
            self._expire(self._now_ms())
            return self._used

    def _expire(self, now: int) -> None:
        while self._window and self._window[0][0] <= now - 60_000:
            self._used -= self._window.popleft()[1]

    def charge(self, weight: int) -> None:
        """Count one request; raise the 429 or 418 ``BinanceError`` when over."""
        with self._lock:
            now = self._now_ms()
            self._expire(now)
            if now < self._banned_until:
                raise self._ban_error(now)
            if self._used + weight > self._limit:
                self._ignored += 1
                if self._ignored > self._ban_after:
                    self._banned_until = now + 2 * self._retry_after_ms(now)
                    raise self._ban_error(now)
                retry = max(1, self._retry_after_ms(now) // 1000)
                raise BinanceError(-1003, f"Too much request weight used; current limit is "
                                          f"{self._limit} request weight per 1 MINUTE. Please "
                                          "use WebSocket Streams for live updates to avoid "
                                          "polling the API.", 429, {"Retry-After": str(retry)})
            self._ignored = 0
            self._window.append((now, weight))
            self._used += weight

    def _retry_after_ms(self, now: int) -> int:
        return (self._window[0][0] + 60_000 - now) if self._window else 1000

    def _ban_error(self, now: int) -> BinanceError:
        retry = max(1, (self._banned_until - now) // 1000)
        return BinanceError(-1003, f"Way too much request weight used; IP banned until "
                                   f"{self._banned_until}. Please use WebSocket Streams for "
                                   "live updates to avoid bans.", 418,
                            {"Retry-After": str(retry)})
