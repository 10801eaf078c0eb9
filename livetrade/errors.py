"""The one error tree of livetrade.

Callers care about one split above all: *may I retry this?* That split is in the type
(``TransientBrokerError`` vs ``PermanentBrokerError``), not in a message or a flag, so an
``except`` clause can act on it. Every error carries structured fields (``context``) that
logs and metrics can use without parsing the message. Messages never contain secrets.
"""

from __future__ import annotations

from typing import Any


class LiveTradeError(Exception):
    """Root of every error livetrade raises on purpose.

    ``context`` holds structured details (symbol, order id, file, line, key...) so that a
    log line or an alert can show them without parsing ``str(error)``.
    """

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = context

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({details})"


class ConfigError(LiveTradeError):
    """A configuration file or value is invalid; ``problems`` lists every one found."""

    def __init__(self, message: str, problems: list[str] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.problems: list[str] = list(problems or [])


class DataFeedError(LiveTradeError):
    """Market data could not be read or parsed (bad CSV row, NaN price, unknown column)."""


class InvalidOrderError(LiveTradeError):
    """An order request is malformed (non-positive quantity, missing limit price...).

    Raised before anything is recorded or sent; the engine turns it into an ``OrderReject``.
    """


class OrderStateError(LiveTradeError):
    """An order lifecycle transition that the state machine does not allow."""


class BrokerError(LiveTradeError):
    """A broker adapter call failed. Use the subclasses to decide what to do next."""


class TransientBrokerError(BrokerError):
    """The call may succeed if retried later (timeout, dropped socket, rate limit, 5xx).

    ``retry_after_s`` is the venue's own hint (HTTP ``Retry-After`` on 429/418), which a
    retry policy honours instead of its own backoff when it is longer.
    """

    def __init__(self, message: str, retry_after_s: float | None = None,
                 **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after_s = retry_after_s


class AmbiguousOutcomeError(TransientBrokerError):
    """A submit or cancel whose result is unknown: it may or may not have reached the venue.

    Raised when a request was (or may have been) sent and then timed out or lost its
    connection. It is never retried blindly: the order is looked up by client order id
    first, and only "definitely not there" allows a resend with the same id.
    """


class BrokerUnavailableError(TransientBrokerError):
    """Refused at once without calling the venue: its circuit breaker is open."""


class PermanentBrokerError(BrokerError):
    """Retrying will not help (bad credentials, unknown symbol, insufficient funds)."""


class OrderRejectedError(PermanentBrokerError):
    """The broker (or our pre-trade risk checks) refused a specific order."""


class StateError(LiveTradeError):
    """Persisted state is missing, unreadable or from an incompatible schema version."""


class ReconciliationError(LiveTradeError):
    """Local state and the broker's view disagree in a way policy does not allow to fix."""


class EngineStateError(LiveTradeError):
    """The engine was asked to do something its current lifecycle state forbids."""
