"""CPython's GIL switch interval, shortened while a threaded engine runs.

Why: when feed threads are busy (a market data storm), the dispatcher thread gets the GIL
only when a busy thread has held it for a whole switch interval and CPython makes it let
go, and with several busy threads not always even then. A fill or a reject waiting in the
most urgent lane still waits for those turns: priority orders the queue, not the GIL.
CPython's default interval, 5 ms, is set for throughput. Measured with two flat-out
producers and fills injected at 200/s (``python -m benchmarks --only overload --quick``,
alternating runs): fill publish -> ``on_fill`` p50 6.1-10.7 ms and p99 45-60 ms at 5 ms;
3.0-3.9 / 25-27 ms at 2 ms; 1.7-2.2 / 9-15 ms at 1 ms. What it costs: more hand-offs
when threads fight over the GIL. In 8 alternating runs of flat-out producers (``--only
engine_throughput --quick``) the difference in ticks a second went from 25% fewer to 5% more,
no consistent cost on this noisy machine; paced traffic (``--only latency``) showed none in
latency or CPU per tick. Replay, which waits for nothing in wall time, opts out.

What :class:`SwitchInterval` does while at least one engine that asks for it runs
(reference-counted, like :mod:`livetrade.gc_tuning`): the process's interval becomes the
smallest any of them asked for since the first started (never larger than it was), and the
interval from before the first one is put back when the last one stops, unless something
else changed it meanwhile (then that value is the one put back). Opt out with
``EngineSettings(switch_interval_s=0)`` / ``[engine] switch_interval_s = 0``: the process's
own setting is then left alone.
"""

from __future__ import annotations

import sys

from livetrade.held_setting import HeldWhileEnginesRun

DEFAULT_SWITCH_INTERVAL_S = 0.001
MIN_SWITCH_INTERVAL_S = 1e-5  # CPython counts whole microseconds; below this is not a setting


class SwitchInterval(HeldWhileEnginesRun):
    """The process-wide switch interval shared by every engine that set it (see the module
    docstring for why). ``acquire`` at engine start, ``release`` at stop."""

    _saved: float | None = None  # the process's interval before the first engine
    _applied: float | None = None  # what the engines set, if they changed it

    @classmethod
    def acquire(cls, interval_s: float) -> None:
        if not MIN_SWITCH_INTERVAL_S <= interval_s <= 1:
            raise ValueError(f"switch interval must be {MIN_SWITCH_INTERVAL_S}..1 s, "
                             f"not {interval_s!r}")
        with cls._lock:
            current = sys.getswitchinterval()
            if cls._holders == 0 or current != cls._applied:
                # First engine, or someone else set it since: that is what to put back.
                cls._saved, cls._applied = current, None
            cls._holders += 1
            if interval_s < current:
                sys.setswitchinterval(interval_s)
                cls._applied = sys.getswitchinterval()  # as CPython stores it

    @classmethod
    def _hand_back(cls) -> None:
        # Put it back only if it is still ours: someone who changed it meanwhile (a test
        # provoking thread switches, an embedding application) keeps theirs.
        if cls._saved is not None and cls._applied == sys.getswitchinterval():
            sys.setswitchinterval(cls._saved)
        cls._saved = cls._applied = None
