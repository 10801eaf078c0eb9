"""An outer deadline on a blocking call, so no broker call can hold its thread forever.

Client libraries have their own timeouts (ccxt's ``timeout``, IB request timeouts), and
they are the first line. This is the second: the call runs on a short-lived worker thread
and the caller waits at most ``timeout_s``. A call that overran is abandoned, not killed
(Python cannot kill a thread): its thread is a daemon and its late result is dropped and
logged. For a submit or cancel an overrun is *ambiguous*: the venue may have acted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import structlog

from livetrade.errors import AmbiguousOutcomeError, TransientBrokerError

_log = structlog.get_logger("livetrade.resilience")
T = TypeVar("T")


class CallNotStarted(TransientBrokerError):
    """The deadline passed before the call even started (every worker busy): it was
    never sent, and it never will be (it was withdrawn)."""


class CallStillRunning(AmbiguousOutcomeError):
    """The deadline passed while the call is still running: it may yet reach the venue.
    Nothing may be re-sent until it has finished; a lookup now proves nothing."""


class _Outcome:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None


def call_with_deadline(fn: Callable[[], T], timeout_s: float, *, operation: str,
                       ambiguous: bool = False, pool: ThreadPoolExecutor | None = None) -> T:
    """``fn()``, or a typed error when it has not returned within ``timeout_s``. Blocks.

    Raises :class:`~livetrade.errors.AmbiguousOutcomeError` when ``ambiguous`` (the call
    may have reached the venue), else :class:`~livetrade.errors.TransientBrokerError`.
    Whatever ``fn`` raises in time is re-raised unchanged. With ``pool`` the call runs on
    one of its threads (about 5x cheaper than a new thread); a call that hangs keeps its
    worker, so later calls may wait for a free one — and still time out at their own
    deadline.
    """
    if pool is not None:
        return _pooled(fn, timeout_s, operation, ambiguous, pool)
    outcome = _Outcome()

    def run() -> None:
        try:
            outcome.value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            outcome.error = exc
        finally:
            outcome.done.set()
            if late.is_set():
                _log.warning("broker_call_finished_after_deadline", operation=operation,
                             error=None if outcome.error is None else repr(outcome.error))

    late = threading.Event()
    worker = threading.Thread(target=run, daemon=True, name=f"livetrade-call-{operation}")
    worker.start()
    if not outcome.done.wait(timeout_s):
        late.set()
        kind = AmbiguousOutcomeError if ambiguous else TransientBrokerError
        raise kind(f"{operation} did not finish within {timeout_s:g} s",
                   operation=operation, timeout_s=timeout_s)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]


def _pooled(fn: Callable[[], T], timeout_s: float, operation: str, ambiguous: bool,
            pool: ThreadPoolExecutor) -> T:
    future = pool.submit(fn)
    try:
        return future.result(timeout_s)
    except FutureTimeout:
        if future.cancel():
            raise CallNotStarted(f"{operation} did not start within {timeout_s:g} s "
                                 "(all workers busy); withdrawn, never sent",
                                 operation=operation, timeout_s=timeout_s) from None
        future.add_done_callback(lambda done: _late(done, operation))
        kind = CallStillRunning if ambiguous else TransientBrokerError
        raise kind(f"{operation} did not finish within {timeout_s:g} s",
                   operation=operation, timeout_s=timeout_s) from None


def _late(future: Future[T], operation: str) -> None:
    error = future.exception() if not future.cancelled() else None
    _log.warning("broker_call_finished_after_deadline", operation=operation,
                 error=None if error is None else repr(error))
