"""The process-wide settings one engine holds while it runs, and hands back exactly once.

Why its own object: an engine takes the collector setting (:mod:`livetrade.gc_tuning`) when
it starts in either mode and the GIL switch interval (:mod:`livetrade.switch_interval`)
only when its threads run, and it must give back exactly what it took on every way out of a
run: a clean stop, a stop stage that raised, a start that failed. Holding the two flags
here keeps "took it / gave it back" in one place instead of spread over the lifecycle.
"""

from __future__ import annotations

from livetrade.gc_tuning import GcTuning
from livetrade.switch_interval import SwitchInterval


class ProcessTuning:
    """What one engine took of the process's settings (see the module docstring).
    ``release`` is idempotent; a setting asked for twice is taken once."""

    def __init__(self, *, gc_tuning: bool, switch_interval_s: float) -> None:
        self._gc_wanted = gc_tuning
        self._interval_s = switch_interval_s
        self.gc_held = False
        self.switching_held = False

    def hold_gc(self) -> None:
        """The collector set for an event engine while this one runs (``gc_tuning.py``)."""
        if self._gc_wanted and not self.gc_held:
            GcTuning.acquire()
            self.gc_held = True

    def hold_switching(self) -> None:
        """The GIL handed over more often while this engine's threads run, so urgent events
        wait less behind busy feed threads (``switch_interval.py``); threaded mode only."""
        if self._interval_s > 0 and not self.switching_held:
            SwitchInterval.acquire(self._interval_s)
            self.switching_held = True

    def release(self) -> None:
        """Hand back whatever :meth:`hold_gc` and :meth:`hold_switching` took."""
        if self.switching_held:
            self.switching_held = False
            SwitchInterval.release()
        if self.gc_held:
            self.gc_held = False
            GcTuning.release()
