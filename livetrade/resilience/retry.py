"""Retry policies built from tenacity's own pieces.

Why tenacity and not a loop: its stop/wait/retry policies are small callables that
compose (``stop_after_attempt(6) | stop_when_event_set(shutdown)``) and its ``sleep`` is
injectable, so tests record the waits and a stopping engine wakes a sleeping retry at once.

Rules kept here, for every broker operation:

* Only :class:`~livetrade.errors.TransientBrokerError` is retried, and never an
  :class:`~livetrade.errors.AmbiguousOutcomeError`: an order that may exist is looked up
  by client id first (see :mod:`livetrade.resilience.guarded`), never re-sent blindly.
* The wait is exponential (1, 2, 4, 8, 16 s by default, optional jitter) or the venue's
  ``Retry-After`` when that is longer.
* Sleeping is waiting on the shutdown event: when the engine stops, the sleep returns at
  once and the retry ends with :class:`RetryAbandoned` instead of trying again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from livetrade.errors import AmbiguousOutcomeError, TransientBrokerError

_log = structlog.get_logger("livetrade.resilience")

Sleep = Callable[[float], None]


class RetryAbandoned(TransientBrokerError):
    """A retry stopped waiting because the engine is shutting down."""


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of broker operation is retried.

    ``attempts`` counts the first try: 6 means one try and five retries, waiting
    ``initial_s * multiplier**n`` capped at ``max_s`` (1, 2, 4, 8, 16 s by default).
    ``deadline_s`` bounds the whole operation, waits included.
    """

    attempts: int = 6
    initial_s: float = 1.0
    multiplier: float = 2.0
    max_s: float = 16.0
    jitter_s: float = 0.0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if self.initial_s < 0 or self.max_s < 0 or self.jitter_s < 0 or self.multiplier < 1:
            raise ValueError("waits must be >= 0 and multiplier >= 1")


class ShutdownSleep:
    """A ``sleep`` for tenacity that is a wait on the shutdown event.

    Returns early when the event is set and then raises :class:`RetryAbandoned`, so the
    retry loop ends instead of making one more call. ``record`` (tests) receives every
    requested wait.
    """

    def __init__(self, shutdown: threading.Event, record: Callable[[float], None] | None = None
                 ) -> None:
        self._shutdown = shutdown
        self._record = record

    def __call__(self, seconds: float) -> None:
        if self._record is not None:
            self._record(seconds)
        if self._shutdown.wait(seconds):
            raise RetryAbandoned("retry abandoned: the engine is shutting down")


class wait_retry_after(wait_base):
    """The venue's ``Retry-After`` hint when it is longer than the fallback wait."""

    def __init__(self, fallback: wait_base) -> None:
        self._fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self._fallback(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        hint = getattr(error, "retry_after_s", None)
        if isinstance(hint, int | float) and hint > wait:
            return float(hint)
        return wait


def is_retryable(error: BaseException) -> bool:
    """Transient, and not an outcome that must be looked up before anything is re-sent."""
    return (isinstance(error, TransientBrokerError)
            and not isinstance(error, AmbiguousOutcomeError | RetryAbandoned))


def build_retrying(policy: RetryPolicy, *, shutdown: threading.Event, operation: str,
                   sleep: Sleep | None = None,
                   retry: Callable[[BaseException], bool] = is_retryable,
                   on_retry: Callable[[str], None] | None = None) -> Retrying:
    """A tenacity ``Retrying`` for ``operation`` under ``policy``.

    ``sleep`` defaults to :class:`ShutdownSleep` on ``shutdown``. The last error is
    re-raised as itself (``reraise``), so callers see our typed errors, never
    ``tenacity.RetryError``.
    """
    stop: stop_base = stop_after_attempt(policy.attempts) | stop_when_event_set(shutdown)
    if policy.deadline_s is not None:
        stop = stop | stop_after_delay(policy.deadline_s)
    wait: wait_base = wait_exponential(multiplier=policy.initial_s, exp_base=policy.multiplier,
                                       max=policy.max_s)
    if policy.jitter_s > 0:
        wait = wait + wait_random(0, policy.jitter_s)

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        _log.warning("broker_retry", operation=operation, attempt=state.attempt_number,
                     wait_s=round(state.upcoming_sleep, 3),
                     error=f"{type(error).__name__}: {error}")
        if on_retry is not None:
            on_retry(operation)

    return Retrying(sleep=sleep or ShutdownSleep(shutdown), stop=stop,
                    wait=wait_retry_after(wait), retry=retry_if_exception(retry),
                    before_sleep=log_retry, reraise=True)
