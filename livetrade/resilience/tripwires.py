"""Kill-switch tripwires: conditions under which trading stops by itself.

Why here and not in risk checks: pre-trade risk looks at one order; these look at a
pattern over time — a venue rejecting order after order (a bug, a ban, a margin call in
the making) or equity sliding past a drawdown limit. Both are judged on the dispatcher
thread from events it already handles, so they cost nothing when not configured.
A reconciliation mismatch under the ``halt`` policy trips the switch in
:mod:`livetrade.state.corrections`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal

import structlog

from livetrade.clock import Clock
from livetrade.events import MarketData, OrderReject

_log = structlog.get_logger("livetrade.resilience")


class TripWires:
    """Engages the kill switch (through ``kill``) once a configured limit is passed."""

    def __init__(self, *, kill: Callable[[str], object], clock: Clock,
                 equity: Callable[[], Decimal], max_rejects: int | None = None,
                 reject_window_s: float = 300.0, max_drawdown: Decimal | None = None,
                 engaged: Callable[[], bool] | None = None) -> None:
        self._kill = kill
        self._engaged = engaged
        self._clock = clock
        self._equity = equity
        self._max_rejects = max_rejects
        self._window_s = reject_window_s
        self._max_drawdown = max_drawdown
        self._rejects: deque[float] = deque()
        self._peak: Decimal | None = None
        self.tripped: str | None = None

    def _rearm_if_released(self) -> None:
        """After an operator released the switch, watch afresh (old rejects, old peak)."""
        if self.tripped is not None and self._engaged is not None and not self._engaged():
            self.tripped = None
            self._rejects.clear()
            self._peak = None

    def _trip(self, reason: str) -> None:
        if self.tripped is None:
            self.tripped = reason
            _log.error("tripwire", reason=reason)
            self._kill(reason)

    def on_reject(self, event: OrderReject) -> None:
        self._rearm_if_released()
        if self._max_rejects is None or self.tripped is not None:
            return
        now = self._clock.now().timestamp()
        self._rejects.append(now)
        while self._rejects and self._rejects[0] < now - self._window_s:
            self._rejects.popleft()
        if len(self._rejects) >= self._max_rejects:
            self._trip(f"{len(self._rejects)} order rejects within {self._window_s:g} s "
                       f"(limit {self._max_rejects}); last: {event.reason}")

    def on_market_data(self, event: MarketData) -> None:
        self._rearm_if_released()
        if self._max_drawdown is None or self.tripped is not None:
            return
        equity = self._equity()
        if self._peak is None or equity > self._peak:
            self._peak = equity
            return
        if self._peak > 0 and equity <= self._peak * (1 - self._max_drawdown):
            drawdown = (self._peak - equity) / self._peak
            self._trip(f"equity {equity} is {drawdown:.2%} below its peak {self._peak} "
                       f"(max_drawdown {self._max_drawdown:.2%})")
