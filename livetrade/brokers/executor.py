"""One execution thread per I/O broker, so a slow venue never stalls the dispatcher.

The order manager hands orders and cancels to :class:`BrokerExecutor` (non-blocking); its
thread makes the blocking adapter calls one at a time, in order. A refusal becomes an
``OrderReject`` event; a transient failure a ``SystemErrorEvent`` (the order stays
"submitted": its outcome is unknown, and it is never re-sent blindly). A failed cancel is
also answered with an ``OrderCancelRejected``, so the order leaves PENDING_CANCEL.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import structlog

from livetrade.brokers.base import BrokerAdapter, EventSink
from livetrade.clock import Clock, SystemClock
from livetrade.errors import BrokerError, EngineStateError, OrderRejectedError, PermanentBrokerError
from livetrade.events import OrderCancelRejected, OrderReject, Severity, SystemErrorEvent, trusted
from livetrade.orders import OrderRequest

_log = structlog.get_logger("livetrade.brokers.executor")
_STOP = ("stop", "", None)


class InlineRouter:
    """Calls an ``inline`` broker directly on the caller's (dispatcher) thread."""

    def __init__(self, broker: BrokerAdapter) -> None:
        self._broker = broker

    def send(self, client_order_id: str, request: OrderRequest) -> None:
        self._broker.submit_order(client_order_id, request)

    def cancel(self, client_order_id: str) -> None:
        self._broker.cancel_order(client_order_id)


class BrokerExecutor:
    """A thread that makes one broker's blocking order calls; see the module docstring."""

    def __init__(self, broker: BrokerAdapter, sink: EventSink, clock: Clock | None = None
                 ) -> None:
        self._broker = broker
        self._clock: Clock = clock or SystemClock()
        self._sink = sink
        self._queue: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise EngineStateError("executor already started")
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"livetrade-broker-{self._broker.name}")
        self._thread.start()

    def send(self, client_order_id: str, request: OrderRequest) -> None:
        self._queue.put(("submit", client_order_id, request))

    def cancel(self, client_order_id: str) -> None:
        self._queue.put(("cancel", client_order_id, None))

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Finish queued requests, then end the thread. ``True`` if it ended. Blocks."""
        thread = self._thread
        if thread is None:
            return True
        self._queue.put(_STOP)
        thread.join(timeout_s)
        self._thread = None
        return not thread.is_alive()

    def _run(self) -> None:
        while True:
            kind, cid, request = self._queue.get()
            if kind == "stop":
                return
            try:
                if kind == "submit":
                    self._broker.submit_order(cid, request)
                else:
                    self._broker.cancel_order(cid)
            except (OrderRejectedError, PermanentBrokerError) as exc:
                if kind == "submit":
                    self._sink(trusted(OrderReject, order_id=cid, client_order_id=cid,
                                       reason=f"broker refused: {exc.message}",
                                       timestamp=self._clock.now(),
                                       symbol=request.symbol if request else ""))
                else:
                    self._report(exc, kind, cid)
            except BrokerError as exc:
                self._report(exc, kind, cid)
            except Exception as exc:  # noqa: BLE001 - an adapter bug must not kill the thread
                self._report(exc, kind, cid)

    def _report(self, exc: Exception, kind: str, cid: str) -> None:
        _log.error("broker_call_failed", call=kind, client_order_id=cid,
                   error=f"{type(exc).__name__}: {exc}")
        self._sink(trusted(SystemErrorEvent, error_type=type(exc).__name__, message=str(exc),
                           severity=Severity.ERROR, source=f"broker:{self._broker.name}",
                           timestamp=self._clock.now(),
                           context={"call": kind, "client_order_id": cid}))
        if kind == "cancel":
            # The order manager holds the order in PENDING_CANCEL until it hears back.
            self._sink(trusted(OrderCancelRejected, order_id="", client_order_id=cid,
                               reason=f"cancel failed: {exc}", timestamp=self._clock.now()))
