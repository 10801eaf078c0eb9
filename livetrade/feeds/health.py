"""What every venue feed shares about its own health: counters, staleness, backoff, garbage.

A venue feed (websocket or polling) is only as useful as the operator's knowledge of whether
it is alive. :class:`FeedHealthTracker` keeps one thread-safe record per feed (connected,
last message age, reconnects, stale, counters), decides the stale/fresh transitions and
rate-limits the log lines about bad frames, so a venue spraying garbage cannot flood the
logs. :class:`Backoff` is the reconnect/poll-retry delay policy.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from livetrade.clock import Clock
from livetrade.events import Severity, SystemErrorEvent, trusted

_log = structlog.get_logger("livetrade.feeds.health")


@dataclass(frozen=True)
class FeedHealth:
    """A snapshot of one feed's health, safe to hand to any thread.

    ``last_message_age_s`` is ``None`` until the first message; ``stale`` is true between a
    staleness alert and the next good message; ``counters`` holds ``messages``, ``events``,
    ``garbage`` (all bad frames), ``garbage.<reason>`` per reason, ``resyncs``,
    ``resync_failures``, ``stale_episodes`` and whatever else the feed counts.
    """

    connected: bool
    stale: bool
    last_message_age_s: float | None
    reconnects: int
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.connected and not self.stale


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff: ``initial_s * factor**attempt``, at most ``max_s``.

    ``jitter`` spreads each delay by up to that fraction downwards, so many clients dropped
    together by a venue do not reconnect in lockstep. Attempt numbers start at 0.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        if self.jitter <= 0:
            return base
        spread = (rng or random).random() * self.jitter
        return base * (1.0 - spread)


class FeedHealthTracker:
    """Thread-safe health record of one feed. Monotonic time only (wall clocks jump).

    The feed thread calls :meth:`message`, :meth:`garbage`, :meth:`connected`...; a watchdog
    calls :meth:`check_stale`, which returns ``True`` exactly once per stale episode; the
    :meth:`message` call that ends an episode returns ``True`` so the feed can announce
    that data is fresh again.
    """

    def __init__(self, name: str, stale_after_s: float, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 log_interval_s: float = 5.0) -> None:
        self.name = name
        self.stale_after_s = stale_after_s
        self._monotonic = monotonic
        self._log_interval_s = log_interval_s
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._connected = False
        self._stale = False
        self._reconnects = 0
        self._last_message: float | None = None
        self._since = monotonic()  # start of the current silence (connect attempt or message)
        self._last_log: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    # -- called by the feed thread ----------------------------------------------------------
    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def set_connected(self, connected: bool) -> None:
        with self._lock:
            self._connected = connected

    def reconnected(self) -> None:
        with self._lock:
            self._reconnects += 1

    def message(self, events: int = 0) -> bool:
        """A good message carrying ``events`` events arrived. ``True`` if it ends a stale
        episode. (One lock round for both counters: this is the per-frame hot path.)"""
        now = self._monotonic()
        with self._lock:
            self._counters["messages"] += 1
            if events:
                self._counters["events"] += events
            self._last_message = self._since = now
            was_stale, self._stale = self._stale, False
        return was_stale

    def garbage(self, reason: str, detail: str) -> None:
        """Count a bad frame and log it, at most once per reason per ``log_interval_s``."""
        now = self._monotonic()
        with self._lock:
            self._counters["garbage"] += 1
            self._counters[f"garbage.{reason}"] += 1
            last = self._last_log.get(reason)
            if last is not None and now - last < self._log_interval_s:
                self._suppressed[reason] += 1
                return
            self._last_log[reason] = now
            suppressed = self._suppressed.pop(reason, 0)
        _log.warning("feed_bad_frame", feed=self.name, reason=reason, detail=detail[:200],
                     suppressed_since_last_log=suppressed)

    # -- called by the watchdog -------------------------------------------------------------
    def check_stale(self) -> float | None:
        """The silence in seconds if it just became stale (once per episode), else ``None``."""
        now = self._monotonic()
        with self._lock:
            silence = now - self._since
            if self._stale or silence < self.stale_after_s:
                return None
            self._stale = True
            self._counters["stale_episodes"] += 1
            return silence

    # -- any thread -------------------------------------------------------------------------
    def snapshot(self) -> FeedHealth:
        now = self._monotonic()
        with self._lock:
            age = None if self._last_message is None else now - self._last_message
            return FeedHealth(connected=self._connected, stale=self._stale,
                              last_message_age_s=age, reconnects=self._reconnects,
                              counters=dict(self._counters))


class StaleWatchdog:
    """A small thread that asks the tracker about staleness every quarter of a second (or
    ``stale_after_s / 4`` if shorter) and calls ``on_stale(silence_s)`` once per episode."""

    def __init__(self, tracker: FeedHealthTracker, on_stale: Callable[[float], None]) -> None:
        self._tracker = tracker
        self._on_stale = on_stale
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"livetrade-feed-{tracker.name}-watchdog")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """End the thread and wait for it. Blocks (at most one check)."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        interval = min(0.25, self._tracker.stale_after_s / 4)
        while not self._done.wait(interval):
            silence = self._tracker.check_stale()
            if silence is not None:
                self._on_stale(silence)


def stale_event(feed: str, silence_s: float, connected: bool, clock: Clock) -> SystemErrorEvent:
    """The one warning a stale episode produces (engine lane: it jumps the data queue)."""
    _log.warning("feed_stale", feed=feed, silence_s=round(silence_s, 3), connected=connected)
    return trusted(SystemErrorEvent, error_type="FeedStale", severity=Severity.WARNING,
                   source=f"feed:{feed}", timestamp=clock.now(),
                   message=f"no market data for {silence_s:.1f}s",
                   context={"silence_s": f"{silence_s:.3f}", "connected": str(connected)})


def recovered_event(feed: str, clock: Clock) -> SystemErrorEvent:
    """Said once when data flows again after a stale episode or a failure streak."""
    _log.info("feed_recovered", feed=feed)
    return trusted(SystemErrorEvent, error_type="FeedRecovered", severity=Severity.INFO,
                   source=f"feed:{feed}", message="market data flowing again",
                   timestamp=clock.now())
