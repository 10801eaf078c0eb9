"""``ResilientBroker``: retries, breakers, deadlines and ambiguity resolution around any adapter.

Why a wrapper and not code in each adapter: the rules are the same for every venue and
are where money is lost when they are wrong, so they live once. An adapter only maps its
library's errors onto ours (transient, permanent, rejected, ambiguous); this class decides
what to do about them:

* **Submit** goes through the ``orders`` breaker and a ``submit_timeout_s`` deadline. A
  transient failure of a submit is treated as *ambiguous* (a 5xx or a timeout after the
  request left may still have placed the order): the order is looked up by client id;
  found means placed; only a definite "not there" leads to a resend with the same client
  id, after the policy's backoff. If the lookup itself keeps failing the submit ends
  :class:`~livetrade.errors.AmbiguousOutcomeError` and nothing is re-sent; the adapter's
  own polling or the next reconciliation settles it. An open breaker rejects the order at
  once (:class:`~livetrade.errors.OrderRejectedError`, "not sent").
* **Cancel** is retried on transient errors (cancelling twice is harmless).
* **Queries** go through the ``account`` breaker with their deadline and are retried.

All of it runs on the calling thread, which is the broker's execution thread for orders
(never the dispatcher: a wrapped broker is never ``inline``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

import structlog

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.clock import Clock, SystemClock
from livetrade.errors import (
    AmbiguousOutcomeError,
    BrokerUnavailableError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.events import MarketData, OrderFill, Severity, SystemErrorEvent, trusted
from livetrade.orders import OrderRequest
from livetrade.resilience.breakers import (
    BreakerGroup,
    BreakerSettings,
    BreakerStateChange,
    BrokerBreakers,
)
from livetrade.resilience.deadline import CallNotStarted, CallStillRunning, call_with_deadline
from livetrade.resilience.retry import RetryAbandoned, RetryPolicy, Sleep, build_retrying

_log = structlog.get_logger("livetrade.resilience")
T = TypeVar("T")


@dataclass(frozen=True)
class ResilienceSettings:
    """Retry policies, breaker thresholds and per-operation deadlines (seconds)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    submit_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=3))
    breakers: BreakerSettings = field(default_factory=BreakerSettings)
    submit_timeout_s: float = 30.0
    cancel_timeout_s: float = 10.0
    positions_timeout_s: float = 10.0
    account_timeout_s: float = 10.0
    connect_timeout_s: float = 30.0
    lookup_delay_s: float = 1.0  # after a failed submit, before asking whether it landed


class BrokerObserver(Protocol):
    """Who hears about every venue call (the monitoring layer's ``EngineMonitor``)."""

    def broker_request(self, operation: str, duration_s: float,
                       error: str | None = None) -> None: ...

    def retry(self, operation: str) -> None: ...


class _NotThere(TransientBrokerError):
    """A submit failed and the venue says the order does not exist: safe to resend."""


def _retry_queries(error: BaseException) -> bool:
    return (isinstance(error, TransientBrokerError)
            and not isinstance(error, BrokerUnavailableError | RetryAbandoned))


