"""TradingScheduler: market open/close, interval and wall-clock triggers, as events.

A strategy asks for "5 minutes before the NYSE close on every trading day", "every 15
minutes while the market is open" or "at 00:00 UTC"; the scheduler publishes one
:class:`~livetrade.events.ScheduledTrigger` per scheduled instance into the engine's queue
and the strategy receives it in ``on_schedule``, on the dispatcher thread. The scheduler
never runs strategy code itself::

    clock = ManualClock(datetime(2024, 3, 11, 13, 0, tzinfo=UTC))
    sink: list[Event] = []
    scheduler = TradingScheduler(clock, sink.append)
    scheduler.market_open(name="open")           # 09:30 New York, whatever the UTC offset
    scheduler.run_pending()                      # 0: nothing due yet
    clock.advance_to(datetime(2024, 3, 11, 13, 30, tzinfo=UTC))
    scheduler.run_pending()                      # 1: sink[0].scheduled_time is 13:30Z (EDT)

How time flows
--------------
Every due time is computed by :meth:`TradingScheduler.run_pending` from the injected
:class:`~livetrade.clock.Clock`: the wall clock live, a ``ManualClock`` in tests, and in replay
a ``ManualClock`` the engine advances to each bar's timestamp before calling
``run_pending()`` itself from the dispatcher (no scheduler thread at all), so triggers land
at the right point of the data stream and a year of triggers runs in milliseconds.

In live mode :meth:`TradingScheduler.start` runs a thread on which the ``schedule`` library
provides a heartbeat (one job, every ``poll_interval_s`` of wall time, that calls
``run_pending()``). ``schedule`` only decides *when to look*; the calendars and the injected
clock decide *what is due*, and the missed-trigger policy below decides what a late look
does. Why ``schedule`` is kept to that role (it reads the wall clock itself, does not run
missed jobs, drifts after a stall...) is written down in :mod:`.heartbeat`.

Missed triggers and "never twice"
---------------------------------
Each job remembers the last instance it handled; ``run_pending()`` considers every instance
after it and at or before now. Lateness is ``now - scheduled`` (``grace_s`` is the
tolerance and must cover the poll interval):

* ``skip``: each due instance at most ``grace_s`` late fires; older ones are skipped,
  logged and counted.
* ``fire_once_late`` (default): only the most recent due instance may fire, once, if it is
  at most ``grace_s`` late; every older one is skipped and counted (a stall never causes a
  burst of stale triggers).

An instance fires at most once: the job's cursor moves past it whether it fired or was
skipped, and its scheduled time is written to the :class:`FiredStore` **before** the
trigger is published. That order makes delivery *at-most-once*: a crash between the write
and the publish loses that trigger, where the opposite order (at-least-once) could fire it
again after a restart. For trading triggers (place the opening order, flatten before the
close) a duplicate is worse than a miss, and the miss is visible (logs, ``stats()``).
Delivery inside the process is also at-most-once: the dispatcher's queue is in memory.
The policy itself (cursor, due and skipped instances) is :mod:`.due`, clock-free.

First start: a job with no fired history starts at the later of the clock's time when it is
added and the clock's time at the scheduler's first ``run_pending()``. Instances before
that never fire, under either policy: a scheduler without history cannot tell "missed" from
"already fired by a process whose store was lost". Waiting for the first look means that a
replay whose ``ManualClock`` is still at its initial value when the strategy adds jobs in
``on_start`` does not treat every session since 1970 as missed. An instance exactly at
the start fires. A job whose name the store knows resumes after its last fired instance
instead (restart, or cancel and re-add), and the missed-trigger policy applies to the gap.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from livetrade.clock import Clock, ManualClock
from livetrade.errors import ConfigError, EngineStateError
from livetrade.events import Event, ScheduledTrigger, Severity, SystemErrorEvent, trusted
from livetrade.scheduling.calendars import (
    CalendarRegistry,
    TradingCalendar,
    as_utc,
    canonical_calendar_name,
    default_calendars,
)
from livetrade.scheduling.due import due_instances, next_at
from livetrade.scheduling.heartbeat import ScheduleHeartbeat
from livetrade.scheduling.jobs import (
    DuplicateJobError,
    During,
    Job,
    JobInfo,
    JobStats,
    MissedPolicy,
    TriggerType,
)
from livetrade.scheduling.rules import Instance, Rule
from livetrade.scheduling.specs import (
    check_job_options,
    daily_at_spec,
    interval_spec,
    session_edge_spec,
)
from livetrade.scheduling.store import FiredStore, InMemoryFiredStore

_log = structlog.get_logger("livetrade.scheduler")


class TradingScheduler:
    """Turns calendar-aware job specs into ``ScheduledTrigger`` events, each at most once.

    Why it exists apart from the engine: it only needs a clock and a publish function, so
    the same object runs on its own thread live (:meth:`start`) and is stepped by the engine
    in replay (:meth:`run_pending`), and tests drive it with a ``ManualClock`` and a list.

    Threading: job methods (``market_open``... ``cancel``, ``jobs``, ``stats``) may be called
    from any thread, including from strategy callbacks while the scheduler thread runs.
    ``publish`` is called without any scheduler lock held except the one serialising
    ``run_pending`` passes (so triggers are published in scheduled-time order); it must be
    thread-safe and should not block (``Dispatcher.publish`` qualifies).

    ``store`` defaults to memory, which protects nothing across a restart: live, pass a
    :class:`~livetrade.scheduling.store.DiskcacheFiredStore`. ``calendars`` defaults to the
    process-wide registry, so exchange calendars are loaded once per process.
    """

    def __init__(
        self,
        clock: Clock,
        publish: Callable[[Event], None],
        *,
        store: FiredStore | None = None,
        poll_interval_s: float = 1.0,
        default_calendar: str = "NYSE",
        calendars: CalendarRegistry | None = None,
    ) -> None:
        if not (poll_interval_s > 0 and math.isfinite(poll_interval_s)):
            raise ConfigError(f"poll_interval_s must be > 0, got {poll_interval_s}")
        self._clock = clock
        self._publish = publish
        self._store: FiredStore = store if store is not None else InMemoryFiredStore()
        self.poll_interval_s = poll_interval_s
        self.default_calendar = canonical_calendar_name(default_calendar)
        self._calendars = calendars or default_calendars()
        self._lock = threading.Lock()  # the job table and the counters
        self._run_lock = threading.RLock()  # one run_pending pass at a time (re-entrant)
        self._jobs: dict[str, Job] = {}
        self._seq = 0
        self._first_now: datetime | None = None
        self.errors = 0
        self._heartbeat: ScheduleHeartbeat | None = None

    # ------------------------------------------------------------------ job API
    def market_open(self, offset: timedelta = timedelta(0), *, name: str | None = None,
                    calendar: str | None = None, missed: MissedPolicy = "fire_once_late",
                    grace_s: float = 60.0) -> str:
        """Fire ``offset`` after every session open (negative: before it). Returns the name."""
        default, rule = session_edge_spec("market_open", "open", offset=offset,
                                          calendar=calendar, lookup=self._calendar)
        return self._add(name, default, "market_open", rule, missed=missed, grace_s=grace_s)

    def market_close(self, offset: timedelta = timedelta(0), *, name: str | None = None,
                     calendar: str | None = None, missed: MissedPolicy = "fire_once_late",
                     grace_s: float = 60.0) -> str:
        """Fire ``offset`` after every session close (negative: before it), early closes
        included: ``offset=-5min`` on 2024-11-29 NYSE fires 12:55 New York. Returns the name."""
        default, rule = session_edge_spec("market_close", "close", offset=offset,
                                          calendar=calendar, lookup=self._calendar)
        return self._add(name, default, "market_close", rule, missed=missed, grace_s=grace_s)

    def every(self, interval: timedelta, *, during: During = "session",
              calendar: str | None = None, name: str | None = None,
              missed: MissedPolicy = "fire_once_late", grace_s: float = 60.0) -> str:
        """Fire every ``interval``. ``during="session"``: at the open and every interval
        after it while the market is open (not at the close). ``"always"``: at UTC-epoch
        multiples of the interval (every hour on the hour), whatever the market; a
        ``calendar`` then only labels instances that fall in a session. Returns the name."""
        default, rule = interval_spec(interval, during=during, calendar=calendar,
                                      lookup=self._calendar)
        return self._add(name, default, "every", rule, missed=missed, grace_s=grace_s)

    def at(self, time_of_day: str, tz: str = "UTC", *, name: str | None = None,
           trading_days_only: bool = False, calendar: str | None = None,
           missed: MissedPolicy = "fire_once_late", grace_s: float = 60.0) -> str:
        """Fire at ``"HH:MM"`` (or ``"HH:MM:SS"``) wall time in ``tz`` every day, or only on
        the trading days of ``calendar`` (default: the scheduler's) if
        ``trading_days_only``. Returns the name."""
        default, rule = daily_at_spec(time_of_day, tz, trading_days_only=trading_days_only,
                                      calendar=calendar, lookup=self._calendar)
        return self._add(name, default, "at", rule, missed=missed, grace_s=grace_s)

    def cancel(self, name: str) -> bool:
        """Remove the job ``name``; ``False`` if there was none. Its store entry is kept,
        so re-adding the same name never re-fires an instance it already fired."""
        with self._lock:
            return self._jobs.pop(name, None) is not None

    def jobs(self) -> list[JobInfo]:
        """Every job, in the order added, with its next instance not yet handled."""
        with self._lock:
            now = as_utc(self._clock.now())
            first_now = self._first_now
            return [job.info(next_at(job, now, first_now)) for job in self._jobs.values()]

    def next_due(self) -> datetime | None:
        """The earliest instance not yet handled over all jobs (``None``: none known).

        A replay, or a test, can advance its ``ManualClock`` straight there instead of
        stepping through time in which nothing is due.
        """
        with self._lock:
            now = as_utc(self._clock.now())
            first_now = self._first_now
            upcoming = [t for job in self._jobs.values()
                        if (t := next_at(job, now, first_now)) is not None]
        return min(upcoming, default=None)

    def stats(self) -> dict[str, JobStats]:
        """Fired/skipped counts and lateness per job, for monitoring."""
        with self._lock:
            return {job.name: job.stats() for job in self._jobs.values()}

    def run_through(self, clock: ManualClock, until: datetime) -> int:
        """Replay helper: step ``clock`` (the scheduler's own) to each due instant up to
        ``until``, running a pass at each, and end at ``until``; return triggers published.

        Calling ``run_pending()`` once per bar notices a trigger that falls between two bars
        only at the next bar, late by up to a bar interval (and skipped if that exceeds
        ``grace_s``); this fires it at its exact scheduled time instead. If the scheduler
        has never looked at the clock, its first look is at ``until`` (a replay starts at
        its first bar, not at the ``ManualClock``'s initial value).
        """
        if clock is not self._clock:
            raise ValueError("run_through() must be given the scheduler's own clock")
        until = as_utc(until)
        if self._first_now is None:
            clock.advance_to(until)
            return self.run_pending()
        fired = 0
        last: datetime | None = None
        while (due := self.next_due()) is not None and due <= until:
            if last is not None and due <= last:
                break  # no progress (a failing job): leave it to the final pass
            last = due
            clock.advance_to(due)
            fired += self.run_pending()
        clock.advance_to(until)
        return fired + self.run_pending()

    # ------------------------------------------------------------------ registration
    def _calendar(self, name: str | None) -> TradingCalendar:
        return self._calendars.get(name or self.default_calendar)

    def _add(self, name: str | None, default: str, trigger_type: TriggerType, rule: Rule, *,
             missed: MissedPolicy, grace_s: float) -> str:
        check_job_options(name, missed, grace_s)
        with self._lock:
            if name is None:
                name, n = default, 1
                while name in self._jobs:
                    n += 1
                    name = f"{default}#{n}"
            elif name in self._jobs:
                raise DuplicateJobError(f"a scheduled job named {name!r} already exists",
                                        problems=[f"duplicate job name {name!r}"], job=name)
            self._seq += 1
            self._jobs[name] = Job(
                name=name, trigger_type=trigger_type, rule=rule, missed=missed,
                grace=timedelta(seconds=grace_s), added_at=as_utc(self._clock.now()),
                stored=self._store.last_fired(name), seq=self._seq,
            )
        _log.info("schedule_job_added", job=name, rule=rule.describe(), missed=missed,
                  grace_s=grace_s)
        return name

    # ------------------------------------------------------------------ the core
    def run_pending(self) -> int:
        """Publish a trigger for every instance due now; return how many were published.

        Reads the injected clock once. Safe without the thread (replay, tests) and while it
        runs. A failing job is reported as a ``SystemErrorEvent`` and does not stop others.
        May block briefly: each trigger is a durable store write, and the first question to
        an exchange calendar loads it (about a second, once per process).
        """
        with self._run_lock:
            now = as_utc(self._clock.now())
            plan: list[tuple[datetime, int, Job, Instance]] = []
            failures: list[tuple[Job, Exception]] = []
            with self._lock:
                first_now = self._first_now
                if first_now is None:
                    first_now = self._first_now = now
                for job in self._jobs.values():
                    try:
                        plan.extend((i.time, job.seq, job, i)
                                    for i in due_instances(job, now, first_now))
                    except Exception as exc:  # noqa: BLE001 - one job must not stop the rest
                        failures.append((job, exc))
                    else:
                        job.failing = False
            for job, error in failures:
                if not job.failing:  # report once per failure streak, not every poll
                    job.failing = True
                    self._report(error, now, job.name)
            plan.sort(key=lambda item: (item[0], item[1]))
            return sum(self._fire(job, instance, now) for _, _, job, instance in plan)

    def _fire(self, job: Job, instance: Instance, now: datetime) -> bool:
        session = instance.session
        trigger = trusted(
            ScheduledTrigger, trigger_type=job.trigger_type, name=job.name,
            scheduled_time=instance.time, actual_time=now,
            calendar="" if session is None else session.calendar,
            session=None if session is None else session.session_date,
        )
        try:
            # Recorded before publishing: a crash in between loses the trigger rather than
            # firing it twice after a restart (at-most-once; see the module docstring).
            self._store.record_fired(job.name, instance.time)
            self._publish(trigger)
        except Exception as exc:  # noqa: BLE001 - report it; never kill the scheduler
            self._report(exc, now, job.name)
            return False
        lateness = trigger.lateness_s
        with self._lock:
            job.fired += 1
            job.last_fired = instance.time
            job.last_lateness_s = lateness
            job.max_lateness_s = max(job.max_lateness_s, lateness)
        # On-time fires are routine (an every-second job would flood the log); late ones
        # are what an operator looks for.
        log = _log.info if lateness > self.poll_interval_s else _log.debug
        log("schedule_fired", job=job.name, scheduled=instance.time.isoformat(),
            lateness_s=lateness)
        return True

    def _report(self, exc: Exception, now: datetime, job: str) -> None:
        with self._lock:
            self.errors += 1
        _log.error("schedule_job_failed", job=job, error=f"{type(exc).__name__}: {exc}",
                   exc_info=exc)
        try:
            self._publish(trusted(SystemErrorEvent, error_type=type(exc).__name__,
                                  message=str(exc), severity=Severity.ERROR,
                                  source="scheduler", timestamp=now, context={"job": job}))
        except Exception as publish_exc:  # noqa: BLE001 - nowhere left to report to
            _log.error("schedule_report_failed", error=str(publish_exc))

    # ------------------------------------------------------------------ the thread
    def start(self) -> None:
        """Start the scheduler thread (live mode); returns at once.

        The thread looks once immediately, then every ``poll_interval_s`` of wall time as
        ``schedule`` decides (see :mod:`.heartbeat`). Not for replay: the engine calls
        :meth:`run_pending` / :meth:`run_through` itself there.
        """
        if self._heartbeat is not None and self._heartbeat.running:
            raise EngineStateError("scheduler already started")
        self._heartbeat = ScheduleHeartbeat(self._beat, self.poll_interval_s)
        self._heartbeat.start()

    def stop(self) -> None:
        """Ask the scheduler thread to end; returns at once (see :meth:`join`)."""
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the scheduler thread to end; ``True`` if it has. Blocks."""
        return self._heartbeat is None or self._heartbeat.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._heartbeat is not None and self._heartbeat.running

    def _beat(self) -> None:
        try:
            self.run_pending()
        except Exception as exc:  # noqa: BLE001 - the thread must survive a bad clock/sink
            self._report(exc, datetime.now(UTC), "*")  # the injected clock may be what failed

