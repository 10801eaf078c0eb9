"""ccxt's exceptions mapped onto ours, in one table.

Classified with ``isinstance`` on ccxt's stable base classes (``NetworkError`` vs
``ExchangeError`` and a few leaves), never by walking the tree, whose nesting changes
between ccxt versions. The *operation* matters: a timeout on a query is transient, on a
submit or cancel it is ambiguous (the venue may have acted); "order not found" is a
rejected cancel, but the answer "not there" to a lookup.

============================= ============================ ===============================
ccxt error                    submit / cancel              query
============================= ============================ ===============================
RequestTimeout                AmbiguousOutcomeError        TransientBrokerError
RateLimitExceeded, DDoS...    TransientBrokerError (with   TransientBrokerError (with
                              ``retry_after_s``)           ``retry_after_s``)
other NetworkError            AmbiguousOutcomeError        TransientBrokerError
(ExchangeNotAvailable,
OnMaintenance, InvalidNonce),
OperationFailed (Binance
-1001 on a 5xx)
InsufficientFunds,            OrderRejectedError           PermanentBrokerError
InvalidOrder, BadSymbol,
DuplicateOrderId
OrderNotFound                 OrderRejectedError (cancel)  ``None`` from a lookup
AuthenticationError,          OrderRejectedError (submit), PermanentBrokerError
PermissionDenied,             PermanentBrokerError
AccountSuspended, BadRequest, (cancel)
NotSupported
other ExchangeError and       AmbiguousOutcomeError        PermanentBrokerError
anything else (an unmapped
HTTP 524, an unknown venue
code, a parse failure)
============================= ============================ ===============================

A rate limit is not ambiguous: the venue refused the request before acting on it.
``OperationFailed`` is ``NetworkError``'s parent in ccxt 4 and is what ccxt raises for
Binance's ``-1001`` "Internal error; unable to process your request" (its 5xx body, whose
execution status Binance documents as unknown): transient, never a rejection.
Messages pass through :func:`scrub` so no credential ever reaches a log or an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import ccxt

from livetrade.errors import (
    AmbiguousOutcomeError,
    BrokerError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)

Operation = Literal["submit", "cancel", "query"]
# OperationFailed only exists in newer ccxt; NetworkError is (or is under) it everywhere.
_TRANSIENT: tuple[type[Exception], ...] = (
    ccxt.NetworkError, getattr(ccxt, "OperationFailed", ccxt.NetworkError))


# The venue answered and refused the request itself: a definite "no".
_REFUSALS: tuple[type[Exception], ...] = (
    ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadSymbol, ccxt.DuplicateOrderId,
    ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended, ccxt.BadRequest,
    ccxt.NotSupported, ccxt.ArgumentsRequired)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-trivial secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The ``Retry-After`` header in seconds, if the venue sent a usable one."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if seconds >= 0 else None
    return None


def classify(error: Exception, operation: Operation, *, venue: str,
             secrets: Iterable[str] = (), headers: Mapping[str, str] | None = None,
             **context: Any) -> BrokerError:
    """Our error for ``error`` raised by ccxt during ``operation`` (see the table)."""
    message = scrub(f"{venue} {operation}: {type(error).__name__}: {error}", secrets)
    acts = operation in ("submit", "cancel")
    if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return TransientBrokerError(message, retry_after_s=retry_after_s(headers), **context)
    if isinstance(error, _TRANSIENT):
        if acts:
            return AmbiguousOutcomeError(message, **context)
        return TransientBrokerError(message, **context)
    if isinstance(error, ccxt.OrderNotFound) and operation == "cancel":
        return OrderRejectedError(message, **context)
    if isinstance(error, _REFUSALS):
        # The venue answered and refused: nothing was placed (or canceled).
        if operation == "submit":
            return OrderRejectedError(message, **context)
        return PermanentBrokerError(message, **context)
    if acts:
        # Anything else during a submit or cancel (a bare ExchangeError from an unmapped
        # HTTP status such as Cloudflare's 524 "origin timed out", an unknown venue code,
        # a response that failed to parse, a bug below us) does not prove the venue did
        # nothing: ambiguous, so the order is looked up, never assumed absent.
        return AmbiguousOutcomeError(message, **context)
    return PermanentBrokerError(message, **context)