class ResilientBroker(BrokerAdapter):
    """Any adapter, guarded by the rules in the module docstring. See there for why."""

    inline = False

    def __init__(self, inner: BrokerAdapter, settings: ResilienceSettings | None = None, *,
                 shutdown: threading.Event | None = None, clock: Clock | None = None,
                 sleep: Sleep | None = None,
                 on_breaker_change: Callable[[BreakerStateChange], None] | None = None
                 ) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # per instance: the venue's name
        self.settings = settings or ResilienceSettings()
        self.shutdown = shutdown or threading.Event()
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep
        self._sink: EventSink | None = None
        self._on_breaker_change = on_breaker_change
        self.observer: BrokerObserver | None = None
        self.last_success = time.monotonic()
        """``time.monotonic()`` of the last venue call that succeeded (any group)."""
        self.breakers = BrokerBreakers(inner.name, self.settings.breakers, self._breaker_moved)
        # Venue calls run here under their deadlines; more workers than callers (executor,
        # poller, reconciler, probe) so one hung call does not starve the others.
        self._pool = ThreadPoolExecutor(max_workers=8,
                                        thread_name_prefix=f"livetrade-{inner.name}-call")

    # ------------------------------------------------------------------ plumbing
    def _breaker_moved(self, change: BreakerStateChange) -> None:
        level = Severity.WARNING if change.new_state != "closed" else Severity.INFO
        _log.warning("breaker_state_change", broker=change.broker, group=str(change.group),
                     old=change.old_state, new=change.new_state)
        if self._sink is not None:
            self._sink(trusted(
                SystemErrorEvent, error_type="BreakerStateChange",
                message=f"{change.broker} {change.group} breaker {change.old_state} -> "
                        f"{change.new_state}",
                severity=level, source=f"broker:{change.broker}", timestamp=self._clock.now(),
                context={"group": str(change.group), "old": change.old_state,
                         "new": change.new_state}))
        if self._on_breaker_change is not None:
            self._on_breaker_change(change)

    def _retrying(self, policy: RetryPolicy, operation: str,
                  retry: Callable[[BaseException], bool]) -> Callable[[Callable[[], T]], T]:
        observer = self.observer
        retrying = build_retrying(policy, shutdown=self.shutdown, operation=operation,
                                  sleep=self._sleep, retry=retry,
                                  on_retry=observer.retry if observer is not None else None)

        def run(fn: Callable[[], T]) -> T:
            result: T = retrying(fn)
            return result
        return run

    def _guarded(self, group: BreakerGroup | None, fn: Callable[[], T], timeout_s: float,
                 operation: str, ambiguous: bool = False) -> T:
        """``fn`` under its deadline, through ``group``'s breaker (``None``: around every
        breaker), observed and timed; a success marks ``last_success``."""
        observer = self.observer
        started = time.perf_counter()

        def call() -> T:
            return call_with_deadline(fn, timeout_s, operation=f"{self.name}.{operation}",
                                      ambiguous=ambiguous, pool=self._pool)
        try:
            result = call() if group is None else self.breakers.call(group, call)
        except Exception as exc:
            self._observe(observer, operation, started, type(exc).__name__)
            raise
        self._observe(observer, operation, started, None)
        self.last_success = time.monotonic()
        return result

    @staticmethod
    def _observe(observer: BrokerObserver | None, operation: str, started: float,
                 error: str | None) -> None:
        """Tell the observer; a failing observer never changes a venue call's outcome."""
        if observer is None:
            return
        try:
            observer.broker_request(operation, time.perf_counter() - started, error)
        except Exception as exc:  # noqa: BLE001 - monitoring must not mask an ambiguous submit
            _log.error("broker_observer_failed", operation=operation,
                       error=f"{type(exc).__name__}: {exc}")

    def _query(self, operation: str, fn: Callable[[], T], timeout_s: float) -> T:
        return self._retrying(self.settings.retry, operation, _retry_queries)(
            lambda: self._guarded(BreakerGroup.ACCOUNT, fn, timeout_s, operation))

    # ------------------------------------------------------------------ lifecycle
    def connect(self, sink: EventSink) -> None:
        self._sink = sink
        self._retrying(self.settings.retry, "connect", _retry_queries)(
            lambda: call_with_deadline(lambda: self.inner.connect(sink),
                                       self.settings.connect_timeout_s,
                                       operation=f"{self.name}.connect"))

    def disconnect(self) -> None:
        self.shutdown.set()
        self.inner.disconnect()
        # Idle workers end now; one stuck in a hung venue call ends when that call does.
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ orders
    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        """Place the order exactly once, or refuse it, or say the outcome is unknown. Blocks."""
        attempt = self._retrying(self.settings.submit_retry, "submit",
                                 lambda e: isinstance(e, _NotThere))
        try:
            attempt(lambda: self._submit_once(client_order_id, request))
        except _NotThere as exc:
            raise OrderRejectedError(
                f"{self.name} did not take the order after "
                f"{self.settings.submit_retry.attempts} attempt(s): {exc.message}",
                client_order_id=client_order_id) from exc

    def _submit_once(self, client_order_id: str, request: OrderRequest) -> None:
        try:
            self._guarded(BreakerGroup.ORDERS,
                          lambda: self.inner.submit_order(client_order_id, request),
                          self.settings.submit_timeout_s, "submit", ambiguous=True)
            return
        except BrokerUnavailableError as exc:
            raise OrderRejectedError(f"not sent: {exc.message}",
                                     client_order_id=client_order_id) from exc
        except CallNotStarted as exc:
            raise _NotThere(f"not sent: {exc.message}", client_order_id=client_order_id
                            ) from exc
        except CallStillRunning as exc:
            # The request may still land: a lookup now would say "not there" and a resend
            # would double the order. Leave it to the adapter's polling and reconciliation.
            raise AmbiguousOutcomeError(
                f"submit still in flight after its deadline ({exc.message}); not re-sent",
                client_order_id=client_order_id) from exc
        except TransientBrokerError as exc:
            failure = exc
        _log.warning("submit_outcome_unknown", broker=self.name,
                     client_order_id=client_order_id, error=str(failure))
        # Give a request the venue received but has not processed yet time to land, so
        # the lookup's "not there" means not there.
        self._pause(self.settings.lookup_delay_s)
        found = self._resolve(client_order_id, failure)
        if found is not None:
            _log.info("submit_resolved", broker=self.name, client_order_id=client_order_id,
                      outcome="placed", broker_order_id=found.broker_order_id)
            return
        _log.info("submit_resolved", broker=self.name, client_order_id=client_order_id,
                  outcome="not_there")
        # Carry the venue's Retry-After (a 429 on the submit): the resend waits for it.
        raise _NotThere(f"not at the venue after: {failure.message}",
                        retry_after_s=failure.retry_after_s, client_order_id=client_order_id)

    def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._sleep is not None:
            self._sleep(seconds)
        elif self.shutdown.wait(seconds):
            raise RetryAbandoned("submit lookup abandoned: the engine is shutting down")

    def _resolve(self, client_order_id: str, failure: TransientBrokerError) -> BrokerOrder | None:
        """Look the order up; an unanswerable lookup leaves the outcome ambiguous."""
        try:
            return self._query("lookup", lambda: self.inner.get_order(client_order_id),
                               self.settings.account_timeout_s)
        except (TransientBrokerError, PermanentBrokerError) as exc:
            raise AmbiguousOutcomeError(
                f"submit outcome unknown ({failure.message}) and the order could not be "
                f"looked up ({exc.message}); not re-sent",
                client_order_id=client_order_id) from exc

    def cancel_order(self, client_order_id: str) -> None:
        self._retrying(self.settings.retry, "cancel", _retry_queries)(
            lambda: self._guarded(BreakerGroup.ORDERS,
                                  lambda: self.inner.cancel_order(client_order_id),
                                  self.settings.cancel_timeout_s, "cancel", ambiguous=True))

    def ping(self) -> None:
        """The venue's cheapest call (``BrokerAdapter.ping``), no retries: is it answering
        right now? Raises the call's error; counts for the ``account`` breaker (and is its
        half-open probe)."""
        self._guarded(BreakerGroup.ACCOUNT, self.inner.ping,
                      self.settings.account_timeout_s, "ping")

    def ping_past_breaker(self) -> None:
        """``ping`` around the breakers (still under the deadline): the watchdog's
        evidence while the ``account`` breaker is open between its probes. One cheap
        call per probe interval is how a dead venue is told from an unlucky one; it
        neither trips nor closes a breaker."""
        self._guarded(None, self.inner.ping, self.settings.account_timeout_s, "ping")

    # ------------------------------------------------------------------ queries
    def get_positions(self) -> Mapping[str, Decimal]:
        return self._query("positions", self.inner.get_positions,
                           self.settings.positions_timeout_s)

    def get_open_orders(self) -> list[BrokerOrder]:
        return self._query("open_orders", self.inner.get_open_orders,
                           self.settings.positions_timeout_s)

    def get_account_info(self) -> AccountInfo:
        return self._query("account", self.inner.get_account_info,
                           self.settings.account_timeout_s)

    def get_fills(self, since: datetime) -> list[OrderFill]:
        return self._query("fills", lambda: self.inner.get_fills(since),
                           self.settings.account_timeout_s)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        return self._query("lookup", lambda: self.inner.get_order(client_order_id),
                           self.settings.account_timeout_s)

    def learn_client_ids(self, client_order_ids: Iterable[str]) -> None:
        self.inner.learn_client_ids(client_order_ids)

    # ------------------------------------------------------------------ market data
    def subscribe_market_data(self, symbols: Iterable[str]) -> None:
        self.inner.subscribe_market_data(symbols)

    def on_market_data(self, event: MarketData) -> None:
        self.inner.on_market_data(event)
