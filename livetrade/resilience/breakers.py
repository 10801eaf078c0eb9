"""Circuit breakers with pybreaker: one per broker per operation group.

Why per group: a venue whose order endpoint is down may still answer account queries
(and the other way round); one breaker for everything would hide that. Only transient
failures count (a rejected order is the venue working, not failing), and a call that
trips the breaker re-raises its own error (an ambiguous submit stays ambiguous).

pybreaker holds the breaker's lock across the guarded call and its listeners. So a
breaker is never shared by threads doing slow I/O at once: the ``orders`` group is used
only by the broker's execution thread, and callers of the ``account`` and
``market_data`` groups are serialised on purpose (a ccxt exchange object is not safe to
use from two threads at once anyway). Listeners only hand a small record to a callback,
which must not block (the engine's ``publish`` does not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import pybreaker

from livetrade.errors import BrokerUnavailableError, TransientBrokerError

T = TypeVar("T")


class BreakerGroup(StrEnum):
    ORDERS = "orders"
    ACCOUNT = "account"
    MARKET_DATA = "market_data"


@dataclass(frozen=True)
class BreakerSettings:
    """Trip after ``fail_max`` consecutive transient failures; probe after ``reset_timeout_s``."""

    fail_max: int = 5
    reset_timeout_s: float = 30.0


@dataclass(frozen=True)
class BreakerStateChange:
    """What a listener reports: which breaker moved, from which state to which, and when."""

    broker: str
    group: BreakerGroup
    old_state: str
    new_state: str
    at: datetime


OnChange = Callable[[BreakerStateChange], None]


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, broker: str, group: BreakerGroup, on_change: OnChange) -> None:
        self._broker = broker
        self._group = group
        self._on_change = on_change

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = old_state.name if old_state is not None else "closed"
        self._on_change(BreakerStateChange(self._broker, self._group, str(old),
                                           str(new_state.name), datetime.now(UTC)))


def _not_transient(error: BaseException) -> bool:
    return not isinstance(error, TransientBrokerError) or isinstance(
        error, BrokerUnavailableError)


class BrokerBreakers:
    """The breakers of one broker, one per :class:`BreakerGroup`.

    :meth:`call` runs a venue call through its group's breaker; when the breaker is open
    it raises :class:`~livetrade.errors.BrokerUnavailableError` at once, without calling.
    """

    def __init__(self, broker: str, settings: BreakerSettings | None = None,
                 on_change: OnChange | None = None) -> None:
        self._broker = broker
        self._settings = settings or BreakerSettings()
        self._opened_at: dict[BreakerGroup, datetime] = {}
        self._failed_probes: dict[BreakerGroup, int] = {}
        self._on_change = on_change
        self._breakers = {
            group: pybreaker.CircuitBreaker(
                fail_max=self._settings.fail_max,
                reset_timeout=self._settings.reset_timeout_s,
                exclude=[_not_transient],
                listeners=[_Listener(broker, group, self._changed)],
                name=f"{broker}:{group}",
                throw_new_error_on_trip=False)
            for group in BreakerGroup
        }

    def _changed(self, change: BreakerStateChange) -> None:
        if change.new_state == "open" and change.old_state == "closed":
            # Only a trip starts the outage clock: a failed half-open probe (half-open ->
            # open) continues the same outage, so degrade_after_s is measured from the trip.
            self._opened_at[change.group] = change.at
            self._failed_probes[change.group] = 0
        elif change.new_state == "open" and change.old_state == "half-open":
            self._failed_probes[change.group] = self._failed_probes.get(change.group, 0) + 1
        elif change.new_state == "closed":
            self._opened_at.pop(change.group, None)
            self._failed_probes.pop(change.group, None)
        if self._on_change is not None:
            self._on_change(change)

    def call(self, group: BreakerGroup, fn: Callable[[], T]) -> T:
        """``fn()`` through ``group``'s breaker. Blocks for as long as ``fn`` does."""
        try:
            result: T = self._breakers[group].call(fn)
        except pybreaker.CircuitBreakerError as exc:
            opened = self._opened_at.get(group)
            since = f" since {opened:%H:%M:%S} UTC" if opened else ""
            raise BrokerUnavailableError(
                f"{self._broker} {group} circuit is open{since}: not calling the venue; "
                f"it is probed again {self._settings.reset_timeout_s:g} s after opening",
                broker=self._broker, group=str(group)) from exc
        return result

    def reset(self) -> None:
        """Close every breaker: the venue was shown healthy by other means (a probe)."""
        for breaker in self._breakers.values():
            if breaker.current_state != "closed":
                breaker.close()

    def state(self, group: BreakerGroup) -> str:
        """``closed``, ``open`` or ``half-open``."""
        return str(self._breakers[group].current_state)

    def states(self) -> dict[str, str]:
        return {str(group): self.state(group) for group in BreakerGroup}

    def probe_due(self, group: BreakerGroup) -> bool:
        """Whether the next call through ``group`` would be let through as the half-open
        probe (the breaker's own timer, restarted by every failed probe)."""
        breaker = self._breakers[group]
        if breaker.current_state != "open":
            return False
        opened = breaker._state_storage.opened_at  # pybreaker keeps no public accessor
        return opened is None or (datetime.now(UTC) - opened).total_seconds() \
            >= self._settings.reset_timeout_s

    def failed_probes(self, group: BreakerGroup) -> int:
        """Half-open probes that failed since ``group`` tripped (0 when closed): the
        venue was asked again after the cooldown and still failed, that many times."""
        return self._failed_probes.get(group, 0)

    def open_for_s(self, group: BreakerGroup, now: datetime | None = None) -> float | None:
        """How long ``group``'s outage has lasted: since it tripped, through any failed
        probes (open <-> half-open); ``None`` if closed."""
        opened = self._opened_at.get(group)
        if opened is None:
            return None
        return ((now or datetime.now(UTC)) - opened).total_seconds()
