"""The cyclic garbage collector, set for an event engine while one runs.

Why: CPython's default thresholds (700, 10, 10) assume short-lived scripts. In an engine every
event is a few GC-tracked objects that live until the dispatcher handles them, so whenever the
queue backs up (a burst, a pause on a shared machine) the queued events survive young
collections, are promoted, and set off full collections that walk every object the process
has: the modules, the venue libraries, the restored book. Measured at 100k ticks/s offered with
a backlog (``python -m benchmarks --only latency`` conditions): 1.3 s of every 3 s in the
collector, 80-100 ms full collections, so the backlog grows instead of draining.

What :class:`GcTuning` does while at least one engine runs (reference-counted, so engines
started and stopped in any order in one process restore the settings once, when the last
stops):

* ``gc.freeze()`` at start: everything alive then (imports, configuration, the recovered
  state) moves to the permanent generation and is never walked again. It is handed back
  (``gc.unfreeze()``) when the last engine stops, so nothing stays exempt after that.
* young-generation threshold 10,000 allocations instead of 700 (the older generations keep
  their ratios): a backlog of events is walked a few times, not hundreds.

Reference cycles are still collected (the collector stays enabled); a young collection walks
at most ~10,000 objects (a few ms, against ~0.2 ms at the default, and far rarer). Opt out with
``EngineSettings(gc_tuning=False)`` / ``[engine] gc_tuning = false``: the process's own
settings are then left alone.
"""

from __future__ import annotations

import gc

from livetrade.held_setting import HeldWhileEnginesRun

YOUNG_THRESHOLD = 10_000


class GcTuning(HeldWhileEnginesRun):
    """Process-wide collector settings shared by every engine in the process (see the module
    docstring for why). ``acquire`` at engine start, ``release`` at stop."""

    _saved: tuple[int, int, int] | None = None

    @classmethod
    def acquire(cls) -> None:
        with cls._lock:
            cls._holders += 1
            if cls._holders > 1:
                return
            saved = gc.get_threshold()
            cls._saved = (saved[0], saved[1], saved[2])
            gc.freeze()
            gc.set_threshold(max(YOUNG_THRESHOLD, saved[0]), saved[1], saved[2])

    @classmethod
    def _hand_back(cls) -> None:
        if cls._saved is None:
            return
        gc.set_threshold(*cls._saved)
        cls._saved = None
        gc.unfreeze()
