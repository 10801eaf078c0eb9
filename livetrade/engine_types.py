"""The engine's plain data: its settings, its status and what a stop reports.

Apart from the engine so that monitoring, the CLI and tests can use them without the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from livetrade.dispatcher import MarketDataPolicy
from livetrade.errors import ConfigError
from livetrade.events import Event
from livetrade.switch_interval import DEFAULT_SWITCH_INTERVAL_S, MIN_SWITCH_INTERVAL_S


@dataclass(frozen=True)
class EngineSettings:
    """Engine tuning. Field names carry their units."""

    market_data_policy: MarketDataPolicy = "conflate"
    conflate_depth: int = 10_000
    max_pending_market_data: int = 1_000
    stop_timeout_s: float = 10.0
    closed_orders_kept: int = 10_000
    initial_cash: Decimal | None = None  # default: the paper broker's, else the broker's
    reconcile_interval_s: float = 0.0  # live reconciliation with the broker; 0 = on request
    reconcile_policy: Literal["adopt_broker", "halt", "warn"] = "adopt_broker"
    reconcile_grace_s: float = 30.0
    cash_tolerance: Decimal = Decimal("0.01")
    gc_tuning: bool = True  # collector set for an event engine while running (gc_tuning.py)
    # GIL switch interval while running threaded (switch_interval.py); 0 = leave it alone
    switch_interval_s: float = DEFAULT_SWITCH_INTERVAL_S

    def __post_init__(self) -> None:
        interval = self.switch_interval_s
        if not (interval == 0 or MIN_SWITCH_INTERVAL_S <= interval <= 1):
            raise ConfigError(
                f"switch_interval_s must be 0 (leave the process's alone) or between "
                f"{MIN_SWITCH_INTERVAL_S} and 1 s, not {interval!r}",
                key="engine.switch_interval_s")


@dataclass(frozen=True)
class EngineStatus:
    """What the status line, health checks and tests read."""

    state: str
    uptime_s: float
    events_dispatched: int
    queue_depth: int
    conflated: int
    handler_errors: int
    open_orders: int
    orders_submitted: int
    orders_rejected: int
    fills: int
    cash: Decimal
    equity: Decimal
    positions: dict[str, Decimal] = field(default_factory=dict)
    latency_p99_us: float = 0.0
    mode: str = "live"  # live | shadow (broker down, orders on the shadow venue) | halted


@dataclass(frozen=True)
class StopReport:
    """What a stop left behind: events never delivered (also logged) and open orders."""

    undelivered: tuple[Event, ...]
    open_orders: int
    clean: bool
