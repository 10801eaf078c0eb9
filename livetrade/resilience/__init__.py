"""Resilience around broker calls: retries, circuit breakers, deadlines, shadow mode.

Each module has one job and composes with the others; :mod:`.guarded` puts them around
any :class:`~livetrade.brokers.base.BrokerAdapter`.
"""

from livetrade.resilience.breakers import BreakerGroup, BreakerSettings, BrokerBreakers
from livetrade.resilience.deadline import call_with_deadline
from livetrade.resilience.retry import RetryPolicy, ShutdownSleep, build_retrying

__all__ = [
    "BreakerGroup",
    "BreakerSettings",
    "BrokerBreakers",
    "RetryPolicy",
    "ShutdownSleep",
    "build_retrying",
    "call_with_deadline",
]
