"""A process-wide setting that running engines hold together and the last one hands back.

Why one mechanism: the interpreter has one garbage collector and one GIL switch interval per
process, while a process may run several engines, started and stopped in any order (tests,
an application embedding two strategies). Each setting (:mod:`livetrade.gc_tuning`,
:mod:`livetrade.switch_interval`) counts the engines holding it and is put back once, when
the last one stops; only what it sets and restores differs.
"""

from __future__ import annotations

import threading
from typing import ClassVar


class HeldWhileEnginesRun:
    """Reference count of the engines holding one process-wide setting (see the module
    docstring). A subclass counts in ``acquire`` under ``_lock`` and restores the process's
    own setting in ``_hand_back``; every subclass gets a lock and a count of its own."""

    _lock: ClassVar[threading.Lock]
    _holders: ClassVar[int]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._lock = threading.Lock()
        cls._holders = 0

    @classmethod
    def _hand_back(cls) -> None:
        """Put the process's own setting back (the last holder released; under ``_lock``)."""
        raise NotImplementedError

    @classmethod
    def release(cls) -> None:
        """Undo one ``acquire``; the last one hands the setting back."""
        with cls._lock:
            if cls._holders == 0:
                return
            cls._holders -= 1
            if cls._holders == 0:
                cls._hand_back()

    @classmethod
    def active(cls) -> bool:
        with cls._lock:
            return cls._holders > 0
