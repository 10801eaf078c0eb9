"""The scheduler thread: ``schedule`` as a wall-clock heartbeat, nothing more.

``schedule`` only decides *when to look*: one job, every ``interval_s`` of wall time, calls
``beat`` (``TradingScheduler.run_pending``), which decides *what is due* from the injected
clock and the calendars. ``schedule`` is kept to that role because it surprises in ways a
trading scheduler cannot accept:

* it reads the wall clock itself (``datetime.datetime.now()``, naive local time) and offers
  no way to inject a clock, so it cannot fire in simulated time (its own tests patch the
  global ``datetime``);
* ``run_pending()`` does not run missed jobs: a job due every minute but checked once an
  hour runs once, not sixty times, and is then rescheduled from *when it ran*
  (``now + period``), not from when it was due, so due times drift after any stall;
* the next run is computed after the job returns, so a slow job delays every later run;
* an exception in a job propagates out of ``run_pending()`` and the remaining jobs of that
  pass do not run (the heartbeat catches instead);
* ``every(interval)`` is annotated ``int`` but computes ``timedelta(seconds=interval)``,
  so fractional seconds work;
* the module-level ``schedule.every()`` shares one global scheduler per process: we use a
  private ``schedule.Scheduler()`` so two engines, or two tests, never share jobs;
* a wall clock stepped backwards (NTP) leaves its naive ``next_run`` far in the future and
  the beat would stop until the wall clock caught up: the loop re-arms the job instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import schedule
import structlog

from livetrade.errors import EngineStateError

_log = structlog.get_logger("livetrade.scheduler")


class ScheduleHeartbeat:
    """Calls ``beat()`` at once and then every ``interval_s`` of wall time, on its own thread.

    Contract (the feed shape): :meth:`start` returns at once, :meth:`stop` asks the thread
    to end and returns at once (it wakes a waiting thread immediately), :meth:`join` waits.
    ``beat`` should not raise; if it does, the error is logged and the beat goes on.
    """

    def __init__(self, beat: Callable[[], None], interval_s: float, *,
                 name: str = "livetrade-scheduler") -> None:
        self._beat = beat
        self.interval_s = interval_s
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise EngineStateError(f"{self.name} already started")
        timer = schedule.Scheduler()  # never the module-global one
        self._thread = threading.Thread(target=self._run, args=(timer,), name=self.name,
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the thread to end; ``True`` if it has. Blocks."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _arm(self, timer: schedule.Scheduler) -> None:
        timer.clear()
        # schedule annotates the interval as int; it builds timedelta(seconds=interval).
        timer.every(self.interval_s).seconds.do(self._guarded)  # type: ignore[arg-type]

    def _run(self, timer: schedule.Scheduler) -> None:
        self._arm(timer)
        self._guarded()  # schedule's first run is one interval away: look at once
        while not self._stop.is_set():
            timer.run_pending()
            idle = timer.idle_seconds
            if idle is None or idle > 2 * self.interval_s:
                self._arm(timer)  # the wall clock went backwards: re-arm the beat
                idle = self.interval_s
            self._stop.wait(max(0.0, idle))

    def _guarded(self) -> None:
        try:
            self._beat()
        except Exception as exc:  # noqa: BLE001 - the beat must go on
            _log.error("heartbeat_failed", thread=self.name,
                       error=f"{type(exc).__name__}: {exc}", exc_info=exc)
