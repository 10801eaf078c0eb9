"""Degrade to paper: when a live broker is down, keep the strategy running on a shadow venue.

Why: a strategy that stops getting fills when its broker fails keeps deciding on a stale
view; one that keeps trading *somewhere* keeps its logic, state and logs coherent, and the
operator sees what it would have done. The rule that makes this safe: **no shadow order
ever reaches the live broker**, then or later (shadow orders are never replayed).

:class:`ShadowingBroker` routes orders to the live broker (a
:class:`~livetrade.resilience.guarded.ResilientBroker`) while it is healthy. When the live
broker is *declared down* — no call has succeeded for ``degrade_after_s`` and the
watchdog's own pings keep failing, or the ``orders`` breaker has stayed open that long
through failed probes (:meth:`ShadowingBroker.check_health`) — it switches to
``shadow``: new orders go to a :class:`~livetrade.brokers.paper.PaperBroker` fed by the
same market data, and every shadow acknowledgement and fill is marked ``shadow=True``.
Queries (positions, open orders, cash, fills) always answer for the *live* account, so the
positions held at the broker during the outage stay visible and reconciliation compares
against the truth.

A watchdog thread probes the live broker every ``probe_interval_s`` while in shadow.
When it answers again, ``resume_policy`` decides: ``manual`` stays in shadow until an
operator calls :meth:`ShadowingBroker.resume` (``livetrade resume`` / the engine API);
``flatten_shadow`` resumes at once. Resuming cancels the shadow venue's working orders and
asks the engine (``on_resume``) to reconcile its book with the live account
(``adopt_broker``: the shadow positions are discarded); orders are refused while that is in
progress, and go live only once the engine's book is the broker's again.

Every mode change is a ``SystemErrorEvent`` (``error_type="ModeChange"``, severity
warning, ``context`` with ``mode``, ``previous`` and ``reason``) and a log line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

import structlog

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.brokers.paper import PaperBroker
from livetrade.clock import Clock, SystemClock
from livetrade.errors import (
    BrokerError,
    BrokerUnavailableError,
    EngineStateError,
    OrderRejectedError,
)
from livetrade.events import (
    Event,
    MarketData,
    OrderAccepted,
    OrderFill,
    Severity,
    SystemErrorEvent,
    trusted,
)
from livetrade.orders import OrderRequest
from livetrade.resilience.breakers import BreakerGroup
from livetrade.resilience.guarded import ResilientBroker

_log = structlog.get_logger("livetrade.resilience")

ResumePolicy = Literal["manual", "flatten_shadow"]
_CONFIRMING_PINGS = 2  # failed pings in a row before "the venue does not answer"
_CONFIRMING_PROBES = 2  # failed orders-breaker probes before "its order endpoint is down"


class Mode(StrEnum):
    LIVE = "live"
    SHADOW = "shadow"


@dataclass(frozen=True)
class DegradeSettings:
    """When to declare the live broker down, how to notice it is back, how to resume."""

    degrade_after_s: float = 60.0
    probe_interval_s: float = 5.0
    resume_policy: ResumePolicy = "manual"


class ShadowingBroker(BrokerAdapter):
    """Live broker while healthy, shadow paper venue while it is down; see the module doc."""

    inline = False

    def __init__(self, live: ResilientBroker, shadow: PaperBroker,
                 settings: DegradeSettings | None = None, clock: Clock | None = None
                 ) -> None:
        self.live = live
        self.shadow = shadow
        self.name = live.name  # type: ignore[misc]  # per instance: the venue's name
        self.settings = settings or DegradeSettings()
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._mode = Mode.LIVE
        self._live_back = False
        self._shadow_ids: set[str] = set()
        self._sink: EventSink | None = None
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._resuming = False
        self._failed_pings = 0
        self.on_resume: Callable[[str, Callable[[bool], None]], None] | None = None
        """Called on resume with the reason and a ``done(applied)`` callback: the engine
        reconciles its book to the live account and calls ``done``; only then orders go
        live again (the shadow positions are gone from the book by then)."""

    # ------------------------------------------------------------------ mode
    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def live_available(self) -> bool:
        """In shadow: whether the last probe of the live broker succeeded."""
        return self._live_back

    def _switch(self, mode: Mode, reason: str) -> bool:
        with self._lock:
            if self._mode is mode:
                return False
            previous, self._mode = self._mode, mode
            self._live_back = False
        _log.warning("broker_mode_change", broker=self.name, mode=str(mode),
                     previous=str(previous), reason=reason)
        self._event("ModeChange", f"{self.name}: {previous} -> {mode}: {reason}",
                    {"mode": str(mode), "previous": str(previous), "reason": reason})
        return True

    def _event(self, error_type: str, message: str, context: dict[str, str]) -> None:
        if self._sink is not None:
            self._sink(trusted(SystemErrorEvent, error_type=error_type, message=message,
                               severity=Severity.WARNING, source=f"broker:{self.name}",
                               timestamp=self._clock.now(), context=context))

    def check_health(self) -> None:
        """Declare the live broker down, on evidence rather than on one unlucky call
        (a venue failing one request in five is flaky, not down). Either:

        * **the venue does not answer**: no venue call has succeeded for
          ``degrade_after_s`` and the watchdog's last pings (at least
          ``_CONFIRMING_PINGS``, sent around the breakers) all failed; or
        * **its order endpoint is down**: the ``orders`` breaker has been open for
          ``degrade_after_s`` and at least ``_CONFIRMING_PROBES`` of its half-open
          probes (real orders, after the cooldown) failed again.

        No I/O here."""
        if self._mode is not Mode.LIVE:
            return
        silent_s = time.monotonic() - self.live.last_success
        breakers = self.live.breakers
        orders_open_s = breakers.open_for_s(BreakerGroup.ORDERS)
        failed_probes = breakers.failed_probes(BreakerGroup.ORDERS)
        if silent_s >= self.settings.degrade_after_s and self._failed_pings >= _CONFIRMING_PINGS:
            why = (f"the venue does not answer: {self._failed_pings} pings failed in a row, "
                   f"no successful call for {silent_s:.1f} s")
        elif (orders_open_s is not None and orders_open_s >= self.settings.degrade_after_s
              and failed_probes >= _CONFIRMING_PROBES):
            why = (f"orders breaker open for {orders_open_s:.1f} s, {failed_probes} probes "
                   f"failed")
        else:
            return
        self._switch(Mode.SHADOW, f"{why} (degrade_after_s={self.settings.degrade_after_s:g})")

    def heartbeat(self) -> None:
        """Live: ping the venue when nothing else has talked to it for a while, so a
        dead venue is noticed with no order in flight and a breaker tripped by a burst
        is probed closed. While the ``account`` breaker is open between its probes the
        ping goes around it: that is the evidence ``check_health`` weighs."""
        if self._mode is not Mode.LIVE:
            return
        # Idle means a quarter of degrade_after_s without a successful call: often enough
        # to have pings as evidence in time, rarely enough not to add load of its own.
        idle_s = max(self.settings.probe_interval_s, self.settings.degrade_after_s / 4)
        if time.monotonic() - self.live.last_success < idle_s:
            self._failed_pings = 0
            return
        breakers = self.live.breakers
        try:
            if (breakers.state(BreakerGroup.ACCOUNT) == "open"
                    and not breakers.probe_due(BreakerGroup.ACCOUNT)):
                self.live.ping_past_breaker()
            else:
                self.live.ping()  # through the breaker: its half-open probe when due
            self._failed_pings = 0
        except BrokerUnavailableError as exc:  # raced a trip: the venue was not asked
            _log.info("live_ping_skipped", broker=self.name, error=str(exc))
        except BrokerError as exc:
            self._failed_pings += 1
            _log.info("live_ping_failed", broker=self.name, error=str(exc),
                      failed_in_a_row=self._failed_pings)

    def probe(self) -> bool:
        """In shadow: ask the live broker for its account. ``True`` when it answered."""
        if self._mode is not Mode.SHADOW:
            return True
        try:
            self.live.ping()  # cheap; the resume's reconciliation reads the account
        except BrokerError as exc:
            _log.info("live_probe_failed", broker=self.name, error=str(exc))
            return False
        if not self._live_back:
            self._live_back = True
            self._event("BrokerAvailable",
                        f"{self.name} answers again; resume_policy="
                        f"{self.settings.resume_policy}",
                        {"resume_policy": self.settings.resume_policy})
            if self.settings.resume_policy == "flatten_shadow":
                self.resume("broker back; resume_policy=flatten_shadow")
        return True

    def resume(self, reason: str = "operator resume") -> None:
        """Back to live: cancel shadow orders, then reconcile the book to the live account
        and only then route orders live. Blocks briefly (the reconciliation is the engine's,
        asynchronous); until it is applied, new orders are refused ("resuming")."""
        with self._lock:
            if self._mode is not Mode.SHADOW:
                raise EngineStateError(f"{self.name} is already live")
            if self._resuming:
                raise EngineStateError(f"{self.name} is already resuming")
            self._resuming = True
            for order in self.shadow.get_open_orders():
                self.shadow.cancel_order(order.client_order_id)
        # The live broker answered the probe; its orders breaker saw no call while in
        # shadow and would still be open, sending us straight back.
        self.live.breakers.reset()

        def done(applied: bool) -> None:
            with self._lock:
                self._resuming = False
                if not applied:
                    # Not back yet: the next good probe announces it and (flatten_shadow)
                    # tries again; else one failed reconciliation would keep shadow forever.
                    self._live_back = False
            if applied:
                self._switch(Mode.LIVE, reason)
            else:
                _log.warning("resume_postponed", broker=self.name,
                             reason="the live account could not be read; still shadow")

        if self.on_resume is None:
            done(True)
        else:
            self.on_resume(reason, done)

    def _watch(self) -> None:
        interval = min(self.settings.probe_interval_s, max(self.settings.degrade_after_s, 0.05))
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
                self.check_health()
                if self._mode is Mode.SHADOW:
                    self.probe()
            except Exception as exc:  # noqa: BLE001 - the watchdog must outlive a bad probe
                _log.error("shadow_watchdog_failed", broker=self.name,
                           error=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ adapter
    def connect(self, sink: EventSink) -> None:
        self._sink = sink
        self.shadow.connect(self._from_shadow)
        self.live.connect(sink)
        self._stop.clear()
        self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                          name=f"livetrade-shadow-{self.name}")
        self._watchdog.start()

    def _from_shadow(self, event: Event) -> None:
        if isinstance(event, OrderFill):
            # Its own id space: the shadow venue's "PF1" must never be taken for (and
            # deduplicated against) a live fill with the same id.
            event = event.model_copy(update={"shadow": True,
                                             "fill_id": f"shadow:{event.fill_id}"})
        elif isinstance(event, OrderAccepted):
            event = event.model_copy(update={"shadow": True})
        if self._sink is not None:
            self._sink(event)

    def disconnect(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(5)
            self._watchdog = None
        self.live.disconnect()
        self.shadow.disconnect()

    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        self.check_health()
        with self._lock:
            if self._resuming:
                raise OrderRejectedError(f"not sent: {self.name} is resuming live trading "
                                         "(reconciling the book); try again in a moment",
                                         client_order_id=client_order_id)
            if self._mode is Mode.SHADOW:
                # Under the lock: a resume cannot slip between this check and the shadow
                # venue taking the order (its cancel sweep would miss it).
                self._shadow_ids.add(client_order_id)
                self.shadow.submit_order(client_order_id, request)
                return
        self.live.submit_order(client_order_id, request)

    def cancel_order(self, client_order_id: str) -> None:
        with self._lock:
            shadow = client_order_id in self._shadow_ids
        (self.shadow if shadow else self.live).cancel_order(client_order_id)

    def get_positions(self) -> Mapping[str, Decimal]:
        return self.live.get_positions()

    def get_open_orders(self) -> list[BrokerOrder]:
        return self.live.get_open_orders()

    def get_account_info(self) -> AccountInfo:
        return self.live.get_account_info()

    def get_fills(self, since: datetime) -> list[OrderFill]:
        return self.live.get_fills(since)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        return self.live.get_order(client_order_id)

    def learn_client_ids(self, client_order_ids: Iterable[str]) -> None:
        self.live.learn_client_ids(client_order_ids)

    def subscribe_market_data(self, symbols: Iterable[str]) -> None:
        self.live.subscribe_market_data(symbols)

    def on_market_data(self, event: MarketData) -> None:
        self.shadow.on_market_data(event)
        self.live.on_market_data(event)
