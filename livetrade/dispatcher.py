"""The dispatcher: one thread drains one priority queue and calls the handlers.

This module knows nothing of trading. Producers on any thread call :meth:`Dispatcher.publish`;
one consumer (the dispatcher thread, or the caller's thread in synchronous drive mode) takes
events in priority order, FIFO within a priority (the order in which they reached the queue),
and calls every handler subscribed to the event's type, in subscription order.

Guarantees:

* A handler that raises never kills the dispatcher: the exception is logged with context,
  counted, and turned into a ``SystemErrorEvent`` (unless the failing event was itself a
  ``SystemErrorEvent``, which would loop).
* Market data backpressure is explicit. ``"conflate"`` (live): once more than
  ``conflate_depth`` events wait (the inbox plus queued market data), market data for a symbol
  is coalesced into one slot whose latest value wins; only market data is ever conflated,
  everything else is always queued. ``"block"`` (replay): a publisher of market data blocks
  while ``max_pending_market_data`` are queued, so nothing is conflated and the run is
  deterministic. ``"unbounded"``: neither (the synchronous drive mode, where the caller
  processes after each push).
* Stopping uses a sentinel. ``stop(drain=True)`` processes everything queued before it;
  whatever is still queued when the dispatcher ends is returned and logged, never dropped
  silently.
* Each event's publish → handler-start latency is recorded.

How the queue works (the hot path of the whole engine, so it is written for speed):
producers put ``(lane, publish time, event)`` into a C ``SimpleQueue`` (the inbox: no
Python-level lock, so a producer that loses the GIL cannot stall the consumer). The consumer
alone moves what has arrived into one FIFO deque per priority (a *lane*) and then dispatches
from the head of the most urgent non-empty lane, event after event, for as long as nothing
new arrives: one ``qsize()`` per event is the whole cost of keeping priority order exact,
instead of a heap push and pop with tuple comparisons. FIFO within a priority is arrival
order at the inbox, which for one producer is its publish order, and for several is the
only order the threads themselves agree on.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter_ns
from typing import Any, Literal

import structlog

from livetrade.errors import EngineStateError
from livetrade.events import Event, MarketData, Priority, Severity, SystemErrorEvent, trusted
from livetrade.latency import LatencyRecorder

_TIMING_MASK = 63  # time the handlers of one event in 64

Handler = Callable[[Any], None]
Item = tuple[int, int, Any]  # (lane, publish time ns, event)
Lane = deque[Item]
MarketDataPolicy = Literal["conflate", "block", "unbounded"]

_log = structlog.get_logger("livetrade.dispatcher")

_STOP = object()
_MD = int(Priority.MARKET_DATA)
_LANES = _MD + 1  # one lane per priority, 0 (system errors) .. 4 (market data)
_DRAIN_LANE = _LANES  # stop(drain=True): after everything queued
_URGENT_LANE = _LANES + 1  # forced stop: before everything queued
_FOREVER = 1 << 62


@dataclass(frozen=True)
class _ConflatedSlot:
    """Queue placeholder for a symbol whose market data is being conflated."""

    symbol: str


class _Route:
    """The handlers of one event class and how many of its events were dispatched.

    One object per class so the hot path does one dict lookup per event for both.
    """

    __slots__ = ("count", "handlers")

    def __init__(self, handlers: tuple[tuple[str, Handler], ...] = ()) -> None:
        self.handlers = handlers
        self.count = 0


class _Routes(dict[type, _Route]):
    """Event class -> route; an event class nobody subscribed to gets an empty route."""

    def __missing__(self, cls: type) -> _Route:
        route = self[cls] = _Route()
        return route


@dataclass(frozen=True)
class DispatcherStats:
    """A point-in-time view of the dispatcher's counters."""

    dispatched: int
    queue_depth: int
    handler_errors: int
    conflated: int
    by_type: dict[str, int]


