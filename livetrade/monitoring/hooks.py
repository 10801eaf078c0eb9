"""Monitoring hooks: user callbacks, run on their own thread behind a bounded queue.

Why a queue and a thread: a hook may post to Slack or write to a database; that must never
delay the dispatcher. :meth:`HookRunner.emit` never blocks: when the queue is full the
monitoring event is dropped and counted (the trading event it describes was handled
already — only the notification is lost). A hook that raises is logged and counted, and
the next one still runs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import structlog

_log = structlog.get_logger("livetrade.monitoring")

HookName = Literal[
    "on_order_submitted", "on_order_filled", "on_order_rejected", "on_error",
    "on_state_checkpoint", "on_breaker_state_change", "on_reconciliation", "on_mode_change",
    "on_alert",
]
HOOK_NAMES: tuple[HookName, ...] = (
    "on_order_submitted", "on_order_filled", "on_order_rejected", "on_error",
    "on_state_checkpoint", "on_breaker_state_change", "on_reconciliation", "on_mode_change",
    "on_alert",
)


@dataclass(frozen=True)
class MonitorEvent:
    """What a hook receives: the hook's name, when, and plain (JSON-able) details."""

    hook: HookName
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[MonitorEvent], None]
_STOP = object()


class HookRunner:
    """Registry of hooks plus the thread that calls them. See the module docstring."""

    def __init__(self, capacity: int = 10_000, *,
                 on_dropped: Callable[[], None] | None = None,
                 on_hook_error: Callable[[str], None] | None = None) -> None:
        self._queue: queue.Queue[object] = queue.Queue(capacity)
        self._hooks: dict[str, list[Hook]] = {}
        self._on_dropped = on_dropped
        self._on_hook_error = on_hook_error
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.errors = 0
        self.delivered = 0

    def register(self, name: HookName, hook: Hook) -> None:
        """Call ``hook(event)`` for every ``name`` event, on the hook thread. Any time."""
        if name not in HOOK_NAMES:
            raise ValueError(f"unknown hook {name!r}; known: {', '.join(HOOK_NAMES)}")
        self._hooks[name] = [*self._hooks.get(name, []), hook]

    def wants(self, name: HookName) -> bool:
        return name in self._hooks

    def emit(self, event: MonitorEvent) -> None:
        """Queue ``event`` for its hooks. Never blocks; drops (and counts) when full."""
        if event.hook not in self._hooks:
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self._on_dropped is not None:
                self._on_dropped()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="livetrade-hooks", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> int:
        """Deliver what is queued (bounded by ``timeout_s``); return what was left. Blocks."""
        thread, self._thread = self._thread, None
        if thread is None:
            return 0
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            _log.warning("hook_queue_full_at_stop", queued=self._queue.qsize())
        thread.join(timeout_s)
        left = self._queue.qsize()
        if left:
            _log.warning("hook_events_undelivered_at_stop", count=left)
        return left

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, MonitorEvent)
            for hook in self._hooks.get(item.hook, ()):
                try:
                    hook(item)
                    self.delivered += 1
                except Exception as exc:  # noqa: BLE001 - a bad hook must not stop the others
                    self.errors += 1
                    _log.error("hook_failed", hook=item.hook,
                               error=f"{type(exc).__name__}: {exc}")
                    if self._on_hook_error is not None:
                        self._on_hook_error(item.hook)
