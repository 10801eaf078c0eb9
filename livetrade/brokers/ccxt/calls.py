"""The one door to the venue: every ccxt request the adapter makes goes through here.

ccxt exchange objects are not safe to share between threads, and one serves the adapter's
execution thread (submits, cancels), its poller and the reconciler's queries; so every call
holds one lock and they take turns. Errors leave already mapped onto ours
(:func:`~livetrade.brokers.ccxt.errors.classify`), credentials scrubbed, so no caller ever
handles a ccxt exception.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import ccxt

from livetrade.brokers.ccxt.errors import Operation, classify

T = TypeVar("T")


class VenueCaller:
    """Runs one venue call at a time under the I/O lock and maps its errors onto ours.

    Blocks for as long as the call (and any call holding the lock before it) takes. The lock
    is re-entrant, so a call may be made from inside another's ``fn``.
    """

    def __init__(self, exchange: ccxt.Exchange, venue: str, secrets: tuple[str, ...]) -> None:
        self._exchange = exchange
        self._venue = venue
        self._secrets = secrets
        self._io = threading.RLock()

    def __repr__(self) -> str:  # never the exchange object: it holds the credentials
        return f"VenueCaller({self._venue})"

    def __call__(self, operation: Operation, fn: Callable[[], T], **context: Any) -> T:
        """One venue call under the I/O lock, its errors mapped onto ours."""
        with self._io:
            try:
                return fn()
            except ccxt.BaseError as exc:
                raise classify(exc, operation, venue=self._venue, secrets=self._secrets,
                               headers=getattr(self._exchange, "last_response_headers", None),
                               **context) from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                if operation == "query":
                    raise
                # ccxt failed *after* the request, parsing the answer: it may have acted.
                raise classify(exc, operation, venue=self._venue, secrets=self._secrets,
                               **context) from None