class Dispatcher:
    """Priority event queue plus the loop that drains it. See the module docstring."""

    def __init__(
        self,
        *,
        market_data_policy: MarketDataPolicy = "conflate",
        conflate_depth: int = 10_000,
        max_pending_market_data: int = 1_000,
        latency_capacity: int = 65536,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if conflate_depth <= 0 or max_pending_market_data <= 0:
            raise ValueError("conflate_depth and max_pending_market_data must be positive")
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        # Consumer-owned (others only read their lengths): lanes 0..4 by priority, then the
        # two stop sentinels' lanes. _scan is the order the consumer looks at them in.
        self._lanes: tuple[Lane, ...] = tuple(deque() for _ in range(_URGENT_LANE + 1))
        self._scan = (self._lanes[_URGENT_LANE], *self._lanes[:_LANES],
                      self._lanes[_DRAIN_LANE])
        self._md_lane = self._lanes[_MD]
        self._routes = _Routes()
        self._policy = market_data_policy
        self._conflate_depth = conflate_depth if market_data_policy == "conflate" else _FOREVER
        self._md_gate = (
            threading.Semaphore(max_pending_market_data) if market_data_policy == "block" else None
        )
        self._conflated: dict[str, MarketData] = {}
        self._conflate_lock = threading.Lock()
        self._now = clock or (lambda: datetime.now(UTC))
        self.latency = LatencyRecorder(latency_capacity)
        self._tick = 0
        self._handler_ns: dict[str, tuple[int, int, int]] = {}
        self.handler_errors = 0
        self.conflated = 0
        self._thread: threading.Thread | None = None
        self._undelivered: list[Event] = []

    # ------------------------------------------------------------------ wiring
    def subscribe(self, event_type: type[Event], handler: Handler, name: str = "") -> None:
        """Call ``handler(event)`` for every event of exactly ``event_type``, in order added.

        Subscribe before :meth:`start`; handlers run on the dispatcher thread only.
        """
        priority = getattr(event_type, "priority", None)
        if priority is not None:  # an abstract base (``Event``) has none and is never published
            _check_priority(priority)
        label = name or getattr(handler, "__qualname__", repr(handler))
        route = self._routes[event_type]
        route.handlers = (*route.handlers, (label, handler))

    # ------------------------------------------------------------------ producing
    def publish(self, event: Event) -> None:
        """Queue ``event`` for dispatch. Safe from any thread.

        Never blocks, except for market data under the ``"block"`` policy while the
        configured number of market-data events are already waiting.
        """
        priority = event.priority
        if priority == _MD:
            if self._md_gate is not None:
                self._md_gate.acquire()
            elif event.__class__ is MarketData and (
                    self._conflated
                    or len(self._md_lane) + self._inbox.qsize() >= self._conflate_depth):
                self._publish_conflated(event)
                return
        elif not 0 <= priority < _MD:
            _check_priority(priority)
        self._inbox.put((priority, perf_counter_ns(), event))

    def _publish_conflated(self, event: MarketData) -> None:
        symbol = event.symbol
        with self._conflate_lock:
            if symbol in self._conflated:
                self._conflated[symbol] = event
                self.conflated += 1
                return
            if len(self._md_lane) + self._inbox.qsize() < self._conflate_depth:
                # Below the watermark and no slot pending for this symbol: queue normally.
                self._inbox.put((_MD, perf_counter_ns(), event))
                return
            self._conflated[symbol] = event
            self._inbox.put((_MD, perf_counter_ns(), _ConflatedSlot(symbol)))

    # ------------------------------------------------------------------ consuming
    def _take_arrivals(self) -> None:
        """Move every event that has arrived into its lane (consumer side only)."""
        inbox = self._inbox
        get = inbox.get_nowait
        lanes = self._lanes
        for _ in range(inbox.qsize()):
            item = get()
            lanes[item[0]].append(item)

    def _dispatch_lane(self, lane: Lane, limit: int) -> int:
        """Dispatch events from the head of ``lane``, the most urgent non-empty lane, until
        it is empty, ``limit`` events are done, or anything new reaches the inbox (it may be
        more urgent). Returns how many were dispatched. Consumer side only."""
        popleft = lane.popleft
        arrived = self._inbox.qsize
        routes = self._routes
        # LatencyRecorder.record, inlined: one Python call less per event. The counters
        # are written back when this run of the lane ends (readers see them a batch late).
        # A subclass (the monitor's histogram recorder) records more: it is called instead.
        recorder = self.latency
        record = None if recorder.__class__ is LatencyRecorder else recorder.record
        ring, mask, count, worst = recorder.ring()
        gate = self._md_gate
        tick = self._tick
        done = 0
        try:
            while True:
                item = popleft()
                event = item[2]
                cls = event.__class__
                if cls is _ConflatedSlot:
                    with self._conflate_lock:
                        event = self._conflated.pop(event.symbol)
                    cls = MarketData
                waited = perf_counter_ns() - item[1]
                if record is None:
                    ring[count & mask] = waited
                    count += 1
                    if waited > worst:
                        worst = waited
                else:
                    record(waited)
                route = routes[cls]
                route.count += 1
                tick += 1
                if tick & _TIMING_MASK:
                    for label, handler in route.handlers:
                        try:
                            handler(event)
                        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the guard
                            # SystemExit too: a strategy calling sys.exit() must not
                            # silently end the dispatcher thread while the engine reports
                            # itself running.
                            self.report_handler_failure(label, event, exc)
                else:
                    self._dispatch_timed(route.handlers, event)
                if gate is not None and item[0] == _MD:
                    gate.release()
                done += 1
                if done == limit or arrived() or not lane:
                    return done
        finally:
            self._tick = tick
            if record is None:
                recorder.count, recorder.max_ns = count, worst

    def _dispatch_timed(self, handlers: tuple[tuple[str, Handler], ...], event: Any) -> None:
        """The same as the handler loop above, timing each handler (one event in 64:
        handler durations for monitoring without a clock read per handler per event)."""
        timings = self._handler_ns
        for label, handler in handlers:
            started = perf_counter_ns()
            try:
                handler(event)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - the guard is the point
                self.report_handler_failure(label, event, exc)
            took = perf_counter_ns() - started
            count, total, worst = timings.get(label, (0, 0, 0))
            timings[label] = (count + 1, total + took, max(worst, took))

    def handler_timings(self) -> dict[str, tuple[int, float, float]]:
        """Sampled handler durations: label -> (samples, total seconds, max seconds).
        One event in 64 is timed; read from any thread (a copy)."""
        return {label: (count, total / 1e9, worst / 1e9)
                for label, (count, total, worst) in list(self._handler_ns.items())}

    def use_unbounded(self) -> None:
        """Switch to the ``"unbounded"`` policy (drive mode); only before any event."""
        if self._thread is not None or self.queue_depth:
            raise EngineStateError("the market-data policy can only change while idle")
        self._policy = "unbounded"
        self._conflate_depth = _FOREVER
        self._md_gate = None

    def report_handler_failure(self, label: str, event: Event, exc: BaseException) -> None:
        """Log, count and publish a SystemErrorEvent for a handler that raised."""
        self.handler_errors += 1
        _log.error(
            "handler_failed",
            handler=label,
            event_type=type(event).__name__,
            symbol=getattr(event, "symbol", None),
            client_order_id=getattr(event, "client_order_id", None),
            error=f"{type(exc).__name__}: {exc}",
            exc_info=exc,
        )
        if isinstance(event, SystemErrorEvent):
            return  # reporting a failure to handle a failure would loop forever
        self.publish(
            trusted(
                SystemErrorEvent,
                error_type=type(exc).__name__,
                message=str(exc),
                severity=Severity.ERROR,
                source=label,
                timestamp=self._now(),
                context={"event_type": type(event).__name__},
            )
        )

    def run_pending(self, max_events: int | None = None) -> int:
        """Process queued events in the caller's thread until the queue is empty.

        For the synchronous drive mode: no background thread is involved. Returns the number
        of events processed. Must not be called while the dispatcher thread is running.
        """
        if self._thread is not None:
            raise EngineStateError("run_pending() while the dispatcher thread is running")
        arrived = self._inbox.qsize
        scan = self._scan
        done = 0
        while max_events is None or done < max_events:
            if arrived():
                self._take_arrivals()
            for lane in scan:
                if lane:
                    break
            else:
                break
            if lane[0][2] is _STOP:
                lane.popleft()  # a stop sentinel left behind means nothing here
                continue
            done += self._dispatch_lane(
                lane, _FOREVER if max_events is None else max_events - done)
        return done

    def _run(self) -> None:
        arrived = self._inbox.qsize
        get = self._inbox.get
        lanes = self._lanes
        scan = self._scan
        take_arrivals = self._take_arrivals
        dispatch_lane = self._dispatch_lane
        while True:
            if arrived():
                take_arrivals()
            for lane in scan:
                if lane:
                    break
            else:
                item = get()  # nothing to do: block until something arrives
                lanes[item[0]].append(item)
                continue
            if lane[0][2] is _STOP:
                lane.popleft()
                return
            dispatch_lane(lane, _FOREVER)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the dispatcher thread. Returns at once."""
        if self._thread is not None:
            raise EngineStateError("dispatcher already started")
        self._thread = threading.Thread(target=self._run, name="livetrade-dispatcher", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def native_thread_id(self) -> int | None:
        """The OS id of the dispatcher thread while it runs (for per-thread CPU figures and
        ``top -H``), else None."""
        thread = self._thread
        return thread.native_id if thread is not None and thread.is_alive() else None

    def stop(self, *, drain: bool = True, timeout_s: float = 10.0) -> list[Event]:
        """Stop the dispatcher thread and return the events it did not deliver.

        With ``drain=True`` everything queued before this call is dispatched first (stop
        the producers before calling this, or the queue may never empty). Events that
        arrive after the drain finished (a broker thread answering late) stay queued: the
        caller, now the only consumer, handles them with :meth:`run_pending` or takes them
        with :meth:`collect_undelivered`. If draining takes longer than ``timeout_s``, or
        with ``drain=False``, the dispatcher stops at the next event and everything still
        queued is logged by type and returned, so the caller can persist or report it.
        A dispatcher that never started returns its whole queue. This method blocks.
        """
        thread = self._thread
        if thread is None:
            return self.collect_undelivered()
        if not thread.is_alive():  # it ended already (an earlier forced stop): nothing drains
            self._thread = None
            return self.collect_undelivered()
        if drain:
            self._inbox.put((_DRAIN_LANE, perf_counter_ns(), _STOP))
            thread.join(timeout_s)
            if not thread.is_alive():
                self._thread = None
                return []
        if thread.is_alive():
            self._inbox.put((_URGENT_LANE, perf_counter_ns(), _STOP))
            thread.join(timeout_s)
        if thread.is_alive():
            raise EngineStateError("dispatcher did not stop; a handler is blocked",
                                   timeout_s=timeout_s)
        self._thread = None
        return self.collect_undelivered()

    def collect_undelivered(self) -> list[Event]:
        """Take every queued event without dispatching it; log the counts by type."""
        left: list[Event] = []
        self._take_arrivals()
        for lane in self._scan:
            while lane:
                item = lane.popleft()
                event = item[2]
                if event is _STOP:
                    continue
                if event.__class__ is _ConflatedSlot:
                    with self._conflate_lock:
                        event = self._conflated.pop(event.symbol)
                left.append(event)
                if self._md_gate is not None and item[0] == _MD:
                    self._md_gate.release()
        if left:
            counts: dict[str, int] = {}
            for event in left:
                counts[type(event).__name__] = counts.get(type(event).__name__, 0) + 1
            _log.warning("undelivered_events_at_stop", count=len(left), by_type=counts)
        self._undelivered.extend(left)
        return left

    # ------------------------------------------------------------------ observing
    @property
    def queue_depth(self) -> int:
        """Events waiting (inbox plus lanes, stop sentinels included). Read without a lock
        from any thread: an estimate while producers and the consumer run."""
        return self._inbox.qsize() + sum(map(len, self._lanes))

    def stats(self) -> DispatcherStats:
        by_type = {cls.__name__: route.count for cls, route in list(self._routes.items())
                   if route.count}
        return DispatcherStats(
            dispatched=self.latency.count,
            queue_depth=self.queue_depth,
            handler_errors=self.handler_errors,
            conflated=self.conflated,
            by_type=by_type,
        )


def _check_priority(priority: int) -> None:
    """Refuse an event class whose priority has no lane (a programming error)."""
    if not (isinstance(priority, int) and 0 <= priority <= _MD):
        raise ValueError(f"event priority must be an int in 0..{_MD}, not {priority!r}")
