"""What is due: a job's cursor and the missed-trigger policy, as clock-free functions.

Why it exists apart from the scheduler: deciding *which* instances of a job fire at a given
``now`` (and which are skipped as too late) is the part of scheduling that carries the
policy promises ("never twice", "a stall never causes a burst", "first start fires nothing
from before it"), and it can be read and tested with a :class:`Job`, a time and nothing
else. :class:`~livetrade.scheduling.scheduler.TradingScheduler` owns the clock, the job
table, the locks and the publishing; it calls these under its lock, passing ``now`` and
the time of its first look. The policies themselves are described in the scheduler's module
docstring ("Missed triggers and never twice", "First start").

These functions mutate the :class:`Job` they are given (cursor, cached next instance, skip
counters), so the caller must hold the lock that guards it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from livetrade.scheduling.jobs import Job
from livetrade.scheduling.rules import Instance, Rule

# The scheduler's logger name, so log events keep their source after the split.
_log = structlog.get_logger("livetrade.scheduler")
_US = timedelta(microseconds=1)


def cursor_of(job: Job, now: datetime, first_now: datetime | None) -> datetime:
    """Where ``job`` resumes: its cursor, else its last fired instance in the store,
    else just before its start (see "First start" in the scheduler's module docstring).

    ``first_now`` is the clock's time at the scheduler's first look (``None``: not yet).
    """
    if job.cursor is not None:
        return job.cursor
    if job.stored is not None:
        return job.stored
    return max(job.added_at, first_now or now) - _US


def next_at(job: Job, now: datetime, first_now: datetime | None) -> datetime | None:
    """The first instance after ``job``'s cursor (cached once the cursor is set: it
    only moves forward, and only :func:`due_instances` moves it, resetting the cache)."""
    if job.next_at is not None:
        return job.next_at
    upcoming = job.rule.first_after(cursor_of(job, now, first_now))
    found = None if upcoming is None else upcoming.time
    if job.cursor is not None:
        job.next_at = found
    return found


def due_instances(job: Job, now: datetime, first_now: datetime | None) -> list[Instance]:
    """The instances of ``job`` to fire at ``now``; advances its cursor past the rest."""
    cursor = job.cursor = cursor_of(job, now, first_now)
    upcoming = next_at(job, now, first_now)
    if upcoming is None or now < upcoming:
        return []  # the common case: one comparison per job and poll
    rule = job.rule
    latest = rule.last_at_or_before(now)
    if latest is None or latest.time <= cursor:
        job.next_at = None  # cannot happen with a consistent cache; recompute anyway
        return []
    oldest_in_grace = now - job.grace
    fire: list[Instance] = []
    if job.missed == "fire_once_late":
        if latest.time >= oldest_in_grace:
            fire.append(latest)
        skipped = rule.count_between(cursor, latest.time) + (0 if fire else 1)
        last_skipped = None if skipped == 0 else (
            latest.time if not fire else _last_before(rule, latest.time))
    else:
        instance = rule.first_after(max(cursor, oldest_in_grace - _US))
        while instance is not None and instance.time <= now:
            fire.append(instance)
            instance = rule.first_after(instance.time)
        skipped = rule.count_between(cursor, max(cursor, oldest_in_grace))
        last_skipped = _last_before(rule, oldest_in_grace) if skipped else None
    job.cursor = latest.time
    job.next_at = None
    if skipped:
        job.skipped += skipped
        job.last_skipped = last_skipped
        _log.warning("schedule_instances_skipped", job=job.name, count=skipped,
                     latest_skipped=None if last_skipped is None else
                     last_skipped.isoformat(), now=now.isoformat(), policy=job.missed,
                     grace_s=job.grace.total_seconds())
    return fire


def _last_before(rule: Rule, when: datetime) -> datetime | None:
    found = rule.last_at_or_before(when - _US)
    return None if found is None else found.time
