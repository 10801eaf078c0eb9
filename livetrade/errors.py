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
    """The call may succeed if retried later (timeout, dropped socket, rate limit, 5xx)."""


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
